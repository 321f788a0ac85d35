//! Secured links: the SASL exchange as pure functions (both sides, every verdict), and
//! transports in one executor with mutual TLS or SASL, where a process that is not a member
//! (a certificate from another CA, a wrong password, plain frames) gets nothing delivered.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::channels::local_channel::LocalReceiver;
use glommio::net::TcpStream;
use ringkeeper_replication::wire::{self, Hello, OutFrame, FRAME_BYTES_LIMIT, PROTOCOL_VERSION};
use ringkeeper_replication::{Entry, Message};

use super::auth::*;
use super::tests::{free_addrs, recv, run, settings, wait_for};
use super::*;
use crate::net::tls::mutual::MutualTls;
use crate::net::tls::store::{StoreSpec, StoreType};
use crate::net::tls::{ClientAuth, TlsOptions, TlsVersion};
use crate::sasl::SaslServerConfig;

fn sasl(password: &str, learner_require: bool, server_require: bool) -> PeerSasl {
    let users = [("member".to_owned(), "s3cret".to_owned())].into();
    PeerSasl {
        learner_require,
        server_require,
        learner: ("member".to_owned(), password.to_owned()),
        server: SaslServerConfig::new("test".into(), users, None),
    }
}

/// Runs the whole exchange between a learner and a server; returns how each side ended.
fn exchange(
    learner: &PeerSasl,
    server: Option<PeerSasl>,
) -> (Result<LearnerStep, String>, ServerStep) {
    let mut l = LearnerExchange::new(learner, "cnonce".into());
    let mut s = ServerExchange::new(server.map(Arc::new), "nonce".into());
    let mut msg = l.start();
    loop {
        let step = s.on_message(msg);
        let reply = match &step {
            ServerStep::Reply(m) => m.clone(),
            ServerStep::Done { reply, .. } => reply.clone(),
            ServerStep::Close { reply: Some(r), .. } => r.clone(),
            ServerStep::Close { reply: None, .. } => return (Err("closed".into()), step),
        };
        match l.on_reply(reply) {
            Ok(LearnerStep::Send(next)) => msg = next,
            other => return (other, step),
        }
    }
}

#[test]
fn the_right_password_authenticates_both_ways() {
    let (learner, server) = exchange(&sasl("s3cret", true, true), Some(sasl("x", true, true)));
    assert_eq!(learner, Ok(LearnerStep::Authenticated));
    assert!(
        matches!(&server, ServerStep::Done { user: Some(u), note: None, .. } if u == "member"),
        "{server:?}"
    );
}

/// The DIGEST-MD5 names are those of Apache's quorum SASL, not the client port's.
#[test]
fn the_exchange_uses_apache_quorum_names() {
    let mut l = LearnerExchange::new(&sasl("s3cret", true, true), "c".into());
    let mut s = ServerExchange::new(Some(Arc::new(sasl("x", true, true))), "n".into());
    let ServerStep::Reply(challenge) = s.on_message(l.start()) else {
        panic!("a challenge first");
    };
    let text = String::from_utf8(challenge.token.clone()).unwrap();
    assert!(
        text.starts_with("realm=\"zk-quorum-sasl-md5\",nonce=\"n\""),
        "{text}"
    );
    let Ok(LearnerStep::Send(response)) = l.on_reply(challenge) else {
        panic!("a response");
    };
    let text = String::from_utf8(response.token).unwrap();
    assert!(
        text.contains("digest-uri=\"zookeeper-quorum/zk-quorum-sasl-md5\""),
        "{text}"
    );
}

#[test]
fn a_wrong_password_is_closed_when_required_and_logged_when_not() {
    let (learner, server) = exchange(&sasl("guess", true, true), Some(sasl("x", true, true)));
    assert!(learner.is_err(), "{learner:?}");
    assert!(
        matches!(&server, ServerStep::Close { why, .. } if why.contains("serverRequireSasl=true")),
        "{server:?}"
    );
    // Apache's rolling-upgrade mode: neither side requires SASL, both go on and log why.
    let (learner, server) = exchange(&sasl("guess", false, false), Some(sasl("x", false, false)));
    assert!(
        matches!(&learner, Ok(LearnerStep::Unauthenticated(why)) if why.contains("refused")),
        "{learner:?}"
    );
    assert!(
        matches!(
            &server,
            ServerStep::Done {
                user: None,
                note: Some(_),
                ..
            }
        ),
        "{server:?}"
    );
}

#[test]
fn a_server_without_sasl_is_refused_only_by_a_learner_that_requires_it() {
    let (learner, server) = exchange(&sasl("s3cret", true, false), None);
    assert!(
        matches!(&learner, Err(why) if why.contains("learnerRequireSasl=true")),
        "{learner:?}"
    );
    assert!(matches!(server, ServerStep::Done { user: None, .. }));
    let (learner, _) = exchange(&sasl("s3cret", false, false), None);
    assert!(matches!(learner, Ok(LearnerStep::Unauthenticated(_))));
}

#[test]
fn a_server_that_cannot_prove_the_password_is_refused() {
    let mut l = LearnerExchange::new(&sasl("s3cret", true, true), "c".into());
    let mut s = ServerExchange::new(Some(Arc::new(sasl("x", true, true))), "n".into());
    let ServerStep::Reply(challenge) = s.on_message(l.start()) else {
        panic!("a challenge first");
    };
    let Ok(LearnerStep::Send(_)) = l.on_reply(challenge) else {
        panic!("a response");
    };
    // A process that accepted the connection and answers "success" without the password.
    let forged = AuthMsg::new(
        AuthKind::Success,
        b"rspauth=0123456789abcdef0123456789abcdef".to_vec(),
    );
    assert!(l.on_reply(forged).is_err());
}

#[test]
fn out_of_order_messages_close_the_connection() {
    let mut s = ServerExchange::new(Some(Arc::new(sasl("x", true, true))), "n".into());
    for kind in [
        AuthKind::Challenge,
        AuthKind::Success,
        AuthKind::Failed,
        AuthKind::NotEnabled,
    ] {
        assert!(matches!(
            s.on_message(AuthMsg::new(kind, Vec::new())),
            ServerStep::Close { .. }
        ));
    }
    let mut s = ServerExchange::new(None, "n".into());
    assert!(matches!(
        s.on_message(AuthMsg::new(AuthKind::Response, Vec::new())),
        ServerStep::Close { .. }
    ));
    let mut l = LearnerExchange::new(&sasl("s3cret", false, false), "c".into());
    assert!(l
        .on_reply(AuthMsg::new(AuthKind::Start, Vec::new()))
        .is_err());
}

#[test]
fn a_connection_without_authentication_is_judged_by_server_require() {
    assert_eq!(unauthenticated(None), Ok(None));
    assert!(unauthenticated(Some(&sasl("s", false, true))).is_err());
    assert!(matches!(
        unauthenticated(Some(&sasl("s", false, false))),
        Ok(Some(_))
    ));
}

#[test]
fn messages_round_trip_and_bad_headers_are_refused() {
    let msg = AuthMsg::new(AuthKind::Response, b"token".to_vec());
    let mut out = Vec::new();
    msg.encode(&mut out);
    assert_eq!(out, b"\x03\x00\x00\x00\x05token");
    let header: [u8; AUTH_HEADER_BYTES] = out[..5].try_into().unwrap();
    assert_eq!(AuthMsg::parse_header(header), Ok((AuthKind::Response, 5)));
    assert!(AuthMsg::parse_header([0, 0, 0, 0, 0]).is_err());
    assert!(AuthMsg::parse_header([7, 0, 0, 0, 0]).is_err());
    assert!(
        AuthMsg::parse_header([1, 0, 0, 0x10, 1]).is_err(),
        "4097 bytes"
    );
    // The magic can never be mistaken for a frame's length.
    assert!(u32::from_be_bytes(AUTH_MAGIC) as usize > FRAME_BYTES_LIMIT);
}

/// A CA in `dir`: its certificate and key, and the trust store file.
struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
    trust: PathBuf,
}

fn ca(dir: &Path, name: &str) -> Ca {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let trust = dir.join(format!("{name}-ca.pem"));
    std::fs::write(&trust, cert.pem()).unwrap();
    Ca { cert, key, trust }
}

/// TLS for a member whose certificate `issuer` signed for `hosts`, trusting `trusted`.
fn member_tls(dir: &Path, name: &str, issuer: &Ca, trusted: &Ca, hosts: &[String]) -> MutualTls {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(hosts.to_vec()).unwrap();
    let cert = params.signed_by(&key, &issuer.cert, &issuer.key).unwrap();
    let path = dir.join(format!("{name}.pem"));
    std::fs::write(&path, format!("{}{}", key.serialize_pem(), cert.pem())).unwrap();
    let spec = |path: &Path| StoreSpec {
        path: path.to_owned(),
        kind: StoreType::Pem,
        password: String::new(),
    };
    let options = TlsOptions {
        key_store: spec(&path),
        trust_store: Some(spec(&trusted.trust)),
        client_auth: ClientAuth::Need,
        versions: vec![TlsVersion::V13, TlsVersion::V12],
        cipher_suites: None,
    };
    MutualTls::build(&options, true, &mut Vec::new()).unwrap()
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rk-peer-secure-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn host(addrs: &[String]) -> String {
    addrs[0].rsplit_once(':').unwrap().0.to_owned()
}

fn proposal() -> Message {
    Message::Proposal {
        epoch: 1,
        entries: vec![Entry {
            zxid: (1 << 32) + 1,
            payload: Arc::from(&b"not a member"[..]),
        }],
    }
}

/// Sends a Hello claiming to be `claim` and a Proposal in plain text; true if closed.
async fn plain_frames_are_closed(addr: std::net::SocketAddr, claim: u64) -> bool {
    let mut raw = TcpStream::connect(addr).await.unwrap();
    let mut bytes = wire::encode(&OutFrame::Hello(&Hello::new(claim, PROTOCOL_VERSION))).unwrap();
    bytes.extend(wire::encode(&OutFrame::Message(&proposal())).unwrap());
    let _ = raw.write_all(&bytes).await;
    let mut buf = [0u8; 64];
    loop {
        match raw.read(&mut buf).await {
            Ok(0) | Err(_) => return true,
            Ok(_) => continue,
        }
    }
}

/// A (1) and B (2) are members; C claims to be 2 with `c_security`. A hears B, and from C
/// nothing at all, however often C dials; plain frames claiming to be 2 are closed too.
async fn only_members_are_heard(
    a_security: PeerSecurity,
    b_security: PeerSecurity,
    c_security: PeerSecurity,
    addrs: [Vec<String>; 3],
) {
    let [a_addrs, b_addrs, c_addrs] = addrs;
    let mut sa = settings(1, &a_addrs, 2, &b_addrs);
    sa.security = a_security;
    let mut sb = settings(2, &b_addrs, 1, &a_addrs);
    sb.security = b_security;
    let (a, a_rx) = Transport::start(sa).await.unwrap();
    let (b, _b_rx) = Transport::start(sb).await.unwrap();
    wait_for("links up", || {
        a.stats().links_up == 2 && b.stats().links_up == 2
    })
    .await;
    b.send(1, &proposal());
    assert_eq!(
        recv(&a_rx).await,
        Inbound::Protocol {
            from: 2,
            message: proposal()
        }
    );

    let mut sc = settings(2, &c_addrs, 1, &a_addrs);
    sc.security = c_security;
    let (c, _c_rx) = Transport::start(sc).await.unwrap();
    let before = a.stats().connection_errors;
    for _ in 0..20 {
        c.send(1, &proposal());
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    wait_for("C refused on both ports", || {
        a.stats().connection_errors >= before + 2
    })
    .await;
    assert!(plain_frames_are_closed(a.local_addrs().0, 2).await);
    assert!(plain_frames_are_closed(a.local_addrs().1, 2).await);
    wait_for("plain frames refused", || {
        a.stats().connection_errors >= before + 4
    })
    .await;
    nothing_from(&a_rx).await;
    // B's links still work.
    b.send(1, &Message::Resync { epoch: 3 });
    assert_eq!(
        recv(&a_rx).await,
        Inbound::Protocol {
            from: 2,
            message: Message::Resync { epoch: 3 }
        }
    );
    for t in [a, b, c] {
        t.stop();
    }
}

/// Nothing was delivered: the impostor's frames never reached the protocol.
async fn nothing_from(rx: &LocalReceiver<Inbound>) {
    let got = futures_lite::future::poll_once(rx.recv()).await;
    assert!(got.is_none(), "delivered: {got:?}");
}

#[test]
fn tls_links_carry_messages_and_a_foreign_certificate_is_not_heard() {
    run(|| async {
        let dir = scratch("tls");
        let addrs = [free_addrs(21, 2), free_addrs(22, 2), free_addrs(23, 2)];
        let real = ca(&dir, "real");
        let other = ca(&dir, "other");
        let names = |a: &Vec<String>| vec![host(a), "127.0.0.1".to_owned()];
        let tls = |name, issuer: &Ca, a: &Vec<String>| PeerSecurity {
            tls: Some(member_tls(&dir, name, issuer, &real, &names(a))),
            sasl: None,
        };
        let (sa, sb) = (tls("a", &real, &addrs[0]), tls("b", &real, &addrs[1]));
        // C trusts the real CA, so its side of the handshake completes; A must refuse it.
        let sc = tls("c", &other, &addrs[2]);
        only_members_are_heard(sa, sb, sc, addrs).await;
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn sasl_links_authenticate_and_a_wrong_password_is_not_heard() {
    run(|| async {
        let addrs = [free_addrs(24, 2), free_addrs(25, 2), free_addrs(26, 2)];
        let with = |password: &str| PeerSecurity {
            tls: None,
            sasl: Some(Arc::new(sasl(password, true, true))),
        };
        only_members_are_heard(with("s3cret"), with("s3cret"), with("guess"), addrs).await;
    });
}

#[test]
fn a_certificate_must_name_the_address_it_dials_from() {
    run(|| async {
        let dir = scratch("names");
        let addrs = [free_addrs(27, 2), free_addrs(28, 2), free_addrs(29, 2)];
        let real = ca(&dir, "real");
        let names = |a: &Vec<String>| vec![host(a), "127.0.0.1".to_owned()];
        let sec = |tls| PeerSecurity {
            tls: Some(tls),
            sasl: None,
        };
        let sa = sec(member_tls(&dir, "a", &real, &real, &names(&addrs[0])));
        let sb = sec(member_tls(&dir, "b", &real, &real, &names(&addrs[1])));
        // The right CA, but a certificate for another host.
        let sc = sec(member_tls(
            &dir,
            "c",
            &real,
            &real,
            &["10.9.9.9".to_owned()],
        ));
        only_members_are_heard(sa, sb, sc, addrs).await;
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// A joiner (a server that is not a configured peer, accepted with reconfigEnabled) must
/// still pass quorum SASL: with a wrong password it is closed before its Hello and never
/// becomes a peer; with the right one it does, and is heard.
#[test]
fn a_joiner_must_pass_sasl_like_a_member() {
    run(|| async {
        let addrs = [
            free_addrs(36, 2),
            free_addrs(37, 2),
            free_addrs(38, 2),
            free_addrs(39, 2),
        ];
        let with = |password: &str| PeerSecurity {
            tls: None,
            sasl: Some(Arc::new(sasl(password, true, true))),
        };
        let mut sm = settings(1, &addrs[0], 2, &addrs[1]);
        sm.security = with("s3cret");
        sm.accept_joiners = true;
        let (m, m_rx) = Transport::start(sm).await.unwrap();
        let mut sw = settings(4, &addrs[2], 1, &addrs[0]);
        sw.security = with("guess");
        let (w, _w_rx) = Transport::start(sw).await.unwrap();
        wait_for("the wrong password refused on both ports", || {
            m.stats().connection_errors >= 2
        })
        .await;
        assert_eq!(m.peer_ids(), vec![2]);
        nothing_from(&m_rx).await;
        w.stop();
        let mut sj = settings(5, &addrs[3], 1, &addrs[0]);
        sj.security = with("s3cret");
        let (j, _j_rx) = Transport::start(sj).await.unwrap();
        wait_for("the joiner with the password is a peer", || {
            m.peer_ids() == vec![2, 5]
        })
        .await;
        j.send(1, &proposal());
        assert_eq!(
            recv(&m_rx).await,
            Inbound::Protocol {
                from: 5,
                message: proposal()
            }
        );
        j.stop();
        m.stop();
    });
}
