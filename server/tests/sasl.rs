//! SASL DIGEST-MD5 (opcode 102) driven by hand, the way kazoo (pure-sasl) and Apache's Java
//! client run it: an empty first token, the server's challenge, the client's response, the
//! server's `rspauth`. Users come from a JAAS file; `sasl:<user>` ACLs then match, and the
//! `zookeeper.superUser` user bypasses ACLs. Runs against Apache too (`RK_TEST_SERVER=apache`),
//! which reads the JAAS file from `JAVA_TOOL_OPTIONS`.

mod common;

use std::time::Duration;

use common::jute::{err, op, Out};
use common::server::Flavor;
use common::*;
use md5::{Digest as _, Md5};

const SASL: i32 = 102;
const GET_ACL_OP: i32 = 6;
const SET_ACL_OP: i32 = 7;
const AUTH_FAILED: i32 = -115;
const NO_AUTH: i32 = -102;
const PERMS_ALL: i32 = 31;

const JAAS: &str = "Server {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    user_super=\"super_secret\"\n    user_jaasuser=\"jaas_password\";\n};\n";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of `key` in a DIGEST-MD5 challenge (quoted or not).
fn directive(text: &str, key: &str) -> Option<String> {
    text.split(',').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// RFC 2831 section 2.1.2.1 computed on the client side: the response directive list and
/// the `rspauth` the server must send back.
fn client_response(user: &str, password: &str, realm: &str, nonce: &str) -> (String, String) {
    let cnonce = "OA6MHXh6VqTrRk";
    let uri = "zookeeper/zk-sasl-md5";
    let md5hex = |b: &[u8]| hex(&Md5::digest(b));
    let mut a1 = Md5::digest(format!("{user}:{realm}:{password}").as_bytes()).to_vec();
    a1.extend_from_slice(format!(":{nonce}:{cnonce}").as_bytes());
    let ha1 = md5hex(&a1);
    let kd = |a2: &str| {
        md5hex(
            format!(
                "{ha1}:{nonce}:00000001:{cnonce}:auth:{}",
                md5hex(a2.as_bytes())
            )
            .as_bytes(),
        )
    };
    let response = kd(&format!("AUTHENTICATE:{uri}"));
    let text = format!(
        "charset=utf-8,username=\"{user}\",realm=\"{realm}\",nonce=\"{nonce}\",nc=00000001,cnonce=\"{cnonce}\",digest-uri=\"{uri}\",maxbuf=65536,response={response},qop=auth"
    );
    (text, kd(&format!(":{uri}")))
}

/// An operation's name, the permission bits any one of which allows it, and how to run it
/// on a node.
type Check = (&'static str, i32, fn(&mut RawConn, &str) -> i32);

fn sasl_token(token: &[u8]) -> Out {
    Out::new().buffer(token)
}

/// Runs the whole exchange; returns the final reply's error code.
fn authenticate(conn: &mut RawConn, user: &str, password: &str) -> i32 {
    let first = conn.request(SASL, sasl_token(b""));
    assert_eq!(first.err, err::OK, "the first step answers a challenge");
    let challenge = first.reader().buffer().expect("a challenge token");
    let challenge = String::from_utf8(challenge).expect("the challenge is text");
    let realm = directive(&challenge, "realm").expect("a realm");
    assert_eq!(realm, "zk-sasl-md5", "{challenge}");
    let nonce = directive(&challenge, "nonce").expect("a nonce");
    // Apache's challenge offers no qop directive (RFC 2831: `auth` then), a 40-character
    // nonce, UTF-8 and md5-sess.
    assert!(
        challenge.ends_with(",charset=utf-8,algorithm=md5-sess"),
        "{challenge}"
    );
    assert_eq!(nonce.len(), 40, "{challenge}");
    let (response, rspauth) = client_response(user, password, &realm, &nonce);
    let Ok(last) = conn.try_request(SASL, sasl_token(response.as_bytes())) else {
        return AUTH_FAILED;
    };
    if last.err == err::OK {
        let token = last.reader().buffer().expect("an rspauth token");
        assert_eq!(
            String::from_utf8(token).expect("text"),
            format!("rspauth={rspauth}")
        );
    } else {
        // Apache sends a SetSASLResponse with a null token alongside the error.
        assert_eq!(last.reader().buffer(), None);
    }
    last.err
}

fn create(conn: &mut RawConn, path: &str, acl: &[(i32, &str, &str)]) -> i32 {
    let body = Out::new().string(path).buffer(b"d").acls(acl).int(0);
    conn.request(op::CREATE, body).err
}

fn get_data(conn: &mut RawConn, path: &str) -> i32 {
    conn.request(op::GET_DATA, Out::new().string(path).boolean(false))
        .err
}

fn start(extra: Vec<String>) -> (TestServer, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("rk-sasl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let jaas = dir.join("jaas.conf");
    std::fs::write(&jaas, JAAS).expect("writing jaas.conf");
    let mut extra_config = extra;
    extra_config
        .push("authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider".into());
    if Flavor::from_env() == Flavor::Apache {
        // Apache reads the JAAS file only as a JVM system property; the harness has no
        // field for arbitrary -D options, and the JVM also reads them from this variable.
        // This is the only test of this binary, so no other thread reads the environment.
        std::env::set_var(
            "JAVA_TOOL_OPTIONS",
            format!("-Djava.security.auth.login.config={}", jaas.display()),
        );
    } else {
        extra_config.push(format!(
            "java.security.auth.login.config={}",
            jaas.display()
        ));
    }
    let server = TestServer::start(ServerOptions {
        extra_config,
        ..Default::default()
    });
    (server, dir)
}

#[test]
fn digest_md5_exchange_identity_acls_failure_and_super_user() {
    // First a server without a JAAS file (before `start` sets JAVA_TOOL_OPTIONS).
    {
        let plain = TestServer::start_default();
        let (mut conn, _) = RawConn::new_session(&plain, 10_000);
        // Apache answers Ok with a null token, which leaves a SASL client nothing to do
        // but ask again, and keeps the connection.
        let reply = conn.request(SASL, sasl_token(b""));
        assert_eq!(reply.err, err::OK);
        assert_eq!(reply.reader().buffer(), None);
        assert_eq!(get_data(&mut conn, "/"), err::OK);
    }
    let (server, dir) = start(vec!["superUser=super".into()]);
    let timeout = 10_000;

    // A good exchange gives the connection the id sasl:jaasuser.
    let (mut alice, _) = RawConn::new_session(&server, timeout);
    assert_eq!(
        authenticate(&mut alice, "jaasuser", "jaas_password"),
        err::OK
    );
    assert_eq!(
        create(&mut alice, "/s", &[(PERMS_ALL, "sasl", "jaasuser")]),
        err::OK
    );
    assert_eq!(get_data(&mut alice, "/s"), err::OK);
    // `auth` expands to the SASL identity.
    assert_eq!(
        create(&mut alice, "/a", &[(PERMS_ALL, "auth", "")]),
        err::OK
    );
    let acl = alice.request(GET_ACL_OP, Out::new().string("/a"));
    assert_eq!(acl.err, err::OK);
    let mut r = acl.reader();
    assert_eq!(r.int(), 1, "one ACL entry");
    assert_eq!(r.int(), PERMS_ALL);
    assert_eq!(
        (r.string(), r.string()),
        ("sasl".to_owned(), "jaasuser".to_owned())
    );

    // Nobody else may read it.
    let (mut stranger, _) = RawConn::new_session(&server, timeout);
    assert_eq!(get_data(&mut stranger, "/s"), NO_AUTH);
    assert_eq!(get_data(&mut stranger, "/a"), NO_AUTH);

    // The configured super user passes every ACL.
    let (mut root, _) = RawConn::new_session(&server, timeout);
    assert_eq!(authenticate(&mut root, "super", "super_secret"), err::OK);
    assert_eq!(
        create(&mut root, "/d", &[(PERMS_ALL, "digest", "x:y")]),
        err::OK
    );
    assert_eq!(get_data(&mut root, "/d"), err::OK);
    assert_eq!(get_data(&mut root, "/s"), err::OK);

    // A wrong password or an unknown user: AuthFailed with a null token, then the close.
    for (user, password) in [("jaasuser", "wrong"), ("baduser", "badpassword")] {
        let (mut bad, _) = RawConn::new_session(&server, timeout);
        assert_eq!(authenticate(&mut bad, user, password), AUTH_FAILED);
        assert!(bad.closed_by_server(Duration::from_secs(5)));
    }

    // Garbage as the response is a failure, not a crash.
    let (mut junk, _) = RawConn::new_session(&server, timeout);
    assert_eq!(junk.request(SASL, sasl_token(b"")).err, err::OK);
    if let Ok(reply) = junk.try_request(SASL, sasl_token(b"\xff\x00not=digest,,==")) {
        assert_eq!(reply.err, AUTH_FAILED);
    }
    assert!(junk.closed_by_server(Duration::from_secs(5)));

    // Garbage as the first token: DIGEST-MD5 takes no initial response, and Apache (Java's
    // server) ignores it and sends the challenge; the exchange then goes on as usual.
    let (mut early, _) = RawConn::new_session(&server, timeout);
    let reply = early.request(SASL, sasl_token(b"\xff\x00not=digest,,=="));
    assert_eq!(reply.err, err::OK);
    let challenge = reply.reader().buffer().expect("a challenge token");
    let challenge = String::from_utf8(challenge).expect("the challenge is text");
    let nonce = directive(&challenge, "nonce").expect("a nonce");
    let (response, _) = client_response("jaasuser", "jaas_password", "zk-sasl-md5", &nonce);
    assert_eq!(
        early.request(SASL, sasl_token(response.as_bytes())).err,
        err::OK
    );
    assert_eq!(get_data(&mut early, "/s"), err::OK);

    // Each permission bit of a `sasl:jaasuser` entry allows exactly its operations, as
    // for every other scheme (server/tests/acl_audit.rs has the full matrix).
    let checks: [Check; 6] = [
        ("getData", 1, |c, n| get_data(c, n)),
        ("setData", 2, |c, n| {
            c.request(op::SET_DATA, Out::new().string(n).buffer(b"y").int(-1))
                .err
        }),
        ("create child", 4, |c, n| {
            create(c, &format!("{n}/new"), &[(PERMS_ALL, "world", "anyone")])
        }),
        ("delete child", 8, |c, n| {
            c.request(op::DELETE, Out::new().string(&format!("{n}/child")).int(-1))
                .err
        }),
        ("getACL", 1 | 16, |c, n| {
            c.request(GET_ACL_OP, Out::new().string(n)).err
        }),
        ("setACL", 16, |c, n| {
            let body = Out::new()
                .string(n)
                .acls(&[(PERMS_ALL, "sasl", "jaasuser")])
                .int(-1);
            c.request(SET_ACL_OP, body).err
        }),
    ];
    let mut differences = Vec::new();
    for bit in [1, 2, 4, 8, 16] {
        for (name, needs, run) in checks {
            let node = format!("/bit{bit}-{}", name.replace(' ', "_"));
            assert_eq!(
                create(&mut root, &node, &[(bit, "sasl", "jaasuser")]),
                err::OK
            );
            let child = format!("{node}/child");
            assert_eq!(
                create(&mut root, &child, &[(PERMS_ALL, "world", "anyone")]),
                err::OK
            );
            let expected = if needs & bit != 0 { err::OK } else { NO_AUTH };
            let got = run(&mut alice, &node);
            if got != expected {
                differences.push(format!(
                    "only bit {bit}: {name} answered {got}, not {expected}"
                ));
            }
        }
    }
    assert!(differences.is_empty(), "{differences:#?}");

    // The server still serves after all that.
    assert_eq!(get_data(&mut alice, "/s"), err::OK);
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
