//! Key and trust stores as operators bring them from Apache ZooKeeper, made at run time by
//! Debian's JDK `keytool` and by `openssl` in the test's temp dir: JKS and PKCS12 stores
//! with passwords, PKCS#8 keys encrypted in PEM, passwords given inline or by
//! `passwordPath`. Each kind serves a TLS client that must present a certificate the trust
//! store accepts (`ssl.clientAuth=need`), against ringkeeper and, with
//! `RK_TEST_SERVER=apache`, Apache. Broken stores must stop ringkeeper at start-up with a
//! message naming the file; those messages are ringkeeper's, so that test runs against
//! ringkeeper alone.

use super::*;

const STORE_PASSWORD: &str = "store-secret";
const TRUST_PASSWORD: &str = "trust-secret";

/// The server's key and certificate as separate PEM files, and the CA, in `pki.dir`.
struct Material {
    key: PathBuf,
    cert: PathBuf,
    ca: PathBuf,
}

fn material(pki: &Pki) -> Material {
    let (cert, key, _) = pki.issue(&[(DnType::CommonName, "server")], Some(Ipv4Addr::LOCALHOST));
    Material {
        key: pki.write("server-key.pem", &key),
        cert: pki.write("server-cert.pem", &cert),
        ca: pki.write("ca.pem", &pki.ca_pem),
    }
}

/// Runs keytool or openssl in `pki.dir`; the test fails with the tool's output if it does.
fn tool(pki: &Pki, program: &str, args: &[&str]) {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(&pki.dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

/// A PKCS12 key store made by `openssl pkcs12 -export` (OpenSSL 3: AES-256-CBC, PBKDF2).
fn openssl_pkcs12(pki: &Pki, m: &Material, name: &str, password: &str) -> PathBuf {
    let out = pki.dir.join(name);
    tool(
        pki,
        "openssl",
        &[
            "pkcs12",
            "-export",
            "-name",
            "server",
            "-inkey",
            &path_arg(&m.key),
            "-in",
            &path_arg(&m.cert),
            "-out",
            &path_arg(&out),
            "-passout",
            &format!("pass:{password}"),
        ],
    );
    out
}

/// A JKS key store made by keytool from a PKCS12 one, with its own store and key passwords.
fn keytool_jks(pki: &Pki, m: &Material, name: &str, store_pw: &str, key_pw: &str) -> PathBuf {
    let p12 = openssl_pkcs12(pki, m, &format!("{name}.src.p12"), "transfer");
    let out = pki.dir.join(name);
    tool(
        pki,
        "keytool",
        &[
            "-importkeystore",
            "-noprompt",
            "-srckeystore",
            &path_arg(&p12),
            "-srcstoretype",
            "PKCS12",
            "-srcstorepass",
            "transfer",
            "-srcalias",
            "server",
            "-destalias",
            "server",
            "-destkeystore",
            &path_arg(&out),
            "-deststoretype",
            "JKS",
            "-deststorepass",
            store_pw,
            "-destkeypass",
            key_pw,
        ],
    );
    out
}

/// A trust store with the CA as a trusted certificate entry, made by keytool.
fn keytool_trust_store(pki: &Pki, m: &Material, name: &str, kind: &str) -> PathBuf {
    let out = pki.dir.join(name);
    tool(
        pki,
        "keytool",
        &[
            "-importcert",
            "-noprompt",
            "-alias",
            "ca",
            "-file",
            &path_arg(&m.ca),
            "-keystore",
            &path_arg(&out),
            "-storetype",
            kind,
            "-storepass",
            TRUST_PASSWORD,
        ],
    );
    out
}

/// OpenSSL 3's default PKCS#8 encryption: PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC.
const PBES2_AES: &[&str] = &["-v2", "aes-256-cbc"];
/// PKCS#12's PBE with SHA-1 and 3DES, the encryption Java 17 (so Apache 3.8) can open.
const PBE_SHA1_3DES: &[&str] = &["-v1", "PBE-SHA1-3DES"];

/// A PEM key store whose key is PKCS#8 encrypted by `openssl pkcs8 -topk8` with `cipher`,
/// followed by the certificate.
fn encrypted_pem(pki: &Pki, m: &Material, name: &str, password: &str, cipher: &[&str]) -> PathBuf {
    let key = pki.dir.join(format!("{name}.key"));
    let mut args = vec!["pkcs8", "-topk8"];
    args.extend_from_slice(cipher);
    tool(
        pki,
        "openssl",
        &[
            &args[..],
            &[
                "-in",
                &path_arg(&m.key),
                "-out",
                &path_arg(&key),
                "-passout",
                &format!("pass:{password}"),
            ],
        ]
        .concat(),
    );
    let text = std::fs::read_to_string(&key).unwrap() + &std::fs::read_to_string(&m.cert).unwrap();
    assert!(text.contains("BEGIN ENCRYPTED PRIVATE KEY"), "{text}");
    pki.write(name, &text)
}

/// A password file as operators write them, with a trailing newline.
fn password_file(pki: &Pki, name: &str, password: &str) -> PathBuf {
    pki.write(name, &format!("{password}\n"))
}

/// A client with a certificate from `pki`'s CA creates a node over TLS.
fn serves_a_tls_client(pki: &Pki, address: SocketAddr, node: &str) {
    let config = client_config(pki, Some(pki.client(&[(DnType::CommonName, "client")])));
    let mut c = session(address, config);
    let (e, _) = c.request(
        op::CREATE,
        create(node, b"v", &[(PERMS_ALL, "world", "anyone")]),
    );
    assert_eq!(e, err::OK);
    let (e, _) = c.request(op::GET_DATA, get_data(node));
    assert_eq!(e, err::OK);
}

#[test]
fn jks_key_and_trust_stores_with_passwords_serve_a_tls_client() {
    let pki = Pki::new("jks-serve");
    let m = material(&pki);
    let key_store = keytool_jks(&pki, &m, "server.jks", STORE_PASSWORD, STORE_PASSWORD);
    let trust_store = keytool_trust_store(&pki, &m, "trust.jks", "JKS");
    let trust_pw = password_file(&pki, "trust.pw", TRUST_PASSWORD);
    // Types come from the .jks names; the trust password from its file.
    let (_server, address) = start_secure(vec![
        format!("ssl.keyStore.location={}", key_store.display()),
        format!("ssl.keyStore.password={STORE_PASSWORD}"),
        format!("ssl.trustStore.location={}", trust_store.display()),
        format!("ssl.trustStore.passwordPath={}", trust_pw.display()),
        "ssl.clientAuth=need".to_string(),
    ]);
    serves_a_tls_client(&pki, address, "/jks");
}

#[test]
fn pkcs12_key_and_trust_stores_with_passwords_serve_a_tls_client() {
    let pki = Pki::new("p12-serve");
    let m = material(&pki);
    let key_store = openssl_pkcs12(&pki, &m, "server.p12", STORE_PASSWORD);
    let key_pw = password_file(&pki, "key.pw", STORE_PASSWORD);
    let trust_store = keytool_trust_store(&pki, &m, "trust.p12", "PKCS12");
    let (_server, address) = start_secure(vec![
        format!("ssl.keyStore.location={}", key_store.display()),
        format!("ssl.keyStore.passwordPath={}", key_pw.display()),
        format!("ssl.trustStore.location={}", trust_store.display()),
        "ssl.trustStore.type=pkcs12".to_string(),
        format!("ssl.trustStore.password={TRUST_PASSWORD}"),
        "ssl.clientAuth=need".to_string(),
    ]);
    serves_a_tls_client(&pki, address, "/p12");
}

#[test]
fn an_encrypted_pem_key_with_its_password_serves_a_tls_client() {
    if common::server::Flavor::from_env() == common::server::Flavor::Apache {
        // Apache 3.8 on Java 17 cannot open the PBES2 keys OpenSSL 3 writes ("PBES2
        // SecretKeyFactory not available"); ringkeeper reads them (docs/compatibility.md).
        return;
    }
    let pki = Pki::new("pem-serve");
    let m = material(&pki);
    let key_store = encrypted_pem(&pki, &m, "server.pem", STORE_PASSWORD, PBES2_AES);
    let (_server, address) = start_secure(vec![
        format!("ssl.keyStore.location={}", key_store.display()),
        format!("ssl.keyStore.password={STORE_PASSWORD}"),
        format!("ssl.trustStore.location={}", m.ca.display()),
        "ssl.clientAuth=need".to_string(),
    ]);
    serves_a_tls_client(&pki, address, "/pem");
}

#[test]
fn a_pem_key_encrypted_as_java_reads_it_serves_a_tls_client() {
    let pki = Pki::new("pem3des-serve");
    let m = material(&pki);
    let key_store = encrypted_pem(&pki, &m, "server.pem", STORE_PASSWORD, PBE_SHA1_3DES);
    let key_pw = password_file(&pki, "key.pw", STORE_PASSWORD);
    let (_server, address) = start_secure(vec![
        format!("ssl.keyStore.location={}", key_store.display()),
        format!("ssl.keyStore.passwordPath={}", key_pw.display()),
        format!("ssl.trustStore.location={}", m.ca.display()),
        "ssl.clientAuth=need".to_string(),
    ]);
    serves_a_tls_client(&pki, address, "/pem3des");
}

/// Starts the ringkeeper binary on `ssl_config` and returns its output once it has exited
/// with a failure; the test fails if it starts serving instead.
fn start_up_error(pki: &Pki, ssl_config: &[String]) -> String {
    let data = pki.dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let cfg = pki.write(
        "zoo.cfg",
        &format!(
            "tickTime=2000\ndataDir={}\nclientPort={}\nsecureClientPort={}\n{}\n",
            data.display(),
            free_port(Ipv4Addr::LOCALHOST),
            free_port(Ipv4Addr::LOCALHOST),
            ssl_config.join("\n")
        ),
    );
    let out = pki.dir.join("out.log");
    let err = pki.dir.join("err.log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ringkeeper"))
        .arg(&cfg)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    // A refused configuration exits at once; a server that started is killed and fails.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = std::fs::read_to_string(&out).unwrap_or_default()
        + &std::fs::read_to_string(&err).unwrap_or_default();
    let status = status.unwrap_or_else(|| panic!("{ssl_config:?} must stop the server: {text}"));
    assert!(!status.success(), "{text}");
    text
}

fn assert_names(text: &str, file: &Path, phrase: &str) {
    assert!(
        text.contains(&file.display().to_string()) && text.contains(phrase),
        "expected {} and {phrase:?} in: {text}",
        file.display()
    );
}

#[test]
fn wrong_passwords_and_wrong_types_stop_the_server_naming_the_file() {
    if common::server::Flavor::from_env() == common::server::Flavor::Apache {
        return; // The start-up messages checked here are ringkeeper's.
    }
    let pki = Pki::new("store-errors");
    let m = material(&pki);
    let location = |p: &Path| format!("ssl.keyStore.location={}", p.display());

    let jks = keytool_jks(&pki, &m, "server.jks", STORE_PASSWORD, STORE_PASSWORD);
    let text = start_up_error(&pki, &[location(&jks), "ssl.keyStore.password=nope".into()]);
    assert_names(&text, &jks, "does not open with the configured password");
    let text = start_up_error(&pki, &[location(&jks)]);
    assert_names(
        &text,
        &jks,
        "protected by a password and none is configured",
    );

    // Apache opens the key with the store password, so a different key password fails.
    let split = keytool_jks(&pki, &m, "split.jks", STORE_PASSWORD, "other-key-pass");
    let text = start_up_error(
        &pki,
        &[
            location(&split),
            format!("ssl.keyStore.password={STORE_PASSWORD}"),
        ],
    );
    assert_names(&text, &split, "does not open its private key");

    let p12 = openssl_pkcs12(&pki, &m, "server.p12", STORE_PASSWORD);
    let text = start_up_error(&pki, &[location(&p12), "ssl.keyStore.password=nope".into()]);
    assert_names(&text, &p12, "does not open with the configured password");

    let pem = encrypted_pem(&pki, &m, "encrypted.pem", STORE_PASSWORD, PBES2_AES);
    let text = start_up_error(&pki, &[location(&pem), "ssl.keyStore.password=nope".into()]);
    assert_names(&text, &pem, "does not open with the configured password");
    let text = start_up_error(&pki, &[location(&pem)]);
    assert_names(
        &text,
        &pem,
        "protected by a password and none is configured",
    );
    let pem3des = encrypted_pem(&pki, &m, "3des.pem", STORE_PASSWORD, PBE_SHA1_3DES);
    let text = start_up_error(
        &pki,
        &[location(&pem3des), "ssl.keyStore.password=nope".into()],
    );
    assert_names(
        &text,
        &pem3des,
        "does not open with the configured password",
    );

    // A wrong type: PEM text named PKCS12, and a JKS store named PEM.
    let text = start_up_error(&pki, &[location(&pem), "ssl.keyStore.type=PKCS12".into()]);
    assert_names(&text, &pem, "type is PKCS12 but the file is a PEM file");
    let text = start_up_error(&pki, &[location(&jks), "ssl.keyStore.type=PEM".into()]);
    assert_names(&text, &jks, "type is PEM but the file is a JKS store");

    // The trust store's password is checked too, and blamed on its key.
    let trust = keytool_trust_store(&pki, &m, "trust.jks", "JKS");
    let text = start_up_error(
        &pki,
        &[
            location(&jks),
            format!("ssl.keyStore.password={STORE_PASSWORD}"),
            format!("ssl.trustStore.location={}", trust.display()),
            "ssl.trustStore.password=nope".into(),
        ],
    );
    assert_names(&text, &trust, "ssl.trustStore.password");
}
