//! Loading real-world zoo.cfg files, every refusal, flag precedence, the
//! `conf` rendering, and the documentation check.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::containers::ContainerReaping;
use crate::fourlw::{whitelist_allows, Command};

/// A scratch directory removed on drop; unique per process and test.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ringkeeper-config-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&path, contents).expect("write scratch file");
        path
    }

    fn data_dir(&self) -> String {
        let dir = self.path("data");
        std::fs::create_dir_all(&dir).expect("create data dir");
        dir.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load(args: &[&str]) -> Result<Config, ConfigError> {
    let mut all = vec!["ringkeeper"];
    all.extend_from_slice(args);
    Config::load(all)
}

fn load_file(path: &Path, extra: &[&str]) -> Result<Config, ConfigError> {
    let path = path.display().to_string();
    let mut args: Vec<&str> = extra.to_vec();
    args.push(&path);
    load(&args)
}

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("socket address")
}

/// The zoo.cfg kazoo 2.11's harness writes for one member (kazoo/testing/common.py),
/// with the entries its harness adds for ZooKeeper >= 3.5. Its stores are JKS files; here
/// PEM stand-ins (`keystore.pem`, `truststore.pem`; see `load_kazoo`) keep keytool out of
/// the unit tests, and `tests/tls/stores.rs` and kazoo's own TLS test read real JKS.
fn kazoo_zoo_cfg(data_dir: &str, base: u16) -> String {
    format!(
        "\ntickTime=2000\ndataDir={data_dir}\nclientPort={}\nsecureClientPort={}\nmaxClientCnxns=0\nadmin.serverPort={}\nserverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\nauthProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\nssl.keyStore.location={data_dir}/../keystore.pem\nssl.keyStore.password=apassword\nssl.trustStore.location={data_dir}/../truststore.pem\nssl.trustStore.password=apassword\n4lw.commands.whitelist=*\nreconfigEnabled=true\nlocalSessionsEnabled=false\nlocalSessionsUpgradingEnabled=false\n",
        base,
        base + 4,
        base + 3
    )
}

/// The -D options kazoo's harness starts every member with.
const KAZOO_SYSTEM_PROPERTIES: &[&str] = &[
    "-Dfile.encoding=UTF-8",
    "-Dreadonlymode.enabled=true",
    "-Dzookeeper.log.dir=/tmp/kazoo/log",
    "-Dzookeeper.root.logger=INFO,CONSOLE",
    "-Dlog4j.configuration=file:/tmp/kazoo/log4j.properties",
    "-Djava.awt.headless=true",
    "-Djava.security.auth.login.config=JAAS",
    "-Dzookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=",
];

/// kazoo's -D options with the JAAS path pointing at `jaas` written into the scratch
/// directory: the harness always writes the file, empty unless a SASL test asks for users.
fn kazoo_properties(scratch: &Scratch, jaas: &str) -> Vec<String> {
    let path = scratch.write("jaas.conf", jaas);
    KAZOO_SYSTEM_PROPERTIES
        .iter()
        .map(|p| p.replace("=JAAS", &format!("={}", path.display())))
        .collect()
}

fn load_kazoo(scratch: &Scratch, cfg: &Path, jaas: &str) -> Result<Config, ConfigError> {
    write_pem_stores(scratch);
    let props = kazoo_properties(scratch, jaas);
    let props: Vec<&str> = props.iter().map(String::as_str).collect();
    load_file(cfg, &props)
}

/// A CA (`truststore.pem`) and a server key and certificate it signed (`keystore.pem`).
fn write_pem_stores(scratch: &Scratch) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let key = rcgen::KeyPair::generate().expect("server key");
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("server cert");
    scratch.write(
        "keystore.pem",
        &format!("{}{}", key.serialize_pem(), cert.pem()),
    );
    scratch.write("truststore.pem", &ca.pem());
}

#[test]
fn kazoo_standalone_member() {
    let scratch = Scratch::new();
    let data = scratch.data_dir();
    scratch.write("data/myid", "1");
    let cfg = scratch.write("zoo.cfg", &kazoo_zoo_cfg(&data, 20000));
    let config = load_kazoo(&scratch, &cfg, "").expect("kazoo's config loads");

    assert_eq!(config.tick_time_ms, 2000);
    assert_eq!(config.data_dir, PathBuf::from(&data));
    assert_eq!(config.data_log_dir, PathBuf::from(&data));
    // Apache binds every interface when zoo.cfg names no clientPortAddress.
    assert_eq!(config.client_address, addr("0.0.0.0:20000"));
    assert_eq!(config.secure_client_port, Some(20004));
    assert_eq!(config.max_client_cnxns_per_host, 0);
    assert_eq!(config.min_session_timeout_ms, 4000);
    assert_eq!(config.max_session_timeout_ms, 40000);
    assert!(config.reconfig_enabled);
    assert!(!config.local_sessions_enabled);
    assert!(config.read_only_mode_enabled);
    assert_eq!(config.my_id, Some(1));
    assert!(!config.is_ensemble());
    assert_eq!(
        config.super_digest,
        Some(SuperDigest {
            user: "super".into(),
            digest: "D/InIHSb7yEEbrWz8b9l71RjZJU=".into()
        })
    );
    for cmd in Command::ALL {
        assert!(whitelist_allows(config.whitelist(), cmd), "{cmd:?}");
    }
    assert_eq!(config.packet_limit_bytes, DEFAULT_PACKET_LIMIT_BYTES);
    // authProvider.1 names the SASL provider; the secure client port brings x509.
    assert_eq!(
        config.acl_schemes,
        ringkeeper_engine::acl::AclSchemes {
            sasl: true,
            x509: true
        }
    );

    // Everything ringkeeper does not act on is reported, nothing refused.
    let warnings = config.warnings().join("\n");
    // kazoo's harness sets admin.serverPort, which asks for the admin server,
    // on every interface as in Apache.
    assert!(config.admin.enabled);
    assert_eq!(config.admin.address, addr("0.0.0.0:20003"));
    assert_eq!(config.admin.command_url, "/commands");
    assert!(!warnings.contains("admin.serverPort"), "{warnings}");
    for key in [
        "serverCnxnFactory",
        "file.encoding",
        "log.dir",
        "root.logger",
        "log4j.configuration",
    ] {
        assert!(warnings.contains(key), "no warning for {key}:\n{warnings}");
    }
    assert!(!warnings.contains("tickTime"));
    assert!(!warnings.contains("superDigest"));
    // The key and trust stores serve the TLS port.
    assert!(!warnings.contains("ssl."), "{warnings}");
    let secure = config.secure_client.as_ref().expect("a TLS port");
    assert_eq!(secure.address, addr("0.0.0.0:20004"));
    assert_eq!(secure.server.client_auth, crate::net::tls::ClientAuth::Need);
    // The JAAS file carries the SASL users, so it is used, not warned about.
    assert!(!warnings.contains("java.security.auth.login.config"));
}

#[test]
fn kazoo_three_member_ensemble() {
    let scratch = Scratch::new();
    let data = scratch.data_dir();
    scratch.write("data/myid", "2");
    let mut text = kazoo_zoo_cfg(&data, 20010);
    text.push_str(
        "\ninitLimit=4\nsyncLimit=2\nserver.1=localhost:20002:20001:participant\nserver.2=localhost:20012:20011:participant\nserver.3=localhost:20022:20021:participant\npeerType=participant\n",
    );
    let cfg = scratch.write("zoo.cfg", &text);
    let config = load_kazoo(&scratch, &cfg, "").expect("ensemble config loads");

    assert!(config.is_ensemble());
    assert_eq!(config.my_id, Some(2));
    assert_eq!(config.init_limit_ticks, Some(4));
    assert_eq!(config.sync_limit_ticks, Some(2));
    let ids: Vec<u64> = config.servers.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    let own = config.own_member().expect("own member");
    assert_eq!(own.addresses[0].quorum_port, 20012);
    assert_eq!(own.addresses[0].election_port, 20011);
    assert_eq!(config.client_address, addr("0.0.0.0:20010"));
    assert_eq!(config.peer_type, PeerType::Participant);
}

#[test]
fn apache_zoo_sample_cfg() {
    let scratch = Scratch::new();
    let data = scratch.data_dir();
    // Apache's conf/zoo_sample.cfg (3.8), with dataDir pointed at scratch
    // space so the test never reads a real /tmp/zookeeper/myid.
    let sample = include_str!("testdata/zoo_sample.cfg").replace("/tmp/zookeeper", &data);
    let cfg = scratch.write("zoo.cfg", &sample);
    let config = load_file(&cfg, &[]).expect("sample loads");
    assert_eq!(config.tick_time_ms, 2000);
    assert_eq!(config.init_limit_ticks, Some(10));
    assert_eq!(config.sync_limit_ticks, Some(5));
    assert_eq!(config.client_address, addr("0.0.0.0:2181"));
    assert_eq!(config.max_client_cnxns_per_host, 60);
    assert_eq!(config.snap_retain_count, 3);
    assert_eq!(config.purge_interval_hours, 0);
    assert_eq!(config.my_id, None);
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
    assert_eq!(config.whitelist(), &crate::fourlw::Whitelist::default());
    assert!(whitelist_allows(config.whitelist(), Command::Srvr));
    assert!(!whitelist_allows(config.whitelist(), Command::Ruok));
    assert!(!whitelist_allows(config.whitelist(), Command::Isro));
}

#[test]
fn no_config_at_all_gives_a_local_standalone_server() {
    let config = load(&[]).expect("defaults load");
    assert_eq!(config.config_file, None);
    assert_eq!(config.client_address, addr("127.0.0.1:2181"));
    assert_eq!(config.data_dir, PathBuf::from("./data"));
    assert_eq!(config.tick_time_ms, 2000);
    assert_eq!(config.min_session_timeout_ms, 4000);
    assert_eq!(config.max_session_timeout_ms, 40000);
    assert_eq!(config.max_client_cnxns_per_host, 60);
    assert_eq!(config.packet_limit_bytes, 0xfffff);
    assert!(config.force_sync);
    assert!(!config.is_ensemble());
    assert_eq!(config.shards, None);
    assert_eq!(config.reported_version, default_reported_version());
    // Apache's default: no sasl or x509 provider, so such ACLs are InvalidACL.
    assert_eq!(config.acl_schemes, Default::default());
    assert!(config.reported_version.starts_with("3.8.4-ringkeeper-"));
    assert!(config.warnings().is_empty());
}

#[test]
fn flags_alone_keep_the_default_port() {
    let config = load(&["--client-port-address", "0.0.0.0", "--data-dir", "x"]).expect("loads");
    assert_eq!(config.client_address, addr("0.0.0.0:2181"));
    let config = load(&["--client-port", "2182"]).expect("loads");
    assert_eq!(config.client_address, addr("127.0.0.1:2182"));
}

#[test]
fn flags_override_the_file_and_named_flags_override_dash_d() {
    let scratch = Scratch::new();
    let data = scratch.data_dir();
    let other = scratch.path("elsewhere").display().to_string();
    let cfg = scratch.write(
        "zoo.cfg",
        &format!("tickTime=2000\ndataDir={data}\nclientPort=2181\nsnapCount=10\njute.maxbuffer=4096\nmaxClientCnxns=10\n"),
    );
    let config = load_file(
        &cfg,
        &[
            "--client-port",
            "3000",
            "--client-port-address",
            "127.0.0.2",
            "-D",
            "tickTime=999",
            "--tick-time",
            "500",
            "--set",
            "snapCount=5000",
            "-Dzookeeper.forceSync=no",
            "--data-log-dir",
            &other,
            "--max-client-cnxns",
            "7",
            "--min-session-timeout",
            "1000",
            "--max-session-timeout",
            "90000",
            "--shards",
            "4",
            "--sequencer-core",
            "0",
            "--packet-limit",
            "2097152",
            "--super-digest",
            "admin:D/InIHSb7yEEbrWz8b9l71RjZJU=",
            "--extended-types",
            "--4lw-whitelist",
            "ruok, mntr ,conf",
            "-Dringkeeper.maxSessions=10",
            "-Dringkeeper.maxWatchesPerSession=20",
            "-Dringkeeper.reportedVersion=3.9.2-custom",
        ],
    )
    .expect("overrides load");
    assert_eq!(config.client_address, addr("127.0.0.2:3000"));
    assert_eq!(config.tick_time_ms, 500);
    assert_eq!(config.snap_count, 5000);
    assert!(!config.force_sync);
    assert_eq!(config.data_log_dir, PathBuf::from(&other));
    assert_eq!(config.max_client_cnxns_per_host, 7);
    assert_eq!(config.min_session_timeout_ms, 1000);
    assert_eq!(config.max_session_timeout_ms, 90000);
    assert_eq!(config.shards, Some(4));
    assert_eq!(config.sequencer_core, Some(0));
    assert_eq!(config.packet_limit_bytes, 2_097_152);
    assert_eq!(
        config.super_digest.as_ref().map(|d| d.user.as_str()),
        Some("admin")
    );
    assert!(config.extended_types);
    assert_eq!(config.max_sessions, 10);
    assert_eq!(config.max_watches_per_session, 20);
    assert_eq!(config.reported_version, "3.9.2-custom");
    let allowed: Vec<Command> = config.whitelist().commands().collect();
    assert_eq!(
        allowed,
        vec![Command::Conf, Command::Ruok, Command::Srvr, Command::Mntr]
    );
}

#[test]
fn dash_d_overrides_the_file_and_aliases_share_one_setting() {
    let scratch = Scratch::new();
    let data = scratch.data_dir();
    let cfg = scratch.write(
        "zoo.cfg",
        &format!("dataDir={data}\nclientPort=2181\nringkeeper.packetLimit=1000\nextendedTypesEnabled=true\n"),
    );
    // The Apache name given later on the command line wins over the file's
    // ringkeeper name, because both name the same setting.
    let config = load_file(
        &cfg,
        &[
            "-Djute.maxbuffer=2000",
            "-Dzookeeper.extendedTypesEnabled=false",
        ],
    )
    .expect("loads");
    assert_eq!(config.packet_limit_bytes, 2000);
    assert!(!config.extended_types);
    let config = load_file(&cfg, &[]).expect("loads");
    assert_eq!(config.packet_limit_bytes, 1000);
    assert!(config.extended_types);
}

#[test]
fn unknown_and_ignored_keys_warn_and_never_fail() {
    let scratch = Scratch::new();
    let data = scratch.data_dir();
    let cfg = scratch.write(
        "zoo.cfg",
        &format!("dataDir={data}\nclientPort=2181\nnoSuchSetting=1\nmetricsProvider.className=x.Y\ngroup.1=1:2\nweight.1=1\nquorum.cnxn.threads.size=20\nadmin.enableServer=false\nautopurge.snapRetainCount=1\n"),
    );
    let config = load_file(&cfg, &["-Dsome.other.property=1"]).expect("loads");
    let warnings = config.warnings().join("\n");
    assert!(warnings.contains("unknown key noSuchSetting"), "{warnings}");
    assert!(
        warnings.contains("unknown key some.other.property"),
        "{warnings}"
    );
    for key in [
        "metricsProvider.className",
        "group.1",
        "weight.1",
        "quorum.cnxn.threads.size",
    ] {
        assert!(warnings.contains(key), "{key}: {warnings}");
    }
    // admin.enableServer is acted on now, so it no longer warns.
    assert!(!warnings.contains("admin.enableServer"), "{warnings}");
    assert!(!config.admin.enabled);
    // Apache raises too small a retain count to 3, with a warning.
    assert_eq!(config.snap_retain_count, 3);
    assert!(
        warnings.contains("autopurge.snapRetainCount=1"),
        "{warnings}"
    );
    // Warnings name where the key was set.
    assert!(
        warnings.contains(&format!("{}:3", cfg.display())),
        "{warnings}"
    );
}

/// Loads a one-off zoo.cfg made of a valid base plus `extra` lines.
fn load_with(extra: &str) -> Result<Config, ConfigError> {
    let scratch = Scratch::new();
    let data = scratch.data_dir();
    let cfg = scratch.write(
        "zoo.cfg",
        &format!("dataDir={data}\nclientPort=2181\n{extra}\n"),
    );
    load_file(&cfg, &[])
}

/// Asserts an `InvalidValue` for `key` with `value`, set on `line` of zoo.cfg.
fn assert_invalid(result: Result<Config, ConfigError>, key: &str, value: &str, line: usize) {
    match result {
        Err(ConfigError::InvalidValue {
            key: k,
            value: v,
            origin,
            reason,
        }) => {
            assert_eq!((k.as_str(), v.as_str()), (key, value), "reason: {reason}");
            match origin {
                Origin::File { path, line: l } => {
                    assert!(path.ends_with("zoo.cfg"));
                    assert_eq!(l, line, "line of {key}");
                }
                other => panic!("{key}: origin {other:?}"),
            }
        }
        other => panic!("{key}={value}: expected InvalidValue, got {other:?}"),
    }
}

#[test]
fn invalid_values_name_key_value_and_line() {
    // Line 3 is the first `extra` line; a later duplicate key wins, as in
    // Java properties, so `clientPort` here replaces line 2's.
    assert_invalid(load_with("clientPort=abc"), "clientPort", "abc", 3);
    assert_invalid(load_with("clientPort=0"), "clientPort", "0", 3);
    assert_invalid(load_with("clientPort=65536"), "clientPort", "65536", 3);
    assert_invalid(load_with("clientPort=-1"), "clientPort", "-1", 3);
    assert_invalid(load_with("secureClientPort=x"), "secureClientPort", "x", 3);
    assert_invalid(load_with("tickTime=0"), "tickTime", "0", 3);
    assert_invalid(load_with("tickTime=-2000"), "tickTime", "-2000", 3);
    assert_invalid(load_with("tickTime=2s"), "tickTime", "2s", 3);
    assert_invalid(load_with("initLimit=ten"), "initLimit", "ten", 3);
    assert_invalid(load_with("maxClientCnxns=-1"), "maxClientCnxns", "-1", 3);
    assert_invalid(
        load_with("minSessionTimeout=0"),
        "minSessionTimeout",
        "0",
        3,
    );
    assert_invalid(
        load_with("maxSessionTimeout=x"),
        "maxSessionTimeout",
        "x",
        3,
    );
    assert_invalid(
        load_with("reconfigEnabled=yes"),
        "reconfigEnabled",
        "yes",
        3,
    );
    assert_invalid(
        load_with("standaloneEnabled=1"),
        "standaloneEnabled",
        "1",
        3,
    );
    assert_invalid(
        load_with("readonlymode.enabled=on"),
        "readonlymode.enabled",
        "on",
        3,
    );
    assert_invalid(load_with("electionAlg=1"), "electionAlg", "1", 3);
    assert_invalid(load_with("peerType=leader"), "peerType", "leader", 3);
    assert_invalid(load_with("snapCount=1"), "snapCount", "1", 3);
    assert_invalid(load_with("jute.maxbuffer=0"), "jute.maxbuffer", "0", 3);
    assert_invalid(
        load_with("ringkeeper.shards=0"),
        "ringkeeper.shards",
        "0",
        3,
    );
    assert_invalid(
        load_with("ringkeeper.maxSessions=-5"),
        "ringkeeper.maxSessions",
        "-5",
        3,
    );
    assert_invalid(
        load_with("ringkeeper.batchBytesMax=100"),
        "ringkeeper.batchBytesMax",
        "100",
        3,
    );
    assert_invalid(
        load_with("ringkeeper.batchTxnsMax=0"),
        "ringkeeper.batchTxnsMax",
        "0",
        3,
    );
    assert_invalid(
        load_with("ringkeeper.reportedVersion=ringkeeper"),
        "ringkeeper.reportedVersion",
        "ringkeeper",
        3,
    );
    assert_invalid(load_with("dataLogDir="), "dataLogDir", "", 3);
    assert_invalid(
        load_with("DigestAuthenticationProvider.superDigest=nocolon"),
        "DigestAuthenticationProvider.superDigest",
        "nocolon",
        3,
    );
    assert_invalid(
        load_with("ringkeeper.superDigest=super:not*base64"),
        "ringkeeper.superDigest",
        "super:not*base64",
        3,
    );
    assert_invalid(
        load_with("ringkeeper.superDigest=super:c2hvcnQ="),
        "ringkeeper.superDigest",
        "super:c2hvcnQ=",
        3,
    );
    assert_invalid(
        load_with("ringkeeper.superDigest=:D/InIHSb7yEEbrWz8b9l71RjZJU="),
        "ringkeeper.superDigest",
        ":D/InIHSb7yEEbrWz8b9l71RjZJU=",
        3,
    );
    assert_invalid(
        load_with("# comment\nserver.1=localhost:2888"),
        "server.1",
        "localhost:2888",
        4,
    );
    assert_invalid(
        load_with("server.x=localhost:2888:3888"),
        "server.x",
        "localhost:2888:3888",
        3,
    );
    assert_invalid(
        load_with("clientPortAddress=no.such.host.invalid"),
        "clientPortAddress",
        "no.such.host.invalid",
        3,
    );
}

#[test]
fn error_messages_carry_file_and_line() {
    let err = load_with("tickTime=fast").expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("tickTime=\"fast\""), "{text}");
    assert!(text.contains("zoo.cfg:3"), "{text}");
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn inconsistent_settings_are_refused() {
    let inconsistent = |r: Result<Config, ConfigError>, needle: &str| match r {
        Err(ConfigError::Inconsistent { reason, .. }) => {
            assert!(reason.contains(needle), "{reason:?} lacks {needle:?}")
        }
        other => panic!("expected Inconsistent({needle}), got {other:?}"),
    };
    inconsistent(
        load_with("minSessionTimeout=50000"),
        "must not be larger than maxSessionTimeout",
    );
    inconsistent(
        load_with("minSessionTimeout=9000\nmaxSessionTimeout=8000"),
        "must not be larger",
    );
    inconsistent(
        load_with("server.1=a:1:2:observer"),
        "observers without participants",
    );
    inconsistent(
        load_with("server.1=a:1:2\nserver.2=b:1:2:observer"),
        "observers without a quorum",
    );
    inconsistent(
        load_with("standaloneEnabled=false"),
        "at least one participant",
    );

    let scratch = Scratch::new();
    let data = scratch.data_dir();
    let no_data_dir = scratch.write("a.cfg", "clientPort=2181\n");
    inconsistent(load_file(&no_data_dir, &[]), "dataDir is not set");
    let no_port = scratch.write("b.cfg", &format!("dataDir={data}\n"));
    inconsistent(load_file(&no_port, &[]), "clientPort is not set");
    let address_only = scratch.write(
        "c.cfg",
        &format!("dataDir={data}\nclientPortAddress=127.0.0.1\n"),
    );
    inconsistent(
        load_file(&address_only, &[]),
        "clientPortAddress is set but clientPort is not",
    );
    let both = scratch.write(
        "d.cfg",
        &format!("dataDir={data}\nclientPort=1\ndynamicConfigFile=/x\nserver.1=a:1:2\n"),
    );
    inconsistent(load_file(&both, &[]), "must be in the dynamic config file");
}

#[test]
fn ensemble_membership_rules() {
    let scratch = Scratch::new();
    let data = scratch.data_dir();
    let servers = "server.1=h1:2888:3888\nserver.2=h2:2888:3888\nserver.3=h3:2888:3888;2183\n";
    let cfg = scratch.write(
        "zoo.cfg",
        &format!("dataDir={data}\ninitLimit=5\nsyncLimit=2\n{servers}"),
    );
    // No myid: an ensemble member cannot tell which line is its own.
    match load_file(&cfg, &[]) {
        Err(ConfigError::Inconsistent { reason, .. }) => assert!(reason.contains("myid")),
        other => panic!("{other:?}"),
    }
    scratch.write("data/myid", "4\n");
    match load_file(&cfg, &[]) {
        Err(ConfigError::Inconsistent { reason, .. }) => {
            assert!(reason.contains("no server.4 line"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // With myid 3 and no clientPort, the client address comes from server.3.
    scratch.write("data/myid", " 3\n");
    let config = load_file(&cfg, &[]).expect("loads");
    assert_eq!(config.my_id, Some(3));
    assert_eq!(config.client_address, addr("0.0.0.0:2183"));
    // An ensemble needs initLimit and syncLimit.
    let no_limits = scratch.write("nolimits.cfg", &format!("dataDir={data}\n{servers}"));
    match load_file(&no_limits, &[]) {
        Err(ConfigError::Inconsistent { reason, .. }) => assert!(reason.contains("initLimit")),
        other => panic!("{other:?}"),
    }
    // One participant with standaloneEnabled=true runs standalone, warned.
    let single = scratch.write(
        "single.cfg",
        &format!("dataDir={data}\nclientPort=2181\nserver.1=h1:2888:3888\n"),
    );
    let config = load_file(&single, &[]).expect("loads");
    assert!(!config.is_ensemble());
    assert!(config
        .warnings()
        .iter()
        .any(|w| w.contains("running standalone")));
}

#[test]
fn bad_myid_files_are_refused() {
    for (contents, extended) in [("one", false), ("", false), ("-3", false), ("300", true)] {
        let scratch = Scratch::new();
        let data = scratch.data_dir();
        scratch.write("data/myid", contents);
        let flags: &[&str] = if extended { &["--extended-types"] } else { &[] };
        let cfg = scratch.write("zoo.cfg", &format!("dataDir={data}\nclientPort=2181\n"));
        match load_file(&cfg, flags) {
            Err(ConfigError::InvalidValue {
                key, value, origin, ..
            }) => {
                assert_eq!(key, "myid");
                assert_eq!(value, contents.trim());
                assert_eq!(
                    origin,
                    Origin::File {
                        path: PathBuf::from(&data).join("myid"),
                        line: 1
                    }
                );
            }
            other => panic!("myid {contents:?}: {other:?}"),
        }
    }
}

#[test]
fn unreadable_files_are_refused() {
    let scratch = Scratch::new();
    match load_file(&scratch.path("missing.cfg"), &[]) {
        Err(ConfigError::Unreadable { path, what, .. }) => {
            assert_eq!(what, "config file");
            assert!(path.ends_with("missing.cfg"));
        }
        other => panic!("{other:?}"),
    }
    let data = scratch.data_dir();
    let cfg = scratch.write(
        "zoo.cfg",
        &format!(
            "dataDir={data}\nclientPort=2181\ndynamicConfigFile={}\n",
            scratch.path("missing.dynamic").display()
        ),
    );
    match load_file(&cfg, &[]) {
        Err(ConfigError::Unreadable { what, .. }) => assert_eq!(what, "dynamic config file"),
        other => panic!("{other:?}"),
    }
    // A myid that is a directory cannot be read either.
    std::fs::create_dir_all(scratch.path("data/myid")).expect("mkdir");
    let cfg = scratch.write("plain.cfg", &format!("dataDir={data}\nclientPort=2181\n"));
    match load_file(&cfg, &[]) {
        Err(ConfigError::Unreadable { what, .. }) => assert_eq!(what, "myid file"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn flag_errors_name_the_flag() {
    match load(&["--tick-time", "abc"]) {
        Err(ConfigError::InvalidValue {
            key, value, origin, ..
        }) => {
            assert_eq!(key, "tickTime");
            assert_eq!(value, "abc");
            assert_eq!(origin, Origin::Flag("--tick-time".into()));
        }
        other => panic!("{other:?}"),
    }
    match load(&["-D", "clientPort=99999"]) {
        Err(ConfigError::InvalidValue { origin, .. }) => {
            assert_eq!(origin, Origin::Flag("-D".into()))
        }
        other => panic!("{other:?}"),
    }
    let usage = load(&["--no-such-flag"]).expect_err("unknown flag");
    assert!(matches!(usage, ConfigError::Usage(_)));
    assert_eq!(usage.exit_code(), 2);
    let help = load(&["--help"]).expect_err("help is reported as an error value");
    assert_eq!(help.exit_code(), 0);
    assert!(help.to_string().contains("--client-port"));
}

/// A member that activated a reconfiguration wrote `zoo.cfg.dynamic.<hex>` and rewrote
/// zoo.cfg to name it (`dynamic_file::write`, as Apache's member does): loading that
/// zoo.cfg gives the new membership and its version, and a second reconfiguration moves
/// the pointer on.
#[test]
fn a_written_reconfiguration_round_trips_through_the_loader() {
    let scratch = Scratch::new();
    let data = scratch.data_dir();
    scratch.write("data/myid", "1");
    let cfg = scratch.write(
        "zoo.cfg",
        &format!(
            "# three members\ndataDir={data}\nclientPort=2181\ninitLimit=5\nsyncLimit=2\n\
             reconfigEnabled=true\nserver.1=127.0.0.1:2888:3888\n\
             server.2=127.0.0.2:2888:3888\nserver.3=127.0.0.3:2888:3888\n"
        ),
    );
    assert_eq!(load_file(&cfg, &[]).expect("loads").servers.len(), 3);

    let two = vec![
        "server.2=127.0.0.2:2888:3888:participant;0.0.0.0:2181".to_owned(),
        "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181".to_owned(),
    ];
    let written = dynamic_file::write(&cfg, 1, 0x1_0000_0007, &two).expect("writes");
    assert_eq!(written.file_name().unwrap(), "zoo.cfg.dynamic.100000007");
    let config = load_file(&cfg, &[]).expect("loads the rewritten zoo.cfg");
    assert!(config.is_ensemble());
    assert_eq!(config.dynamic_config_version, 0x1_0000_0007);
    assert_eq!(
        config.dynamic_config_file.as_deref(),
        Some(written.as_path())
    );
    assert_eq!(
        config.render_membership(),
        "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
         server.2=127.0.0.2:2888:3888:participant;0.0.0.0:2181\nversion=100000007"
    );
    assert_eq!(config.client_address, addr("0.0.0.0:2181"));
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.starts_with("# three members\n"), "{text}");
    assert!(
        !text.contains("server.") && !text.contains("clientPort"),
        "{text}"
    );
    // No temp file is left behind.
    let names: Vec<_> = std::fs::read_dir(&scratch.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("zoo.cfg"))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    let three = [
        two.clone(),
        vec!["server.3=127.0.0.3:2888:3888:observer;2181".to_owned()],
    ]
    .concat();
    dynamic_file::write(&cfg, 1, 0x1_0000_0009, &three).expect("writes again");
    let config = load_file(&cfg, &[]).expect("loads again");
    assert_eq!(config.servers.len(), 3);
    assert_eq!(config.dynamic_config_version, 0x1_0000_0009);
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert_eq!(text.matches("dynamicConfigFile=").count(), 1, "{text}");
}

#[test]
fn dynamic_config_file_supplies_the_members() {
    let scratch = Scratch::new();
    let data = scratch.data_dir();
    scratch.write("data/myid", "1");
    let dynamic = scratch.write(
        "zoo.cfg.dynamic.100000000",
        "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\nserver.2=127.0.0.2:2888:3888:participant;127.0.0.2:2181\nserver.3=127.0.0.3:2888:3888:observer;2181\nversion=100000000\n",
    );
    let cfg = scratch.write(
        "zoo.cfg",
        &format!(
            "dataDir={data}\ninitLimit=5\nsyncLimit=2\nreconfigEnabled=true\ndynamicConfigFile={}\n",
            dynamic.display()
        ),
    );
    let config = load_file(&cfg, &[]).expect("loads");
    assert!(config.is_ensemble());
    assert_eq!(config.servers.len(), 3);
    assert_eq!(config.dynamic_config_version, 0x1_0000_0000);
    assert_eq!(config.client_address, addr("127.0.0.1:2181"));
    assert_eq!(
        config.render_membership(),
        "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\nserver.2=127.0.0.2:2888:3888:participant;127.0.0.2:2181\nserver.3=127.0.0.3:2888:3888:observer;0.0.0.0:2181\nversion=100000000"
    );

    // Only member keys belong in a dynamic file.
    scratch.write("bad.dynamic", "server.1=a:1:2\ntickTime=3\n");
    let cfg = scratch.write(
        "bad.cfg",
        &format!(
            "dataDir={data}\nclientPort=1\ndynamicConfigFile={}\n",
            scratch.path("bad.dynamic").display()
        ),
    );
    match load_file(&cfg, &[]) {
        Err(ConfigError::Inconsistent { reason, origin }) => {
            assert!(reason.contains("tickTime"));
            assert!(matches!(origin, Origin::File { line: 2, .. }));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn conf_output_standalone() {
    let scratch = Scratch::new();
    let data = scratch.data_dir();
    let cfg = scratch.write(
        "zoo.cfg",
        &format!("tickTime=2000\ndataDir={data}\nclientPort=2181\nmaxClientCnxns=0\n"),
    );
    let config = load_file(&cfg, &[]).expect("loads");
    let runtime = ConfRuntime {
        data_dir_size: 67_108_880,
        data_log_size: 512,
        secure_client_port: None,
    };
    assert_eq!(
        config.render_conf(&runtime),
        format!(
            "clientPort=2181\nsecureClientPort=-1\ndataDir={data}\ndataDirSize=67108880\ndataLogDir={data}\ndataLogSize=512\ntickTime=2000\nmaxClientCnxns=0\nminSessionTimeout=4000\nmaxSessionTimeout=40000\nclientPortListenBacklog=-1\nserverId=0\n"
        )
    );
    let runtime = ConfRuntime {
        secure_client_port: Some(2281),
        ..runtime
    };
    assert!(config
        .render_conf(&runtime)
        .contains("secureClientPort=2281\n"));
}

#[test]
fn conf_output_for_an_ensemble_member() {
    let scratch = Scratch::new();
    let data = scratch.data_dir();
    scratch.write("data/myid", "2");
    let cfg = scratch.write(
        "zoo.cfg",
        &format!("tickTime=2000\ninitLimit=4\nsyncLimit=2\ndataDir={data}\nclientPort=20010\nclientPortListenBacklog=128\nserver.1=localhost:20002:20001:participant\nserver.2=localhost:20012:20011:participant\nserver.3=localhost:20022:20021:observer\n"),
    );
    let config = load_file(&cfg, &[]).expect("loads");
    assert_eq!(
        config.render_conf(&ConfRuntime::default()),
        format!(
            "clientPort=20010\nsecureClientPort=-1\ndataDir={data}\ndataDirSize=0\ndataLogDir={data}\ndataLogSize=0\ntickTime=2000\nmaxClientCnxns=60\nminSessionTimeout=4000\nmaxSessionTimeout=40000\nclientPortListenBacklog=128\nserverId=2\ninitLimit=4\nsyncLimit=2\nelectionAlg=3\nelectionPort=20011\nquorumPort=20012\npeerType=0\nmembership: \nserver.1=localhost:20002:20001:participant\nserver.2=localhost:20012:20011:participant\nserver.3=localhost:20022:20021:observer\nversion=0"
        )
    );
}

#[test]
fn relative_data_dir_is_printed_absolute() {
    let config = load(&["--data-dir", "relative/dir"]).expect("loads");
    let conf = config.render_conf(&ConfRuntime::default());
    let cwd = std::env::current_dir().expect("cwd");
    assert!(
        conf.contains(&format!("dataDir={}\n", cwd.join("relative/dir").display())),
        "{conf}"
    );
}

/// Every key and flag the parser knows must be described in
/// docs/configuration.md, so the reference cannot fall behind the code.
#[test]
fn every_key_and_flag_is_documented() {
    use clap::CommandFactory;
    let doc = include_str!("../../../docs/configuration.md");
    let mut missing = Vec::new();
    for spec in keys::KEYS {
        let name = format!("`{}`", keys::doc_name(spec));
        if !doc.contains(&name) {
            missing.push(name);
        }
    }
    for arg in Cli::command().get_arguments() {
        if let Some(long) = arg.get_long() {
            let name = format!("`--{long}");
            if !doc.contains(&name) {
                missing.push(name);
            }
        }
        if let Some(short) = arg.get_short() {
            let name = format!("`-{short}");
            if !doc.contains(&name) {
                missing.push(name);
            }
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:?}");
}

#[test]
fn group_commit_batch_limits_are_settings() {
    let config = load_with("ringkeeper.batchBytesMax=65536\nringkeeper.batchTxnsMax=7").unwrap();
    assert_eq!(config.batch_bytes_max, 65536);
    assert_eq!(config.batch_txns_max, 7);
    let config = load_with("").unwrap();
    assert_eq!(config.batch_bytes_max, DEFAULT_BATCH_BYTES_MAX);
    assert_eq!(config.batch_txns_max, DEFAULT_BATCH_TXNS_MAX);
}

#[test]
fn the_prometheus_provider_opens_the_metrics_port() {
    let config = load_with("").expect("loads");
    assert_eq!(config.metrics.prometheus, None);

    let provider = format!("metricsProvider.className={PROMETHEUS_PROVIDER}\n");
    let config = load_with(&provider).expect("loads");
    assert_eq!(config.metrics.prometheus, Some(addr("0.0.0.0:7000")));

    let config = load_with(&format!(
        "{provider}metricsProvider.httpHost=127.0.0.2\nmetricsProvider.httpPort=7100\nmetricsProvider.exportJvmInfo=false\n"
    ))
    .expect("loads");
    assert_eq!(config.metrics.prometheus, Some(addr("127.0.0.2:7100")));
    let warnings = config.warnings().join("\n");
    assert!(
        warnings.contains("metricsProvider.exportJvmInfo"),
        "{warnings}"
    );
    assert!(!warnings.contains("httpPort"), "{warnings}");

    // Apache's default provider opens nothing and is no surprise; an unknown one is.
    let config = load_with(
        "metricsProvider.className=org.apache.zookeeper.metrics.impl.DefaultMetricsProvider\n",
    )
    .expect("loads");
    assert_eq!(config.metrics.prometheus, None);
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
    let config = load_with("metricsProvider.className=com.example.Statsd\n").expect("loads");
    assert_eq!(config.metrics.prometheus, None);
    assert!(
        config.warnings().join("\n").contains("com.example.Statsd"),
        "{:?}",
        config.warnings()
    );

    assert!(load_with(&format!("{provider}metricsProvider.httpPort=0\n")).is_err());
}

#[test]
fn the_admin_server_runs_only_when_asked_for() {
    let config = load_with("").expect("loads");
    assert!(!config.admin.enabled, "a zoo.cfg without admin keys");
    assert_eq!(config.admin.address, addr("0.0.0.0:8080"));

    let config = load_with("admin.enableServer=true\n").expect("loads");
    assert!(config.admin.enabled);
    assert_eq!(config.admin.address, addr("0.0.0.0:8080"));

    let config =
        load_with("admin.serverAddress=127.0.0.1\nadmin.commandURL=/cmd/\n").expect("loads");
    assert!(config.admin.enabled);
    assert_eq!(config.admin.address, addr("127.0.0.1:8080"));
    assert_eq!(config.admin.command_url, "/cmd");

    let config = load_with("admin.serverPort=9090\nadmin.enableServer=false\n").expect("loads");
    assert!(!config.admin.enabled, "an explicit false wins");
    assert_eq!(config.admin.address.port(), 9090);

    for bad in [
        "admin.serverPort=0",
        "admin.serverPort=70000",
        "admin.enableServer=yes",
        "admin.commandURL=commands",
        "admin.commandURL=/health",
    ] {
        let err = load_with(&format!("{bad}\n")).expect_err(bad);
        let key = bad.split('=').next().unwrap_or_default();
        assert!(err.to_string().contains(key), "{bad}: {err}");
    }
    // The other admin.* keys of Apache's Jetty server are still only warned about.
    let config = load_with("admin.idleTimeout=30000\n").expect("loads");
    assert!(config.warnings().join("\n").contains("admin.idleTimeout"));
}

/// kazoo's SASL tests: the JAAS file names two DIGEST-MD5 users; an empty file offers no
/// SASL; a named file that is missing or malformed stops the server, as it stops Apache.
#[test]
fn sasl_users_come_from_the_jaas_file() {
    let scratch = Scratch::new();
    let data = scratch.data_dir();
    scratch.write("data/myid", "1");
    let cfg = scratch.write("zoo.cfg", &kazoo_zoo_cfg(&data, 20000));
    let digest = "\nServer {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    user_super=\"super_secret\"\n    user_jaasuser=\"jaas_password\";\n};";
    let config = load_kazoo(&scratch, &cfg, digest).expect("loads");
    let sasl = config.sasl.clone().expect("SASL offered");
    assert_eq!(sasl.user_count(), 2);
    assert_eq!(sasl.password("jaasuser"), Some("jaas_password"));
    assert_eq!(sasl.super_user, None);
    assert!(
        !config
            .warnings()
            .iter()
            .any(|w| w.contains("java.security.auth.login.config")),
        "{:?}",
        config.warnings()
    );

    let config = load_kazoo(&scratch, &cfg, "").expect("loads");
    assert!(config.sasl.is_none());

    let mut props = kazoo_properties(&scratch, digest);
    props.push("-Dzookeeper.superUser=jaasuser".to_owned());
    let props_ref: Vec<&str> = props.iter().map(String::as_str).collect();
    let config = load_file(&cfg, &props_ref).expect("loads");
    assert_eq!(
        config.sasl.and_then(|s| s.super_user),
        Some("jaasuser".to_owned())
    );

    let missing = scratch.path("no-such-jaas.conf").display().to_string();
    let arg = format!("-Djava.security.auth.login.config={missing}");
    assert!(load_file(&cfg, &[&arg]).is_err());
    let bad = scratch.write("bad.conf", "Server { m required user_a=\"x\"");
    let arg = format!("-Djava.security.auth.login.config={}", bad.display());
    assert!(load_file(&cfg, &[&arg]).is_err());
}

/// The TLS keys: store types as Apache infers them, a store that does not match its type,
/// a missing key store or an unknown protocol stops the server, ciphers and versions are
/// read, and the quorum stores follow the same rules.
#[test]
fn tls_keys_are_validated() {
    let scratch = Scratch::new();
    write_pem_stores(&scratch);
    let ks = scratch.path("keystore.pem").display().to_string();
    let ts = scratch.path("truststore.pem").display().to_string();
    let base = format!(
        "secureClientPort=2281\nssl.keyStore.location={ks}\nssl.trustStore.location={ts}\n"
    );
    let config = load_with(&format!(
        "{base}ssl.clientAuth=want\nssl.enabledProtocols=TLSv1.3\nssl.ciphersuites=TLS_AES_128_GCM_SHA256,TLS_RSA_WITH_AES_128_CBC_SHA\nsecureClientPortAddress=127.0.0.1\n"
    ))
    .expect("loads");
    let secure = config.secure_client.expect("TLS");
    assert_eq!(secure.address, addr("127.0.0.1:2281"));
    assert_eq!(
        secure.options.client_auth,
        crate::net::tls::ClientAuth::Want
    );
    assert_eq!(
        secure.options.versions,
        vec![crate::net::tls::TlsVersion::V13]
    );
    assert!(config
        .warnings
        .iter()
        .any(|w| w.contains("TLS_RSA_WITH_AES_128_CBC_SHA")));

    // A store whose content does not match its type names the type and the file.
    let jks = scratch.write("keystore.jks", "not really");
    let e = load_with(&format!(
        "secureClientPort=2281\nssl.keyStore.location={}\n",
        jks.display()
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("type is JKS") && e.contains("keystore.jks"),
        "{e}"
    );
    let e = load_with(&format!("{base}ssl.trustStore.type=JKS\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("type is JKS but the file is a PEM file"), "{e}");
    // As Apache: an unknown extension needs the type; a set type wins over the name.
    let odd = scratch.write("server.crt", &std::fs::read_to_string(&ks).unwrap());
    let odd_base = format!(
        "secureClientPort=2281\nssl.keyStore.location={}\nssl.trustStore.location={ts}\n",
        odd.display()
    );
    let e = load_with(&odd_base).unwrap_err().to_string();
    assert!(e.contains("ssl.keyStore.type"), "{e}");
    load_with(&format!("{odd_base}ssl.keyStore.type=pem\n")).expect("a set type wins");
    let e = load_with(&format!("{base}ssl.keyStore.type=JCEKS\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("JKS, PKCS12 or PEM"), "{e}");
    let e = load_with(&format!("{base}ssl.keyStore.type=BCFKS\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("BouncyCastle"), "{e}");
    // An unreadable password file stops the server naming its key.
    let e = load_with(&format!(
        "{base}ssl.keyStore.passwordPath={}\n",
        scratch.path("no-such-password").display()
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("ssl.keyStore.passwordPath"), "{e}");
    // The quorum stores are read with the same rules, with or without a secure port.
    let config = load_with(&format!(
        "ssl.quorum.keyStore.location={ks}\nssl.quorum.trustStore.location={ts}\n"
    ))
    .expect("quorum stores load");
    let quorum = config.quorum_stores.expect("quorum stores");
    assert_eq!(quorum.key_store.path, PathBuf::from(&ks));
    assert!(quorum.trust_store.is_some());
    let e = load_with(&format!(
        "ssl.quorum.keyStore.location={ts}\nssl.quorum.keyStore.type=PEM\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("ssl.quorum.keyStore.location") && e.contains("no private key"),
        "{e}"
    );
    let e = load_with("secureClientPort=2281\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("ssl.keyStore.location"), "{e}");
    let e = load_with(&format!("{base}ssl.protocol=TLSv1.1\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("ssl.protocol"), "{e}");
    let e = load_with(&format!("{base}ssl.clientAuth=maybe\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("ssl.clientAuth"), "{e}");
    let e = load_with(&format!("{base}ssl.ciphersuites=NOPE\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("TLS_AES_128_GCM_SHA256"), "{e}");
    let e = load_with(&format!(
        "secureClientPort=2281\nssl.keyStore.location={ks}\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("ssl.trustStore.location"),
        "need without a trust store: {e}"
    );
    // ssl.* keys without a secure port configure nothing and read no file.
    let config = load_with("ssl.keyStore.location=/nonexistent.pem\n").expect("loads");
    assert!(config.secure_client.is_none());
}

/// Every key Apache 3.8 honours (listed in `apache-3.8-keys.txt`, gathered from its
/// sources) is either used or in the table with the reason it is not, so no Apache
/// setting falls through as "unknown".
#[test]
fn every_apache_key_is_accounted_for() {
    let list = include_str!("apache-3.8-keys.txt");
    let unlisted: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|key| keys::lookup(keys::canonical(key)).is_none())
        .collect();
    assert!(
        unlisted.is_empty(),
        "Apache keys missing from keys::KEYS: {unlisted:?}"
    );
    for spec in keys::KEYS {
        assert_eq!(
            spec.usage == keys::KeyUse::Used,
            spec.reason.is_empty(),
            "{}: a key not used needs a reason, a used one none",
            spec.name
        );
    }
}

/// The key table and the parser agree: every key the parser reads is listed as used,
/// every key listed as used is read (directly, or through its alias), and no key listed
/// as not acted on is read. The configurations together reach every conditional read
/// (TLS, SASL, ensemble membership).
#[test]
fn the_key_table_and_the_parser_agree() {
    use clap::Parser;
    let scratch = Scratch::new();
    let data = scratch.data_dir();
    scratch.write("data/myid", "2");
    let mut ensemble = kazoo_zoo_cfg(&data, 20010);
    ensemble.push_str(
        "\ninitLimit=4\nsyncLimit=2\nserver.1=localhost:20002:20001\nserver.2=localhost:20012:20011\nserver.3=localhost:20022:20021\n",
    );
    // The conditional reads of the metrics port and the quorum stores.
    ensemble.push_str(&format!(
        "metricsProvider.className={PROMETHEUS_PROVIDER}\nmetricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort=7000\n\
         ssl.quorum.keyStore.location={d}/../keystore.pem\nssl.quorum.keyStore.type=PEM\nssl.quorum.keyStore.password=apassword\n\
         ssl.quorum.trustStore.location={d}/../truststore.pem\nssl.quorum.trustStore.type=PEM\nssl.quorum.trustStore.password=apassword\n\
         sslQuorum=true\nquorum.auth.enableSasl=true\n",
        d = data
    ));
    let cfg = scratch.write("zoo.cfg", &ensemble);
    write_pem_stores(&scratch);
    let jaas = "Server {\n org.apache.zookeeper.server.auth.DigestLoginModule required\n user_bob=\"pw\";\n};\n\
                QuorumServer {\n org.apache.zookeeper.server.auth.DigestLoginModule required\n user_m=\"pw\";\n};\n\
                QuorumLearner {\n org.apache.zookeeper.server.auth.DigestLoginModule required\n username=\"m\" password=\"pw\";\n};\n";
    let mut args = vec!["ringkeeper".to_owned()];
    args.extend(kazoo_properties(&scratch, jaas));
    args.push(cfg.display().to_string());
    let cli = Cli::try_parse_from(&args).expect("flags parse");
    let mut asked = Config::keys_asked(&cli).expect("the ensemble config loads");
    let bare = Cli::try_parse_from(["ringkeeper"]).expect("no flags");
    asked.extend(Config::keys_asked(&bare).expect("defaults load"));

    let not_used: Vec<&String> = asked
        .iter()
        .filter(|key| keys::lookup(key).map(|s| s.usage) != Some(keys::KeyUse::Used))
        .collect();
    assert!(
        not_used.is_empty(),
        "read by the parser but not listed as used: {not_used:?}"
    );
    let unread: Vec<&str> = keys::KEYS
        .iter()
        .filter(|spec| spec.usage == keys::KeyUse::Used)
        .filter(|spec| {
            if spec.prefix {
                !asked.iter().any(|key| key.starts_with(spec.name))
            } else {
                !asked.contains(keys::canonical(spec.name))
            }
        })
        .map(|spec| spec.name)
        .collect();
    assert!(
        unread.is_empty(),
        "listed as used but never read: {unread:?}"
    );
}

/// Each key ringkeeper does not act on is in docs/configuration.md on one row with its
/// reason, so the reference says why, word for word as the warning does.
#[test]
fn every_reason_is_documented() {
    let doc = include_str!("../../../docs/configuration.md");
    let missing: Vec<String> = keys::KEYS
        .iter()
        .filter(|spec| spec.usage != keys::KeyUse::Used)
        .filter(|spec| {
            let name = format!("| `{}` |", keys::doc_name(spec));
            !doc.lines()
                .any(|line| line.starts_with(&name) && line.contains(spec.reason))
        })
        .map(|spec| format!("| `{}` | ... | {} |", keys::doc_name(spec), spec.reason))
        .collect();
    assert!(
        missing.is_empty(),
        "rows missing from docs/configuration.md:\n{}",
        missing.join("\n")
    );
}

#[test]
fn container_keys_are_honoured_and_bounded() {
    let config = load_with(
        "znode.container.checkIntervalMs=1000\nznode.container.maxPerMinute=30\nznode.container.maxNeverUsedIntervalMs=5000",
    )
    .expect("loads");
    assert_eq!(
        config.containers,
        ContainerReaping {
            check_interval_ms: 1000,
            max_per_minute: 30,
            max_never_used_interval_ms: 5000,
        }
    );
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
    assert_eq!(
        load_with("").unwrap().containers,
        ContainerReaping::default()
    );
    // Apache's system-property spelling sets the same.
    let scratch = Scratch::new();
    let data = scratch.data_dir();
    let cfg = scratch.write("zoo.cfg", &format!("dataDir={data}\nclientPort=2181\n"));
    let config = load_file(&cfg, &["-Dznode.container.checkIntervalMs=250"]).unwrap();
    assert_eq!(config.containers.check_interval_ms, 250);
    for (key, value) in [
        ("znode.container.checkIntervalMs", "0"),
        ("znode.container.maxPerMinute", "0"),
        ("znode.container.maxNeverUsedIntervalMs", "-1"),
    ] {
        assert!(
            load_with(&format!("{key}={value}")).is_err(),
            "{key}={value}"
        );
    }
}

#[test]
fn sessionless_timeout_is_the_handshake_timeout() {
    let config = load_with("nio.sessionlessCnxnTimeout=2500").expect("loads");
    assert_eq!(config.handshake_timeout_ms, 2500);
}

/// Settings whose ignored value would weaken what the operator asked for stop the
/// server with the reason; Apache's default value is accepted silently.
#[test]
fn keys_supported_with_one_value_refuse_the_others() {
    for (key, refused, accepted) in [
        ("enforce.auth.enabled", "true", "false"),
        ("sessionRequireClientSASLAuth", "true", "false"),
        ("DigestAuthenticationProvider.digestAlg", "SHA-256", "SHA1"),
        ("enforceQuota", "true", "false"),
        ("portUnification", "true", "false"),
    ] {
        let err = load_with(&format!("{key}={refused}"))
            .expect_err(key)
            .to_string();
        assert!(err.contains(key) && err.contains("only"), "{err}");
        let config = load_with(&format!("{key}={accepted}")).expect(key);
        assert!(config.warnings().is_empty(), "{:?}", config.warnings());
    }
    let config = load_with("skipACL=yes").expect("warned, not refused");
    assert!(
        config.warnings()[0].contains("ACLs are always checked"),
        "the warning gives the reason: {:?}",
        config.warnings()
    );
}

/// `sslQuorum=true` needs both quorum stores; quorum SASL needs the JAAS file with both
/// login contexts, DIGEST-MD5 only; each missing piece stops the server naming it.
#[test]
fn quorum_tls_and_sasl_need_their_stores_and_sections() {
    let scratch = Scratch::new();
    write_pem_stores(&scratch);
    let ks = scratch.path("keystore.pem").display().to_string();
    let ts = scratch.path("truststore.pem").display().to_string();
    let err = |extra: &str| load_with(extra).unwrap_err().to_string();
    assert!(err("sslQuorum=true").contains("ssl.quorum.keyStore.location"));
    let e = err(&format!(
        "sslQuorum=true\nssl.quorum.keyStore.location={ks}"
    ));
    assert!(e.contains("ssl.quorum.trustStore.location"), "{e}");
    let stores = format!(
        "sslQuorum=true\nssl.quorum.keyStore.location={ks}\nssl.quorum.trustStore.location={ts}\n"
    );
    let config = load_with(&stores).expect("quorum TLS");
    assert!(
        config
            .quorum_security
            .tls
            .expect("tls")
            .hostname_verification
    );
    let config =
        load_with(&format!("{stores}ssl.quorum.hostnameVerification=false")).expect("quorum TLS");
    assert!(
        !config
            .quorum_security
            .tls
            .expect("tls")
            .hostname_verification
    );
    assert!(load_with(&format!("ssl.quorum.keyStore.location={ks}"))
        .expect("plain links")
        .quorum_security
        .tls
        .is_none());

    let e = err("quorum.auth.serverRequireSasl=true");
    assert!(e.contains("needs quorum.auth.enableSasl=true"), "{e}");
    assert!(err("quorum.auth.enableSasl=true").contains("java.security.auth.login.config"));
    let section = |name: &str, module: &str, options: &str| {
        format!("{name} {{\n {module} required\n {options};\n}};\n")
    };
    let digest = "org.apache.zookeeper.server.auth.DigestLoginModule";
    let server = section("QuorumServer", digest, "user_m=\"pw\"");
    let learner = section("QuorumLearner", digest, "username=\"m\" password=\"pw\"");
    let with = |jaas: &str, extra: &str| {
        let path = scratch.write("quorum-jaas.conf", jaas);
        load_with(&format!(
            "quorum.auth.enableSasl=true\njava.security.auth.login.config={}\n{extra}",
            path.display()
        ))
    };
    let e = with(&server, "").unwrap_err().to_string();
    assert!(e.contains("no QuorumLearner section"), "{e}");
    let kerberos = section(
        "QuorumLearner",
        "com.sun.security.auth.module.Krb5LoginModule",
        "useKeyTab=true",
    );
    let e = with(&format!("{server}{kerberos}"), "")
        .unwrap_err()
        .to_string();
    assert!(e.contains("Kerberos"), "{e}");
    let e = with(
        &format!("{server}{learner}"),
        "quorum.auth.kerberos.servicePrincipal=zkquorum/localhost",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("Kerberos"), "{e}");
    let renamed = section("Members", digest, "username=\"m\" password=\"pw\"");
    let config = with(
        &format!("{server}{renamed}"),
        "quorum.auth.learner.saslLoginContext=Members\nquorum.auth.learnerRequireSasl=true",
    )
    .expect("quorum SASL");
    let sasl = config.quorum_security.sasl.expect("sasl");
    assert_eq!(sasl.learner, ("m".to_owned(), "pw".to_owned()));
    assert!(sasl.learner_require && !sasl.server_require);
    assert_eq!(sasl.server.password("m"), Some("pw"));
}
