//! Each converter is fed the text the server's own renderers produce, so
//! the JSON stays right if a renderer changes.

use super::*;
use crate::fourlw::{
    render_cons, render_dirs, render_dump, render_mntr, render_srvr, render_stat, render_wchc,
    render_wchp, render_wchs, ConnectionInfo, DumpInfo, ExpiryBucket, PathWatches, ServerStats,
    SessionEphemerals, SessionWatches, WatchSummary,
};

fn stats() -> ServerStats {
    ServerStats {
        version: "3.8.4-ringkeeper-0.1.0".into(),
        latency_min_ms: 1,
        latency_avg_ms: 2.5,
        latency_max_ms: 9,
        packets_received: 10,
        packets_sent: 11,
        alive_connections: 2,
        outstanding_requests: 3,
        last_processed_zxid: 0x1f,
        node_count: 5,
        ..ServerStats::default()
    }
}

fn conn(port: u16, session_id: i64) -> ConnectionInfo {
    ConnectionInfo {
        remote: format!("127.0.0.1:{port}").parse().expect("address"),
        received: 4,
        sent: 3,
        session_id,
        last_op: "GETD".into(),
        established_ms: 1_700_000_000_000,
        session_timeout_ms: 6000,
        last_cxid: 7,
        last_zxid: 0x20,
        ..ConnectionInfo::default()
    }
}

fn run(name: &str, text: &str) -> Json {
    find(name).expect(name).convert(text)
}

#[test]
fn every_name_finds_its_command_and_names_are_unique() {
    let mut all: Vec<&str> = COMMANDS
        .iter()
        .flat_map(|c| c.names.iter().copied())
        .collect();
    let before = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(before, all.len());
    for c in COMMANDS {
        assert_eq!(c.names[0], c.primary);
        for name in c.names {
            assert_eq!(find(name).map(|f| f.primary), Some(c.primary));
        }
    }
    assert!(find("nope").is_none());
}

#[test]
fn srvr_becomes_server_stats() {
    let o = run("srvr", &render_srvr(&stats()));
    assert_eq!(
        o.get("version"),
        Some(&Json::Str("3.8.4-ringkeeper-0.1.0".into()))
    );
    assert_eq!(o.get("read_only"), Some(&Json::Bool(false)));
    assert_eq!(o.get("node_count"), Some(&Json::Int(5)));
    let s = o.get("server_stats").expect("server_stats");
    assert_eq!(s.get("min_latency"), Some(&Json::Int(1)));
    assert_eq!(s.get("avg_latency"), Some(&Json::Float(2.5)));
    assert_eq!(s.get("max_latency"), Some(&Json::Int(9)));
    assert_eq!(s.get("packets_received"), Some(&Json::Int(10)));
    assert_eq!(s.get("packets_sent"), Some(&Json::Int(11)));
    assert_eq!(s.get("num_alive_client_connections"), Some(&Json::Int(2)));
    assert_eq!(s.get("outstanding_requests"), Some(&Json::Int(3)));
    assert_eq!(s.get("last_processed_zxid"), Some(&Json::Int(0x1f)));
    assert_eq!(s.get("server_state"), Some(&Json::Str("standalone".into())));
}

#[test]
fn stat_adds_the_brief_connection_list() {
    let text = render_stat(&stats(), &[conn(5000, 0x10), conn(5001, 0)]);
    let o = run("stats", &text);
    let Some(Json::Array(list)) = o.get("connections") else {
        panic!("no connections in {}", o.render());
    };
    assert_eq!(list.len(), 2);
    assert_eq!(
        list[0].get("remote_socket_address"),
        Some(&Json::Str("127.0.0.1:5000".into()))
    );
    assert_eq!(list[0].get("packets_received"), Some(&Json::Int(4)));
    assert_eq!(list[0].get("session_id"), None, "stat is brief");
    assert_eq!(o.get("node_count"), Some(&Json::Int(5)));
}

#[test]
fn cons_gives_full_connection_objects() {
    let o = run("cons", &render_cons(&[conn(5000, 0x10)]));
    let Some(Json::Array(list)) = o.get("connections") else {
        panic!("no connections in {}", o.render());
    };
    let c = &list[0];
    assert_eq!(c.get("session_id"), Some(&Json::Str("0x10".into())));
    assert_eq!(c.get("last_operation"), Some(&Json::Str("GETD".into())));
    assert_eq!(c.get("established"), Some(&Json::Int(1_700_000_000_000)));
    assert_eq!(c.get("session_timeout"), Some(&Json::Int(6000)));
    assert_eq!(c.get("last_cxid"), Some(&Json::Int(7)));
    assert_eq!(c.get("last_zxid"), Some(&Json::Int(0x20)));
    assert_eq!(c.get("interest_ops"), Some(&Json::Int(1)));
    assert_eq!(o.get("secure_connections"), Some(&Json::Array(vec![])));
}

#[test]
fn mntr_keys_lose_their_prefix_and_numbers_stay_numbers() {
    let o = run("monitor", &render_mntr(&stats()));
    assert_eq!(o.get("server_state"), Some(&Json::Str("standalone".into())));
    assert_eq!(o.get("znode_count"), Some(&Json::Int(5)));
    assert_eq!(o.get("avg_latency"), Some(&Json::Float(2.5)));
    assert_eq!(o.get("min_client_response_size"), Some(&Json::Int(-1)));
}

#[test]
fn conf_keys_take_apache_snake_case_names() {
    let o = run(
        "conf",
        "clientPort=2181\nsecureClientPort=-1\ndataDir=/d/version-2\ntickTime=2000\nserver.1=a:1:2:participant\n",
    );
    assert_eq!(o.get("client_port"), Some(&Json::Int(2181)));
    assert_eq!(o.get("secure_client_port"), Some(&Json::Int(-1)));
    assert_eq!(o.get("data_dir"), Some(&Json::Str("/d/version-2".into())));
    assert_eq!(o.get("tick_time"), Some(&Json::Int(2000)));
    assert_eq!(
        o.get("server.1"),
        Some(&Json::Str("a:1:2:participant".into()))
    );
}

#[test]
fn environment_lines_are_strings() {
    let o = run(
        "envi",
        "Environment:\nzookeeper.version=3.8.4\nos.name=Linux\n",
    );
    assert_eq!(o.get("zookeeper.version"), Some(&Json::Str("3.8.4".into())));
    assert_eq!(o.get("os.name"), Some(&Json::Str("Linux".into())));
}

#[test]
fn watch_commands_use_apache_map_shapes() {
    let summary = WatchSummary {
        connections: 2,
        paths: 3,
        total: 4,
    };
    let o = run("wchs", &render_wchs(&summary));
    assert_eq!(o.get("num_connections"), Some(&Json::Int(2)));
    assert_eq!(o.get("num_paths"), Some(&Json::Int(3)));
    assert_eq!(o.get("num_total_watches"), Some(&Json::Int(4)));

    let by_session = [SessionWatches {
        session_id: 0x100,
        paths: vec!["/a".into(), "/b".into()],
    }];
    let o = run("wchc", &render_wchc(&by_session));
    assert_eq!(
        o.render(),
        r#"{"session_id_to_watched_paths":{"256":["/a","/b"]}}"#
    );

    let by_path = [PathWatches {
        path: "/a".into(),
        session_ids: vec![0x100, -2],
    }];
    let o = run("wchp", &render_wchp(&by_path));
    assert_eq!(o.render(), r#"{"path_to_session_ids":{"/a":[256,-2]}}"#);
}

#[test]
fn dump_lists_expiry_sets_and_ephemerals() {
    let info = DumpInfo {
        session_buckets: vec![ExpiryBucket {
            expires_at_ms: 0,
            session_ids: vec![0x1, 0x2],
        }],
        ephemerals: vec![SessionEphemerals {
            session_id: 0x1,
            paths: vec!["/e".into()],
        }],
    };
    let o = run("dump", &render_dump(&info));
    let Some(Json::Object(expiry)) = o.get("expiry_time_to_session_ids") else {
        panic!("{}", o.render());
    };
    assert_eq!(expiry.len(), 1);
    assert_eq!(expiry[0].1, Json::Array(vec![Json::Int(1), Json::Int(2)]));
    assert_eq!(expiry[0].0, "0");
    assert_eq!(
        o.get("session_id_to_ephemeral_paths").map(Json::render),
        Some(r#"{"1":["/e"]}"#.to_owned())
    );
}

#[test]
fn java_dates_read_back_to_the_second() {
    for ms in [
        0,
        1_700_000_123_000,
        951_782_400_000,
        -86_400_000,
        4_102_444_800_000,
    ] {
        // The date as `dump` prints it, for a bucket expiring at `ms`.
        let info = DumpInfo {
            session_buckets: vec![ExpiryBucket {
                expires_at_ms: ms,
                session_ids: vec![1],
            }],
            ephemerals: Vec::new(),
        };
        let dumped = render_dump(&info);
        let text = dumped
            .lines()
            .find_map(|l| l.strip_prefix("1 expire at "))
            .and_then(|l| l.strip_suffix(':'))
            .expect("a bucket line");
        assert_eq!(java_date_ms(text), Some(ms), "{text}");
    }
    assert_eq!(java_date_ms("Thu Jan 01 00:00:00 GMT 1970"), None);
    assert_eq!(java_date_ms("Thu Foo 01 00:00:00 UTC 1970"), None);
    assert_eq!(java_date_ms("Thu Jan 01 00:00 UTC 1970"), None);
}

#[test]
fn small_answers() {
    assert_eq!(run("isro", "rw").render(), r#"{"read_only":false}"#);
    assert_eq!(run("isro", "ro").render(), r#"{"read_only":true}"#);
    assert_eq!(
        run("dirs", &render_dirs(10, 20)).render(),
        r#"{"datadir_size":10,"logdir_size":20}"#
    );
    assert_eq!(run("gtmk", "306").render(), r#"{"tracemask":306}"#);
    assert_eq!(
        run("hash", "1f: 42\n").render(),
        r#"{"digests":[{"zxid":31,"digest":42}]}"#
    );
    assert_eq!(run("ruok", "imok").render(), "{}");
    assert!(run("ruok", "no").get("error").is_some());
    assert_eq!(run("srst", "Server stats reset.\n").render(), "{}");
}

#[test]
fn refusals_are_recognised() {
    let mntr = find("mntr").expect("mntr");
    assert!(matches!(
        refusal(
            mntr,
            "mntr is not executed because it is not in the whitelist.\n"
        ),
        Some(Refused::NotWhitelisted(_))
    ));
    assert_eq!(
        refusal(mntr, &format!("{NOT_SERVING}\n")),
        Some(Refused::NotServing)
    );
    assert_eq!(
        refusal(find("isro").expect("isro"), "null"),
        Some(Refused::NotServing)
    );
    assert_eq!(refusal(mntr, "zk_version\t3.8.4\n"), None);
}

#[test]
fn garbage_never_panics() {
    for c in COMMANDS {
        for text in [
            "",
            "\t",
            "::::",
            "[](",
            " /x[zz](a=b",
            "0x\n\tq",
            "\u{0}\u{ffff}",
        ] {
            let _ = c.convert(text).render();
        }
    }
}
