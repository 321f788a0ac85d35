//! TLS on `secureClientPort`: certificates made at test time (rcgen), a rustls client over a
//! std TcpStream speaking the same jute frames as a plain client, client-certificate
//! authentication (`ssl.clientAuth`), `x509` ACLs with the certificate subject in Java's
//! RFC 2253 form, the x509 super user, and hostile bytes on the TLS port. Key and trust
//! stores made by keytool and openssl (JKS, PKCS12, encrypted PEM) are in `tls/stores.rs`.

mod common;
#[path = "tls/stores.rs"]
mod stores;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::jute::{err, op, In, Out};
use common::pki::{Identity, Pki};
use common::raw::RawConn;
use common::server::{ServerOptions, TestServer};
use rcgen::DnType;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

const NO_AUTH: i32 = -102;
const GET_ACL: i32 = 6;
const PERMS_ALL: i32 = 31;
const PERMS_READ: i32 = 1;
const CLIENT_DN: &str = "CN=client,OU=Eng,O=Example";
const OTHER_DN: &str = "CN=other,O=Example";
const ADMIN_DN: &str = "CN=admin,O=Example";

fn free_port(ip: Ipv4Addr) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server with a secure port on 127.0.0.1, its key store and trust store from `pki`.
fn start_tls_server(pki: &Pki, client_auth: &str, extra: &[String]) -> (TestServer, SocketAddr) {
    let ip = Ipv4Addr::LOCALHOST;
    let (cert, key, _) = pki.issue(&[(DnType::CommonName, "server")], Some(ip));
    let key_store = pki.write("server.pem", &format!("{key}{cert}"));
    let trust_store = pki.write("ca.pem", &pki.ca_pem);
    let mut config = vec![
        format!("ssl.keyStore.location={}", key_store.display()),
        "ssl.keyStore.type=PEM".to_string(),
        format!("ssl.trustStore.location={}", trust_store.display()),
        "ssl.trustStore.type=PEM".to_string(),
        format!("ssl.clientAuth={client_auth}"),
    ];
    config.extend_from_slice(extra);
    start_secure(config)
}

/// A server with a secure port on 127.0.0.1 configured by `ssl_config` (the store and
/// `ssl.*` lines).
fn start_secure(ssl_config: Vec<String>) -> (TestServer, SocketAddr) {
    let ip = Ipv4Addr::LOCALHOST;
    let port = free_port(ip);
    let mut extra_config = vec![
        "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory".to_string(),
        format!("secureClientPort={port}"),
        format!("secureClientPortAddress={ip}"),
    ];
    extra_config.extend(ssl_config);
    let server = TestServer::start(ServerOptions {
        extra_config,
        ..Default::default()
    });
    (server, SocketAddr::from((ip, port)))
}

/// A blocking TLS connection that speaks jute frames.
struct TlsConn {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    next_xid: i32,
}

fn client_config(pki: &Pki, identity: Option<Identity>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(pki.ca.der().to_vec()))
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    Arc::new(match identity {
        Some(id) => builder.with_client_auth_cert(id.chain, id.key).unwrap(),
        None => builder.with_no_client_auth(),
    })
}

/// A TCP connection to the secure port. Apache answers ruok on the plain port a moment
/// before its secure port listens, so a refused connect is retried for a while.
fn connect(address: SocketAddr) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect_timeout(&address, Duration::from_secs(5)) {
            Ok(tcp) => return tcp,
            Err(e) if Instant::now() < deadline => {
                assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("connect to {address}: {e}"),
        }
    }
}

impl TlsConn {
    fn open(address: SocketAddr, config: Arc<rustls::ClientConfig>) -> TlsConn {
        let tcp = connect(address);
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let name = ServerName::IpAddress(address.ip().into());
        let conn = rustls::ClientConnection::new(config, name).unwrap();
        TlsConn {
            tls: rustls::StreamOwned::new(conn, tcp),
            next_xid: 1,
        }
    }

    fn read_frame(&mut self) -> std::io::Result<Vec<u8>> {
        let mut len = [0u8; 4];
        self.tls.read_exact(&mut len)?;
        let mut body = vec![0u8; i32::from_be_bytes(len).max(0) as usize];
        self.tls.read_exact(&mut body)?;
        Ok(body)
    }

    /// Starts a new session; the error when the server refuses the connection.
    fn handshake(&mut self) -> std::io::Result<i64> {
        let request = Out::new()
            .int(0)
            .long(0)
            .int(30_000)
            .long(0)
            .buffer(&[0; 16])
            .boolean(false)
            .frame();
        self.tls.write_all(&request)?;
        self.tls.flush()?;
        let frame = self.read_frame()?;
        let mut r = In::new(&frame);
        r.int();
        r.int();
        Ok(r.long())
    }

    /// A request and its reply: (err, body).
    fn request(&mut self, op_code: i32, body: Out) -> (i32, Vec<u8>) {
        let xid = self.next_xid;
        self.next_xid += 1;
        let mut frame = Out::new().int(xid).int(op_code);
        frame.0.extend_from_slice(&body.0);
        self.tls.write_all(&frame.frame()).unwrap();
        loop {
            let reply = self.read_frame().expect("a reply over TLS");
            let mut r = In::new(&reply);
            if r.int() != xid {
                continue;
            }
            r.long();
            return (r.int(), reply[16..].to_vec());
        }
    }
}

fn session(address: SocketAddr, config: Arc<rustls::ClientConfig>) -> TlsConn {
    let mut c = TlsConn::open(address, config);
    let id = c.handshake().expect("a TLS session");
    assert_ne!(id, 0);
    c
}

fn create(path: &str, data: &[u8], acl: &[(i32, &str, &str)]) -> Out {
    Out::new().string(path).buffer(data).acls(acl).int(0)
}

fn get_data(path: &str) -> Out {
    Out::new().string(path).boolean(false)
}

#[test]
fn create_and_get_over_tls_and_the_plain_port_still_works() {
    let pki = Pki::new("basic");
    let (server, secure) = start_tls_server(&pki, "need", &[]);
    let config = client_config(&pki, Some(pki.client(&[(DnType::CommonName, "c")])));
    let mut c = session(secure, config.clone());
    let (e, _) = c.request(
        op::CREATE,
        create("/tls", b"over tls", &[(PERMS_ALL, "world", "anyone")]),
    );
    assert_eq!(e, err::OK, "{}", server.log());
    // A large value crosses many TLS records in both directions.
    let big = vec![7u8; 300 * 1024];
    let (e, _) = c.request(
        op::CREATE,
        create("/big", &big, &[(PERMS_ALL, "world", "anyone")]),
    );
    assert_eq!(e, err::OK);
    let (e, body) = c.request(op::GET_DATA, get_data("/big"));
    assert_eq!(e, err::OK);
    assert_eq!(In::new(&body).buffer().unwrap(), big);

    // The plain port serves the same tree at the same time.
    let (mut plain, _) = RawConn::new_session(&server, 30_000);
    let reply = plain.request(op::GET_DATA, get_data("/tls"));
    assert_eq!(reply.err, err::OK);
    assert_eq!(reply.reader().buffer().unwrap(), b"over tls");
    assert_eq!(server.four_letter_word("ruok"), "imok");

    // Pipelined requests over TLS are answered in order.
    let mut c2 = session(secure, config);
    let mut burst = Vec::new();
    for i in 0..50 {
        let mut f = Out::new().int(1000 + i).int(op::GET_DATA);
        f.0.extend_from_slice(&get_data("/tls").0);
        burst.extend(f.frame());
    }
    c2.tls.write_all(&burst).unwrap();
    for i in 0..50 {
        let frame = c2.read_frame().unwrap();
        assert_eq!(In::new(&frame).int(), 1000 + i);
    }
}

#[test]
fn client_auth_need_refuses_a_client_without_certificate_and_want_admits_it() {
    let pki = Pki::new("need");
    let (server, secure) = start_tls_server(&pki, "need", &[]);
    let mut anonymous = TlsConn::open(secure, client_config(&pki, None));
    assert!(
        anonymous.handshake().is_err(),
        "need: a client without certificate must not get a session"
    );
    // A certificate from another CA is refused as well.
    let stranger = Pki::new("stranger");
    let foreign = stranger.client(&[(DnType::CommonName, "client")]);
    let mut roots_only_ours = TlsConn::open(secure, {
        // The client trusts our CA (so it accepts the server) but presents a foreign cert.
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(pki.ca.der().to_vec()))
            .unwrap();
        Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(foreign.chain, foreign.key)
            .unwrap(),
        )
    });
    assert!(roots_only_ours.handshake().is_err());
    assert_eq!(server.four_letter_word("ruok"), "imok");
    drop(server);

    let (_server, secure) = start_tls_server(&pki, "want", &[]);
    let mut c = session(secure, client_config(&pki, None));
    // Without a certificate the client holds no x509 id: x509-only nodes stay closed.
    let (e, _) = c.request(
        op::CREATE,
        create("/x", b"", &[(PERMS_ALL, "x509", CLIENT_DN)]),
    );
    assert_eq!(e, err::OK);
    let (e, _) = c.request(op::GET_DATA, get_data("/x"));
    assert_eq!(e, NO_AUTH);
    let client = pki.client(&[
        (DnType::OrganizationName, "Example"),
        (DnType::OrganizationalUnitName, "Eng"),
        (DnType::CommonName, "client"),
    ]);
    let mut named = session(secure, client_config(&pki, Some(client)));
    let (e, _) = named.request(op::GET_DATA, get_data("/x"));
    assert_eq!(e, err::OK);
}

#[test]
fn x509_acls_grant_and_deny_by_certificate_subject() {
    let pki = Pki::new("acl");
    let (server, secure) = start_tls_server(
        &pki,
        "need",
        &[format!("X509AuthenticationProvider.superUser={ADMIN_DN}")],
    );
    // The subject is printed last RDN first, as Java's X500Principal.getName() does.
    let client = pki.client(&[
        (DnType::OrganizationName, "Example"),
        (DnType::OrganizationalUnitName, "Eng"),
        (DnType::CommonName, "client"),
    ]);
    let other = pki.client(&[
        (DnType::OrganizationName, "Example"),
        (DnType::CommonName, "other"),
    ]);
    let admin = pki.client(&[
        (DnType::OrganizationName, "Example"),
        (DnType::CommonName, "admin"),
    ]);
    let mut c = session(secure, client_config(&pki, Some(client)));
    let mut o = session(secure, client_config(&pki, Some(other)));
    let mut a = session(secure, client_config(&pki, Some(admin)));

    let (e, _) = c.request(
        op::CREATE,
        create("/mine", b"secret", &[(PERMS_ALL, "x509", CLIENT_DN)]),
    );
    assert_eq!(e, err::OK, "{}", server.log());
    let (e, body) = c.request(op::GET_DATA, get_data("/mine"));
    assert_eq!(e, err::OK);
    assert_eq!(In::new(&body).buffer().unwrap(), b"secret");
    let (e, _) = o.request(op::GET_DATA, get_data("/mine"));
    assert_eq!(e, NO_AUTH, "another subject is refused");
    let (e, _) = a.request(op::GET_DATA, get_data("/mine"));
    assert_eq!(e, err::OK, "the x509 super user passes every ACL");

    // `auth` expands to the certificate's id.
    let (e, _) = o.request(
        op::CREATE,
        create("/auth", b"", &[(PERMS_READ, "auth", "")]),
    );
    assert_eq!(e, err::OK);
    let (e, body) = o.request(GET_ACL, Out::new().string("/auth"));
    assert_eq!(e, err::OK);
    let mut r = In::new(&body);
    assert_eq!(r.int(), 1);
    assert_eq!(r.int(), PERMS_READ);
    assert_eq!(r.string(), "x509");
    assert_eq!(r.string(), OTHER_DN);
    let (e, _) = c.request(op::GET_DATA, get_data("/auth"));
    assert_eq!(e, NO_AUTH);

    // An id that is no distinguished name is InvalidACL.
    let (e, _) = c.request(
        op::CREATE,
        create("/bad", b"", &[(PERMS_ALL, "x509", "client")]),
    );
    assert_eq!(e, err::INVALID_ACL);

    // A plain connection has no certificate and so no x509 id.
    let (mut plain, _) = RawConn::new_session(&server, 30_000);
    let reply = plain.request(op::GET_DATA, get_data("/mine"));
    assert_eq!(reply.err, NO_AUTH);
}

#[test]
fn garbage_and_plaintext_on_the_tls_port_are_closed_without_harm() {
    let pki = Pki::new("garbage");
    let (server, secure) = start_tls_server(
        &pki,
        "need",
        &["ringkeeper.handshakeTimeoutMs=1000".to_string()],
    );
    let closed = |mut s: TcpStream| -> bool {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1024];
        let start = Instant::now();
        loop {
            match s.read(&mut buf) {
                Ok(0) => return true,
                // An alert is fine; what matters is that the server closes after it.
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return start.elapsed() < Duration::from_secs(5),
            }
        }
    };
    // A plain ConnectRequest on the TLS port.
    let mut s = connect(secure);
    let hello = Out::new()
        .int(0)
        .long(0)
        .int(30_000)
        .long(0)
        .buffer(&[0; 16])
        .frame();
    s.write_all(&hello).unwrap();
    assert!(closed(s), "plaintext on the TLS port must be closed");
    // Random bytes.
    let mut s = TcpStream::connect(secure).unwrap();
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let _ = s.write_all(&noise);
    assert!(closed(s), "garbage must be closed");
    if server.flavor() == common::server::Flavor::Apache {
        // What follows sends fewer bytes than a TLS record header, or stalls: ringkeeper
        // closes such a connection at ringkeeper.handshakeTimeoutMs, a deadline Apache's
        // TLS port does not have (it waits for the rest of the record).
        return;
    }
    // A four-letter word in clear.
    let mut s = TcpStream::connect(secure).unwrap();
    s.write_all(b"ruok").unwrap();
    assert!(closed(s));
    // Silence: the handshake deadline closes it.
    let s = TcpStream::connect(secure).unwrap();
    assert!(
        closed(s),
        "a silent connection is closed at the handshake deadline"
    );
    // A TLS handshake that stops half way is closed as well.
    let mut s = TcpStream::connect(secure).unwrap();
    let mut conn = rustls::ClientConnection::new(
        client_config(&pki, None),
        ServerName::IpAddress(secure.ip().into()),
    )
    .unwrap();
    let mut first = Vec::new();
    conn.write_tls(&mut first).unwrap();
    s.write_all(&first).unwrap();
    assert!(
        closed(s),
        "a stalled TLS handshake is closed at the deadline"
    );

    // Everything still works on both ports.
    let config = client_config(&pki, Some(pki.client(&[(DnType::CommonName, "c")])));
    let mut c = session(secure, config);
    let (e, _) = c.request(op::EXISTS, get_data("/"));
    assert_eq!(e, err::OK);
    assert_eq!(server.four_letter_word("ruok"), "imok");
}

/// An X.509 version 1 client certificate (no extensions), as old tooling and kazoo's test CA
/// make, issued by `pki`'s CA with `openssl x509 -req`, which writes version 1.
fn v1_client(pki: &Pki, name: &str, subject: &str) -> Identity {
    use rustls::pki_types::pem::PemObject;
    let ca_cert = pki.write(&format!("{name}-ca.pem"), &pki.ca_pem);
    let ca_key = pki.write(&format!("{name}-ca.key"), &pki.ca_key.serialize_pem());
    let key = pki.dir.join(format!("{name}.key"));
    let csr = pki.dir.join(format!("{name}.csr"));
    let cert = pki.dir.join(format!("{name}.pem"));
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    let s = |p: &Path| p.display().to_string();
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &s(&key),
        "-out",
        &s(&csr),
        "-subj",
        subject,
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &s(&csr),
        "-CA",
        &s(&ca_cert),
        "-CAkey",
        &s(&ca_key),
        "-set_serial",
        "7",
        "-days",
        "1",
        "-out",
        &s(&cert),
    ]);
    let der = CertificateDer::from_pem_file(&cert).unwrap();
    // [0] EXPLICIT version is absent: the certificate really is version 1.
    let tbs_start = if der[1] & 0x80 == 0 {
        2
    } else {
        2 + (der[1] & 0x7f) as usize
    };
    let tbs = &der[tbs_start..];
    let first_field = if tbs[1] & 0x80 == 0 {
        2
    } else {
        2 + (tbs[1] & 0x7f) as usize
    };
    assert_ne!(
        tbs[first_field], 0xa0,
        "openssl made a version 3 certificate"
    );
    Identity {
        chain: vec![der],
        key: PrivateKeyDer::from_pem_file(&key).unwrap(),
    }
}

/// Presents a certificate rustls's client cannot check against its key (version 1), as an
/// OpenSSL-based client (Python's, Java's) presents it.
#[derive(Debug)]
struct UncheckedClientCert(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for UncheckedClientCert {
    fn resolve(
        &self,
        _hints: &[&[u8]],
        _schemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn v1_client_config(trusted_ca: &Pki, identity: Identity) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing = provider
        .key_provider
        .load_private_key(identity.key)
        .unwrap();
    let certified = Arc::new(rustls::sign::CertifiedKey::new(identity.chain, signing));
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(trusted_ca.ca.der().to_vec()))
        .unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_cert_resolver(Arc::new(UncheckedClientCert(certified))),
    )
}

#[test]
fn a_version_1_client_certificate_from_the_trusted_ca_is_accepted() {
    let pki = Pki::new("v1");
    let (server, secure) = start_tls_server(&pki, "need", &[]);
    let mut client = v1_client(&pki, "client-v1", "/O=Example/CN=v1client");
    // OpenSSL-based clients send the CA after their certificate; it must not get in the way.
    client
        .chain
        .push(CertificateDer::from(pki.ca.der().to_vec()));
    let mut c = session(secure, v1_client_config(&pki, client));
    let (e, _) = c.request(
        op::CREATE,
        create(
            "/v1",
            b"ok",
            &[(PERMS_ALL, "x509", "CN=v1client,O=Example")],
        ),
    );
    assert_eq!(
        e,
        err::OK,
        "the v1 certificate's subject is its x509 id: {}",
        server.log()
    );
    let (e, body) = c.request(op::GET_DATA, get_data("/v1"));
    assert_eq!(e, err::OK);
    assert_eq!(In::new(&body).buffer().unwrap(), b"ok");
    // A v1 certificate from a CA the server does not trust is refused.
    let stranger = Pki::new("v1-stranger");
    let foreign = v1_client(&stranger, "foreign-v1", "/CN=v1client");
    let config = v1_client_config(&pki, foreign);
    let mut refused = TlsConn::open(secure, config);
    assert!(
        refused.handshake().is_err(),
        "a v1 certificate of an untrusted CA must not get a session"
    );
}
