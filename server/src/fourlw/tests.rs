//! Golden outputs for every four-letter word, written from the layouts in
//! Apache ZooKeeper 3.8's command classes (StatCommand, ConsCommand,
//! MonitorCommand, EnvCommand, WatchCommand, DumpCommand, DirsCommand,
//! IsroCommand, RuokCommand, NopCommand, ...).

use super::*;

fn sample_stats() -> ServerStats {
    ServerStats {
        version: "3.8.4-ringkeeper-0.1.0".to_owned(),
        server_state: "standalone".to_owned(),
        latency_min_ms: 0,
        latency_avg_ms: 1.0 / 3.0,
        latency_max_ms: 12,
        packets_received: 70,
        packets_sent: 69,
        alive_connections: 2,
        outstanding_requests: 0,
        last_processed_zxid: 0x1_0000_002a,
        node_count: 5,
        watch_count: 3,
        ephemerals_count: 1,
        approximate_data_size: 44,
        global_sessions: 2,
        local_sessions: 0,
        uptime_ms: 123_456,
        open_file_descriptor_count: Some(23),
        max_file_descriptor_count: Some(1024),
        ..ServerStats::default()
    }
}

fn fresh_connection() -> ConnectionInfo {
    ConnectionInfo {
        remote: "127.0.0.1:40512".parse().unwrap(),
        received: 1,
        ..ConnectionInfo::default()
    }
}

fn session_connection() -> ConnectionInfo {
    ConnectionInfo {
        remote: "[::1]:40600".parse().unwrap(),
        interest_ops: 1,
        queued: 0,
        received: 14,
        sent: 13,
        session_id: 0x1000_0bd7_a3a0_0000,
        last_op: "GETD".to_owned(),
        established_ms: 1_709_210_096_789,
        session_timeout_ms: 30_000,
        last_cxid: 0xc,
        last_zxid: 0x1_0000_002a,
        last_response_ms: 1_709_210_100_000,
        last_latency_ms: 1,
        min_latency_ms: 0,
        avg_latency_ms: 0,
        max_latency_ms: 4,
    }
}

#[test]
fn every_apache_word_parses() {
    for (word, cmd) in [
        ("conf", Command::Conf),
        ("cons", Command::Cons),
        ("crst", Command::Crst),
        ("dirs", Command::Dirs),
        ("dump", Command::Dump),
        ("envi", Command::Envi),
        ("gtmk", Command::Gtmk),
        ("ruok", Command::Ruok),
        ("stmk", Command::Stmk),
        ("srvr", Command::Srvr),
        ("srst", Command::Srst),
        ("stat", Command::Stat),
        ("wchc", Command::Wchc),
        ("wchp", Command::Wchp),
        ("wchs", Command::Wchs),
        ("mntr", Command::Mntr),
        ("isro", Command::Isro),
        ("hash", Command::Hash),
    ] {
        assert_eq!(parse_command(word.as_bytes()), Some(cmd), "{word}");
        assert_eq!(cmd.name(), word);
    }
    assert_eq!(
        parse_command(&[0xff, 0xf4, 0xff, 0xfd]),
        Some(Command::TelnetClose)
    );
    // Trailing bytes (a netcat newline) do not matter; only four are read.
    assert_eq!(parse_command(b"ruok\n"), Some(Command::Ruok));
}

#[test]
fn other_bytes_are_a_length_prefix_not_a_word() {
    assert_eq!(parse_command(b"RUOK"), None);
    assert_eq!(parse_command(b"abcd"), None);
    assert_eq!(parse_command(&[0, 0, 0, 44]), None);
    assert_eq!(parse_command(b"ruo"), None);
    assert_eq!(parse_command(b""), None);
}

#[test]
fn whitelist_rules() {
    // Apache's default: srvr only.
    let default = Whitelist::parse(None, false);
    assert_eq!(default.commands().collect::<Vec<_>>(), vec![Command::Srvr]);
    assert_eq!(default, Whitelist::default());
    // Read-only mode adds isro.
    let ro = Whitelist::parse(None, true);
    assert!(whitelist_allows(&ro, Command::Isro));
    assert!(!whitelist_allows(&ro, Command::Ruok));
    // Names are trimmed; unknown and empty names are ignored.
    let listed = Whitelist::parse(Some(" ruok ,, stat,bogus,MNTR"), false);
    assert_eq!(
        listed.commands().collect::<Vec<_>>(),
        vec![Command::Ruok, Command::Srvr, Command::Stat]
    );
    // `*` anywhere allows everything, the telnet close sequence included.
    let all = Whitelist::parse(Some("ruok, *"), false);
    for cmd in Command::ALL {
        assert!(whitelist_allows(&all, cmd), "{cmd:?}");
    }
    assert_eq!(all, Whitelist::all());
}

#[test]
fn refusal_text() {
    assert_eq!(
        refusal(Command::Ruok),
        "ruok is not executed because it is not in the whitelist.\n"
    );
    assert_eq!(
        refusal(Command::TelnetClose),
        "telnet close is not executed because it is not in the whitelist.\n"
    );
}

#[test]
fn ruok_isro_dirs_gtmk_stmk_hash() {
    assert_eq!(render_ruok(), "imok");
    assert_eq!(render_isro(false), "rw");
    assert_eq!(render_isro(true), "ro");
    assert_eq!(
        render_dirs(67_108_880, 0),
        "datadir_size: 67108880\nlogdir_size: 0\n"
    );
    assert_eq!(render_gtmk(DEFAULT_TRACE_MASK), "306");
    assert!(Command::Stmk.reads_trace_mask());
    assert_eq!(parse_trace_mask(&[0, 0, 0, 0, 0, 0, 0x01, 0x32]), Some(306));
    assert_eq!(parse_trace_mask(&[0xff; 8]), Some(-1));
    assert_eq!(parse_trace_mask(&[0; 7]), None);
    assert_eq!(render_stmk(-1), "-1");
    assert_eq!(render_hash(&[]), "");
    assert_eq!(
        render_hash(&[(0x1_0000_0001, 1_234_567_890), (0x1_0000_0002, -5)]),
        "100000001: 1234567890\n100000002: -5\n"
    );
}

#[test]
fn resets_are_requests_to_the_caller() {
    assert_eq!(
        Command::Srst.reset_request(),
        Some(ResetRequest::ServerStats)
    );
    assert_eq!(
        Command::Crst.reset_request(),
        Some(ResetRequest::ConnectionStats)
    );
    assert_eq!(Command::Stat.reset_request(), None);
    assert_eq!(
        render_reset(ResetRequest::ServerStats),
        "Server stats reset.\n"
    );
    assert_eq!(
        render_reset(ResetRequest::ConnectionStats),
        "Connection stats reset.\n"
    );
}

#[test]
fn not_serving_answers() {
    let msg = "This ZooKeeper instance is not currently serving requests";
    assert_eq!(render_not_serving(Command::Stat), format!("{msg}\n"));
    assert_eq!(render_not_serving(Command::Isro), "null");
    assert_eq!(render_not_serving(Command::Hash), msg);
    assert!(Command::Mntr.needs_running_server());
    assert!(!Command::Ruok.needs_running_server());
    assert!(!Command::Envi.needs_running_server());
}

#[test]
fn srvr_golden() {
    assert_eq!(
        render_srvr(&sample_stats()),
        "Zookeeper version: 3.8.4-ringkeeper-0.1.0\n\
         Latency min/avg/max: 0/0.3333/12\n\
         Received: 70\n\
         Sent: 69\n\
         Connections: 2\n\
         Outstanding: 0\n\
         Zxid: 0x10000002a\n\
         Mode: standalone\n\
         Node count: 5\n"
    );
}

#[test]
fn srvr_read_only_leader_lines() {
    let stats = ServerStats {
        version: "3.8.4".to_owned(),
        server_state: "leader".to_owned(),
        read_only: true,
        proposal_sizes: Some(ProposalSizes {
            last: 120,
            min: 36,
            max: 4096,
        }),
        ..ServerStats::default()
    };
    assert_eq!(
        render_srvr(&stats),
        "Zookeeper version: 3.8.4\n\
         READ-ONLY mode; serving only read-only clients\n\
         Latency min/avg/max: 0/0.0/0\n\
         Received: 0\n\
         Sent: 0\n\
         Connections: 0\n\
         Outstanding: 0\n\
         Zxid: 0x0\n\
         Mode: leader\n\
         Node count: 0\n\
         Proposal sizes last/min/max: 120/36/4096\n"
    );
}

#[test]
fn stat_golden() {
    let connections = [fresh_connection(), session_connection()];
    assert_eq!(
        render_stat(&sample_stats(), &connections),
        "Zookeeper version: 3.8.4-ringkeeper-0.1.0\n\
         Clients:\n \
         /127.0.0.1:40512[1](queued=0,recved=1,sent=0)\n \
         /[0:0:0:0:0:0:0:1]:40600[1](queued=0,recved=14,sent=13)\n\
         \n\
         Latency min/avg/max: 0/0.3333/12\n\
         Received: 70\n\
         Sent: 69\n\
         Connections: 2\n\
         Outstanding: 0\n\
         Zxid: 0x10000002a\n\
         Mode: standalone\n\
         Node count: 5\n"
    );
}

#[test]
fn cons_golden() {
    let mut throttled = fresh_connection();
    throttled.interest_ops = 0;
    let mut before_first_reply = session_connection();
    before_first_reply.last_cxid = -1;
    before_first_reply.last_zxid = -1;
    before_first_reply.last_op = "NA".to_owned();
    let connections = [throttled, session_connection(), before_first_reply];
    assert_eq!(
        render_cons(&connections),
        " /127.0.0.1:40512[0](queued=0,recved=1,sent=0)\n \
         /[0:0:0:0:0:0:0:1]:40600[1](queued=0,recved=14,sent=13,sid=0x10000bd7a3a00000,lop=GETD,est=1709210096789,to=30000,lcxid=0xc,lzxid=0x10000002a,lresp=1709210100000,llat=1,minlat=0,avglat=0,maxlat=4)\n \
         /[0:0:0:0:0:0:0:1]:40600[1](queued=0,recved=14,sent=13,sid=0x10000bd7a3a00000,lop=NA,est=1709210096789,to=30000,lzxid=0xffffffffffffffff,lresp=1709210100000,llat=1,minlat=0,avglat=0,maxlat=4)\n\
         \n"
    );
    assert_eq!(render_cons(&[]), "\n");
}

#[test]
fn interest_ops_print_in_hex() {
    let mut c = fresh_connection();
    c.interest_ops = 5;
    assert!(connection_line(&c, true).contains("[5]"));
    c.interest_ops = 12;
    assert!(connection_line(&c, true).contains("[c]"));
}

#[test]
fn mntr_golden() {
    let mut stats = sample_stats();
    stats.extra_metrics = vec![
        ("followers".to_owned(), MetricValue::Int(2)),
        ("fsync_p99_ms".to_owned(), MetricValue::Float(2.5)),
        ("leader_id".to_owned(), MetricValue::Text("1".to_owned())),
    ];
    assert_eq!(
        render_mntr(&stats),
        "zk_version\t3.8.4-ringkeeper-0.1.0\n\
         zk_server_state\tstandalone\n\
         zk_avg_latency\t0.3333\n\
         zk_max_latency\t12\n\
         zk_min_latency\t0\n\
         zk_packets_received\t70\n\
         zk_packets_sent\t69\n\
         zk_num_alive_connections\t2\n\
         zk_outstanding_requests\t0\n\
         zk_uptime\t123456\n\
         zk_znode_count\t5\n\
         zk_watch_count\t3\n\
         zk_ephemerals_count\t1\n\
         zk_approximate_data_size\t44\n\
         zk_global_sessions\t2\n\
         zk_local_sessions\t0\n\
         zk_open_file_descriptor_count\t23\n\
         zk_max_file_descriptor_count\t1024\n\
         zk_connection_drop_probability\t0.0\n\
         zk_last_client_response_size\t-1\n\
         zk_max_client_response_size\t-1\n\
         zk_min_client_response_size\t-1\n\
         zk_outstanding_tls_handshake\t0\n\
         zk_auth_failed_count\t0\n\
         zk_non_mtls_remote_conn_count\t0\n\
         zk_non_mtls_local_conn_count\t0\n\
         zk_followers\t2\n\
         zk_fsync_p99_ms\t2.5\n\
         zk_leader_id\t1\n"
    );
}

#[test]
fn mntr_prints_the_quorum_gauges_after_the_standard_lines() {
    let mut stats = sample_stats();
    stats.server_state = "leader".to_owned();
    stats.quorum = vec![
        ("quorum_size", 3),
        ("learners", 2),
        ("synced_followers", 2),
        ("synced_observers", 0),
        ("leader_uptime", 1500),
    ];
    stats.extra_metrics = vec![("ringkeeper_x".to_owned(), MetricValue::Int(1))];
    let text = render_mntr(&stats);
    assert!(
        text.ends_with(
            "zk_non_mtls_local_conn_count\t0\n\
             zk_quorum_size\t3\n\
             zk_learners\t2\n\
             zk_synced_followers\t2\n\
             zk_synced_observers\t0\n\
             zk_leader_uptime\t1500\n\
             zk_ringkeeper_x\t1\n"
        ),
        "{text}"
    );
    stats.quorum.clear();
    assert!(!render_mntr(&stats).contains("quorum_size"));
}

#[test]
fn mntr_omits_unknown_descriptor_counts() {
    let stats = ServerStats::default();
    let text = render_mntr(&stats);
    assert!(!text.contains("file_descriptor"));
    assert!(text.starts_with("zk_version\t\nzk_server_state\tstandalone\n"));
    // Every line is key TAB value.
    for line in text.lines() {
        let (key, _) = line.split_once('\t').expect("tab separated");
        assert!(key.starts_with("zk_"));
    }
}

fn sample_environment() -> Environment {
    Environment {
        zookeeper_version: "3.8.4-ringkeeper-0.1.0".to_owned(),
        host_name: "zk1.example.com".to_owned(),
        tmp_dir: "/tmp".to_owned(),
        os_name: "Linux".to_owned(),
        os_arch: "amd64".to_owned(),
        os_version: "6.1.0-18-amd64".to_owned(),
        user_name: "zookeeper".to_owned(),
        user_home: "/var/lib/zookeeper".to_owned(),
        user_dir: "/".to_owned(),
        memory_free_mb: 512,
        memory_max_mb: 4096,
        memory_total_mb: 4096,
    }
}

#[test]
fn envi_golden() {
    assert_eq!(
        render_envi(&sample_environment()),
        "Environment:\n\
         zookeeper.version=3.8.4-ringkeeper-0.1.0\n\
         host.name=zk1.example.com\n\
         java.version=<NA>\n\
         java.vendor=<NA>\n\
         java.home=<NA>\n\
         java.class.path=<NA>\n\
         java.library.path=<NA>\n\
         java.io.tmpdir=/tmp\n\
         java.compiler=<NA>\n\
         os.name=Linux\n\
         os.arch=amd64\n\
         os.version=6.1.0-18-amd64\n\
         user.name=zookeeper\n\
         user.home=/var/lib/zookeeper\n\
         user.dir=/\n\
         os.memory.free=512MB\n\
         os.memory.max=4096MB\n\
         os.memory.total=4096MB\n"
    );
}

/// kazoo's `server_version()`: split each line at the first `=`, take
/// `zookeeper.version`, keep the leading run of digits and dots.
#[test]
fn envi_version_parses_the_way_kazoo_parses_it() {
    let text = render_envi(&Environment::collect("3.8.4-ringkeeper-0.1.0"));
    let value = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .find(|(k, _)| k.trim() == "zookeeper.version")
        .map(|(_, v)| v.trim())
        .expect("zookeeper.version line");
    let digits: String = value
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let parts: Vec<u32> = digits
        .split('.')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("number"))
        .collect();
    assert_eq!(parts, vec![3, 8, 4]);
}

#[test]
fn collected_environment_is_complete() {
    let env = Environment::collect("3.8.4");
    let text = render_envi(&env);
    assert_eq!(text.lines().count(), 19);
    assert!(!env.os_name.is_empty());
    assert!(!env.user_dir.is_empty());
}

fn sample_watches() -> Vec<SessionWatches> {
    vec![
        SessionWatches {
            session_id: 0x1000_0bd7_a3a0_0000,
            paths: vec!["/a".to_owned(), "/a/b".to_owned()],
        },
        SessionWatches {
            session_id: 0x1000_0bd7_a3a0_0001,
            paths: vec!["/a".to_owned()],
        },
        SessionWatches {
            session_id: 0x1000_0bd7_a3a0_0002,
            paths: vec![],
        },
    ]
}

#[test]
fn wchs_golden() {
    let summary = WatchSummary::from_sessions(&sample_watches());
    assert_eq!(
        summary,
        WatchSummary {
            connections: 2,
            paths: 2,
            total: 3
        }
    );
    assert_eq!(
        render_wchs(&summary),
        "2 connections watching 2 paths\nTotal watches:3\n"
    );
    assert_eq!(
        render_wchs(&WatchSummary::default()),
        "0 connections watching 0 paths\nTotal watches:0\n"
    );
}

#[test]
fn wchc_golden() {
    let watches = sample_watches();
    assert_eq!(
        render_wchc(&watches[..2]),
        "0x10000bd7a3a00000\n\t/a\n\t/a/b\n0x10000bd7a3a00001\n\t/a\n\n"
    );
    assert_eq!(render_wchc(&[]), "\n");
}

#[test]
fn wchp_golden() {
    let by_path = [
        PathWatches {
            path: "/a".to_owned(),
            session_ids: vec![0x1000_0bd7_a3a0_0000, 0x1000_0bd7_a3a0_0001],
        },
        PathWatches {
            path: "/a/b".to_owned(),
            session_ids: vec![0x1000_0bd7_a3a0_0000],
        },
    ];
    assert_eq!(
        render_wchp(&by_path),
        "/a\n\t0x10000bd7a3a00000\n\t0x10000bd7a3a00001\n/a/b\n\t0x10000bd7a3a00000\n\n"
    );
}

#[test]
fn dump_golden() {
    let info = DumpInfo {
        // Given out of order; printed by expiry time.
        session_buckets: vec![
            ExpiryBucket {
                expires_at_ms: 1_709_210_140_000,
                session_ids: vec![0x1000_0bd7_a3a0_0001],
            },
            ExpiryBucket {
                expires_at_ms: 1_709_210_130_000,
                session_ids: vec![0x1000_0bd7_a3a0_0000, 0x1000_0bd7_a3a0_0002],
            },
        ],
        ephemerals: vec![SessionEphemerals {
            session_id: 0x1000_0bd7_a3a0_0000,
            paths: vec!["/election/n_0000000001".to_owned(), "/lock".to_owned()],
        }],
    };
    assert_eq!(
        render_dump(&info),
        "SessionTracker dump:\n\
         Session Sets (2)/(3):\n\
         2 expire at Thu Feb 29 12:35:30 UTC 2024:\n\
         \t0x10000bd7a3a00000\n\
         \t0x10000bd7a3a00002\n\
         1 expire at Thu Feb 29 12:35:40 UTC 2024:\n\
         \t0x10000bd7a3a00001\n\
         ephemeral nodes dump:\n\
         Sessions with Ephemerals (1):\n\
         0x10000bd7a3a00000:\n\
         \t/election/n_0000000001\n\
         \t/lock\n\
         Connections dump:\n"
    );
    assert_eq!(
        render_dump(&DumpInfo::default()),
        "SessionTracker dump:\nSession Sets (0)/(0):\nephemeral nodes dump:\nSessions with Ephemerals (0):\nConnections dump:\n"
    );
}
