//! Secured quorum links (issue 14, item 5): 3-member ensembles with mutual TLS between members
//! (`sslQuorum`, certificates made at test time) or SASL DIGEST-MD5 member authentication
//! (`quorum.auth.*`, JAAS files), and processes that are not members trying to take part:
//! - the ensemble elects and replicates over the secured links;
//! - a member whose certificate comes from another CA, or whose SASL password is wrong, is
//!   not counted: with one real member gone, the other real member and it form no quorum;
//! - a raw connection sending a well-formed Hello and Proposal is closed before any frame is
//!   decoded (with TLS: also with a certificate from another CA, or none);
//! - an ensemble changed from plain to TLS links one member at a time (no `portUnification`)
//!   keeps serving through one election and loses no acknowledged write.
//!
//! One ensemble at a time, as in `ensemble.rs`.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::ensemble::{Ensemble, EnsembleOptions, Mode};
use common::load::{try_connect, OP_TIMEOUT};
use common::persistent;
use common::pki::{Identity, Pki};
use rcgen::DnType;
use ringkeeper_replication::wire::{Encoder, Hello, OutFrame, PROTOCOL_VERSION};
use ringkeeper_replication::{Entry, Message};
use rustls::pki_types::ServerName;
use zookeeper_client::Client;

const LEADER_WAIT: Duration = Duration::from_secs(30);
const SERVE_WAIT: Duration = Duration::from_secs(30);
/// How long members that must not find a quorum are watched: 15 ticks, several elections.
const STAY_OUT: Duration = Duration::from_secs(3);
/// How long a member may take to close an outsider's connection.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn options(lines: &[&str]) -> EnsembleOptions {
    let mut extra = vec!["maxSessionTimeout=30000".to_owned()];
    extra.extend(lines.iter().map(|l| l.to_string()));
    EnsembleOptions {
        extra_config: extra,
        ..EnsembleOptions::default()
    }
}

const TLS: &[&str] = &[
    "sslQuorum=true",
    "ssl.quorum.keyStore.location={root}/certs/m{id}.pem",
    "ssl.quorum.trustStore.location={root}/certs/ca.pem",
];

const SASL: &[&str] = &[
    "quorum.auth.enableSasl=true",
    "quorum.auth.learnerRequireSasl=true",
    "quorum.auth.serverRequireSasl=true",
    "java.security.auth.login.config={root}/jaas-{id}.conf",
];

/// The ensemble's CA (`certs/ca.pem`) and a key store per member naming its address and
/// 127.0.0.1 (the source address of a loopback dial); the members in `foreign` get a
/// certificate from another CA, and trust the ensemble's.
fn write_certs(root: &Path, ips: &[Ipv4Addr], foreign: &[usize]) -> (Pki, Pki) {
    let dir = root.join("certs");
    std::fs::create_dir_all(&dir).unwrap();
    let ca = Pki::new("quorum-ca");
    let other = Pki::new("quorum-other-ca");
    std::fs::write(dir.join("ca.pem"), &ca.ca_pem).unwrap();
    for (index, ip) in ips.iter().enumerate() {
        let pki = if foreign.contains(&index) {
            &other
        } else {
            &ca
        };
        pki.member_key_store(
            &format!("m{}", index + 1),
            &[*ip, Ipv4Addr::LOCALHOST],
            &dir,
        );
    }
    (ca, other)
}

/// A JAAS file per member; the members in `wrong` have the wrong learner password.
fn write_jaas(root: &Path, n: usize, wrong: &[usize]) {
    for index in 0..n {
        let password = if wrong.contains(&index) {
            "guess"
        } else {
            "s3cret"
        };
        let text = format!(
            "QuorumServer {{\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  user_member=\"s3cret\";\n}};\nQuorumLearner {{\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  username=\"member\"\n  password=\"{password}\";\n}};\n"
        );
        std::fs::write(root.join(format!("jaas-{}.conf", index + 1)), text).unwrap();
    }
}

/// A Hello claiming to be member `claim`, then a Proposal: well-formed peer frames.
fn peer_frames(claim: u64) -> Vec<u8> {
    let mut encoder = Encoder::new();
    let mut out = Vec::new();
    let hello = OutFrame::Hello(&Hello::new(claim, PROTOCOL_VERSION));
    encoder.encode_into(&hello, 1 << 20, &mut out).unwrap();
    let proposal = Message::Proposal {
        epoch: 1,
        entries: vec![Entry {
            zxid: (1 << 32) + 1,
            payload: Arc::from(&b"not a member"[..]),
        }],
    };
    encoder
        .encode_into(&OutFrame::Message(&proposal), 1 << 20, &mut out)
        .unwrap();
    out
}

/// Whether the member closes a connection that sends `bytes` over `stream` (read returns
/// EOF or an error other than a timeout) within `CLOSE_WAIT`.
fn closed_after(mut stream: impl Read + Write, bytes: &[u8]) -> bool {
    let _ = stream.write_all(bytes);
    let _ = stream.flush();
    let deadline = Instant::now() + CLOSE_WAIT;
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
    false
}

fn raw(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    stream.set_read_timeout(Some(CLOSE_WAIT)).unwrap();
    stream
}

/// A TLS client that trusts `ca`, presenting `identity` if any.
fn tls_to(addr: SocketAddr, ca: &Pki, identity: Option<Identity>) -> impl Read + Write {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.ca.der().clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match identity {
        Some(id) => builder.with_client_auth_cert(id.chain, id.key).unwrap(),
        None => builder.with_no_client_auth(),
    };
    let name = ServerName::IpAddress(addr.ip().into());
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    rustls::StreamOwned::new(conn, raw(addr))
}

fn start(lines: &[&str], prepare: impl FnOnce(&Path, &[Ipv4Addr])) -> (Ensemble, usize) {
    let mut ensemble = Ensemble::start_with(3, options(lines), prepare);
    let leader = ensemble.wait_for_leader(LEADER_WAIT);
    (ensemble, leader)
}

/// A write through one member is visible on another after `sync`. The clients are returned
/// so that their sessions stay open: closing one is a write.
async fn replicates(ensemble: &Ensemble, from: usize, to: usize, path: &str) -> [Client; 2] {
    let writer = try_connect(&ensemble.connect_string_of(&[from]), SERVE_WAIT)
        .await
        .unwrap();
    tokio::time::timeout(OP_TIMEOUT, writer.create(path, b"v", &persistent()))
        .await
        .expect("create in time")
        .expect("create");
    let reader = try_connect(&ensemble.connect_string_of(&[to]), SERVE_WAIT)
        .await
        .unwrap();
    tokio::time::timeout(OP_TIMEOUT, reader.sync(path))
        .await
        .expect("sync in time")
        .expect("sync");
    let (data, _) = tokio::time::timeout(OP_TIMEOUT, reader.get_data(path))
        .await
        .expect("read in time")
        .expect("read");
    assert_eq!(data, b"v");
    [writer, reader]
}

/// Waits until `member`'s log has `count` lines containing `needle`: the member closes a
/// connection before it logs why.
fn logged(ensemble: &Ensemble, member: usize, needle: &str, count: usize) {
    let deadline = Instant::now() + CLOSE_WAIT;
    loop {
        let found = ensemble
            .log(member)
            .lines()
            .filter(|l| l.contains(needle))
            .count();
        if found >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{found} of {count} lines with {needle:?} in member {member}'s log:\n{}",
            ensemble.log_tail(member, 30)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills one real member other than `keep`; then `keep` and the impostor must not serve.
fn impostor_is_not_counted(ensemble: &mut Ensemble, keep: usize, impostor: usize) {
    let gone = (0..3).find(|&i| i != keep && i != impostor).unwrap();
    ensemble.kill(gone);
    ensemble.wait_not_serving(keep, SERVE_WAIT);
    let until = Instant::now() + STAY_OUT;
    while Instant::now() < until {
        for member in [keep, impostor] {
            let mode = ensemble.mode(member);
            assert!(
                !matches!(mode, Mode::Leader | Mode::Follower),
                "member {member} serves ({mode:?}) with only a real member and an impostor up;\n{}",
                ensemble.describe()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// (a) TLS links elect and replicate; (b) raw connections with a Hello and a Proposal, in
/// plain text, with a certificate from another CA, or with none, are closed before a frame
/// is decoded, on both ports, and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_members_elect_replicate_and_outsiders_are_dropped() {
    let _serial = SERIAL.lock().await;
    let mut pkis = None;
    let (mut ensemble, leader) =
        blocking(|| start(TLS, |root, ips| pkis = Some(write_certs(root, ips, &[]))));
    let (ca, other) = pkis.unwrap();
    let follower = (leader + 1) % 3;
    let _clients = replicates(&ensemble, follower, (leader + 2) % 3, "/over-tls").await;
    let zxid = blocking(|| ensemble.zxid(leader));

    let (quorum, election) = ensemble.peer_addresses(leader);
    let stranger = other.client(&[(DnType::CommonName, "stranger")]);
    let stranger_too = other.client(&[(DnType::CommonName, "stranger")]);
    let claim = follower as u64 + 1;
    for addr in [quorum, election] {
        assert!(
            closed_after(raw(addr), &peer_frames(claim)),
            "plain text on {addr}"
        );
    }
    assert!(closed_after(
        tls_to(quorum, &ca, Some(stranger)),
        &peer_frames(claim)
    ));
    assert!(closed_after(
        tls_to(election, &ca, Some(stranger_too)),
        &peer_frames(claim)
    ));
    assert!(closed_after(tls_to(quorum, &ca, None), &peer_frames(claim)));

    blocking(|| {
        logged(
            &ensemble,
            leader,
            "closing peer connection: TLS handshake",
            5,
        )
    });
    assert_eq!(blocking(|| ensemble.mode(leader)), Mode::Leader);
    assert_eq!(
        blocking(|| ensemble.zxid(leader)),
        zxid,
        "an outsider changed the log"
    );
}

/// A member whose certificate another CA signed is not counted in an election.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_with_a_foreign_certificate_is_not_counted() {
    let _serial = SERIAL.lock().await;
    let impostor = 2;
    blocking(|| {
        let (mut ensemble, leader) = start(TLS, |root, ips| {
            write_certs(root, ips, &[impostor]);
        });
        assert_ne!(leader, impostor);
        let keep = (0..3).find(|&i| i != impostor).unwrap();
        impostor_is_not_counted(&mut ensemble, keep, impostor);
    });
}

/// (c) SASL with the right JAAS file works; a member with a wrong password is not counted;
/// a raw connection that does not authenticate is closed before its Hello is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_members_authenticate_and_a_wrong_password_is_not_counted() {
    let _serial = SERIAL.lock().await;
    let impostor = 2;
    let (mut ensemble, leader) =
        blocking(|| start(SASL, |root, ips| write_jaas(root, ips.len(), &[impostor])));
    assert_ne!(leader, impostor);
    let keep = (0..3).find(|&i| i != impostor && i != leader).unwrap();
    let _clients = replicates(&ensemble, keep, leader, "/over-sasl").await;

    let (quorum, election) = ensemble.peer_addresses(leader);
    for addr in [quorum, election] {
        assert!(
            closed_after(raw(addr), &peer_frames(keep as u64 + 1)),
            "{addr}"
        );
    }
    blocking(|| {
        let refusal = "did not authenticate and quorum.auth.serverRequireSasl=true";
        logged(&ensemble, leader, refusal, 2);
        logged(
            &ensemble,
            impostor,
            "refused our QuorumLearner credentials",
            1,
        );
    });
    blocking(|| impostor_is_not_counted(&mut ensemble, keep, impostor));
}

/// Creates `path` through any of `members`, retrying while they elect.
async fn create_on(ensemble: &Ensemble, members: &[usize], path: &str) {
    let deadline = Instant::now() + LEADER_WAIT;
    loop {
        let attempt = async {
            let client = try_connect(&ensemble.connect_string_of(members), SERVE_WAIT).await?;
            match tokio::time::timeout(OP_TIMEOUT, client.create(path, b"v", &persistent())).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("create {path}: {e}")),
                Err(_) => Err(format!("create {path} timed out")),
            }
        };
        match attempt.await {
            Ok(()) => return,
            Err(e) if Instant::now() >= deadline => panic!("{e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// docs/operations.md, "Changing a running ensemble from plain to TLS links": members are
/// restarted with `sslQuorum=true` one at a time. The plain majority serves until the switched
/// members are a majority; they elect; the last member rejoins over TLS. Every write
/// acknowledged on the way is on every member at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_change_from_plain_to_tls_links_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let (mut ensemble, leader) = blocking(|| {
        start(&[], |root, ips| {
            write_certs(root, ips, &[]);
        })
    });
    let f: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    create_on(&ensemble, &[0, 1, 2], "/plain").await;

    // One switched member: the plain majority goes on without it.
    blocking(|| {
        ensemble.append_config(f[0], TLS);
        ensemble.restart(f[0]);
    });
    create_on(&ensemble, &[leader, f[1]], "/one-switched").await;
    assert!(
        !matches!(
            blocking(|| ensemble.mode(f[0])),
            Mode::Leader | Mode::Follower
        ),
        "a TLS member joined plain ones;\n{}",
        blocking(|| ensemble.describe())
    );

    // Two switched members are the majority: they elect and serve.
    blocking(|| {
        ensemble.append_config(f[1], TLS);
        ensemble.restart(f[1]);
    });
    create_on(&ensemble, &[f[0], f[1]], "/two-switched").await;

    // The last one rejoins over TLS.
    blocking(|| {
        ensemble.append_config(leader, TLS);
        ensemble.restart(leader);
        ensemble.wait_serving(leader, SERVE_WAIT);
    });
    create_on(&ensemble, &[leader], "/all-switched").await;
    for member in 0..3 {
        let client = try_connect(&ensemble.connect_string_of(&[member]), SERVE_WAIT)
            .await
            .unwrap();
        tokio::time::timeout(OP_TIMEOUT, client.sync("/"))
            .await
            .expect("sync in time")
            .expect("sync");
        for path in ["/plain", "/one-switched", "/two-switched", "/all-switched"] {
            let found = tokio::time::timeout(OP_TIMEOUT, client.check_stat(path))
                .await
                .expect("exists in time")
                .expect("exists");
            assert!(found.is_some(), "{path} missing on member {member}");
        }
    }
}
