//! The admin HTTP server (Apache's AdminServer is the model): `/health`,
//! `/ready`, `/metrics` and `/commands/<name>` on a running ringkeeper.
//!
//! Apache's own admin server (Jetty) has no `/health`, `/ready` or
//! `/metrics`, so these tests run against ringkeeper only.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::http::get;
use common::server::Flavor;
use common::*;

/// A server with the admin port on its own loopback address, at a port that
/// was free a moment ago; `extra` adds further zoo.cfg lines.
fn start_with_admin(
    mut options: ServerOptions,
    extra: &[&str],
) -> Option<(TestServer, SocketAddr)> {
    if Flavor::from_env() == Flavor::Apache {
        return None;
    }
    // The harness picks the loopback address per server; the admin port uses
    // 127.0.0.1 and a port the OS just handed out, then gave back.
    let admin = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    options
        .extra_config
        .push("admin.enableServer=true".to_owned());
    options
        .extra_config
        .push(format!("admin.serverAddress={}", admin.ip()));
    options
        .extra_config
        .push(format!("admin.serverPort={}", admin.port()));
    options
        .extra_config
        .extend(extra.iter().map(|line| (*line).to_owned()));
    let server = TestServer::start(options);
    Some((server, admin))
}

/// `/ready` turns 200 right after the executors start, which may be a
/// moment after the client port first answers.
fn wait_ready(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get(addr, "/ready");
        if status == 200 {
            assert_eq!(body, "ready\n");
            return;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "/ready stayed {status}: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn health_and_ready_answer_200_on_a_serving_server() {
    let Some((_server, admin)) = start_with_admin(ServerOptions::default(), &[]) else {
        return;
    };
    assert_eq!(get(admin, "/health"), (200, "ok\n".to_owned()));
    wait_ready(admin);
}

#[tokio::test]
async fn metrics_export_every_numeric_mntr_key() {
    let Some((server, admin)) = start_with_admin(ServerOptions::default(), &[]) else {
        return;
    };
    let client = connect(&server).await;
    for i in 0..3 {
        client
            .create(&format!("/m{i}"), b"abc", &persistent())
            .await
            .unwrap();
    }
    let (status, body) = get(admin, "/metrics");
    assert_eq!(status, 200, "{body}");
    let mntr = server.four_letter_word("mntr");
    let mut numeric = 0;
    for line in mntr.lines() {
        let (key, value) = line.split_once('\t').expect("mntr lines have a tab");
        let name = format!("zookeeper_{}", key.trim_start_matches("zk_"));
        if value.parse::<f64>().is_ok() {
            numeric += 1;
            assert!(
                body.contains(&format!("# TYPE {name} gauge\n{name} ")),
                "{name} missing:\n{body}"
            );
        }
    }
    assert!(numeric > 10, "{mntr}");
    // The root, /zookeeper, its children and the three new nodes.
    let count: u64 = body
        .lines()
        .find_map(|l| l.strip_prefix("zookeeper_znode_count "))
        .and_then(|v| v.parse().ok())
        .expect("znode count");
    assert!(count >= 5, "{body}");
    assert!(body.contains("server_state=\"standalone\"} 1\n"), "{body}");
    assert!(body.contains("\nringkeeper_admin_mntr_up 1\n"), "{body}");
    // Every sample line is `name value` with a numeric value.
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let (_, value) = line.rsplit_once(' ').expect("sample");
        assert!(
            value.parse::<f64>().is_ok() || ["NaN", "+Inf", "-Inf"].contains(&value),
            "{line}"
        );
    }
}

#[tokio::test]
async fn commands_answer_apache_shaped_json() {
    let Some((server, admin)) = start_with_admin(ServerOptions::default(), &[]) else {
        return;
    };
    wait_ready(admin);
    let client = connect(&server).await;
    client.create("/watched", b"", &persistent()).await.unwrap();
    client.create("/eph", b"", &ephemeral()).await.unwrap();
    let _watch = client.get_and_watch_data("/watched").await.unwrap();
    let session = client.session_id().0;

    let ok = |name: &str, primary: &str| -> String {
        let (status, body) = get(admin, &format!("/commands/{name}"));
        assert_eq!(status, 200, "{name}: {body}");
        let head = format!(r#"{{"command":"{primary}","error":null"#);
        assert!(body.starts_with(&head), "{name}: {body}");
        body
    };

    assert_eq!(ok("ruok", "ruok"), r#"{"command":"ruok","error":null}"#);
    let body = ok("mntr", "monitor");
    assert!(body.contains(r#""server_state":"standalone""#), "{body}");
    assert!(body.contains(r#""ephemerals_count":1"#), "{body}");
    assert!(body.contains(r#""watch_count":1"#), "{body}");
    assert!(ok("monitor", "monitor").len() > 100);

    let body = ok("srvr", "server_stats");
    // Apache's `version` is Version.getFullVersion(), build date included.
    assert!(body.contains(", built on "), "{body}");
    assert!(body.contains(r#""read_only":false"#), "{body}");
    assert!(body.contains(r#""server_state":"standalone""#), "{body}");
    assert!(body.contains(r#""node_count":"#), "{body}");

    let body = ok("stat", "stats");
    assert!(
        body.contains(r#""remote_socket_address":"127.0.0.1:"#),
        "{body}"
    );
    let body = ok("cons", "connections");
    assert!(
        body.contains(&format!(r#""session_id":"0x{session:x}""#)),
        "{body}"
    );
    assert!(body.contains(r#""secure_connections":[]"#), "{body}");

    let body = ok("conf", "configuration");
    assert!(
        body.contains(&format!(r#""client_port":{}"#, server.address().port())),
        "{body}"
    );
    assert!(body.contains(r#""tick_time":500"#), "{body}");
    let body = ok("envi", "environment");
    assert!(body.contains(r#""zookeeper.version":"3."#), "{body}");
    assert!(body.contains(", built on "), "{body}");

    let body = ok("wchs", "watch_summary");
    assert!(
        body.contains(r#""num_connections":1,"num_paths":1,"num_total_watches":1"#),
        "{body}"
    );
    let body = ok("wchc", "watches");
    assert!(
        body.contains(&format!(r#"{{"{session}":["/watched"]}}"#)),
        "{body}"
    );
    let body = ok("wchp", "watches_by_path");
    assert!(
        body.contains(&format!(r#"{{"/watched":[{session}]}}"#)),
        "{body}"
    );
    let body = ok("dump", "dump");
    assert!(
        body.contains(&format!(
            r#""session_id_to_ephemeral_paths":{{"{session}":["/eph"]}}"#
        )),
        "{body}"
    );
    assert_eq!(
        ok("isro", "is_read_only"),
        r#"{"command":"is_read_only","error":null,"read_only":false}"#
    );
    let body = ok("dirs", "dirs");
    assert!(body.contains(r#""datadir_size":"#), "{body}");

    let (status, body) = get(admin, "/commands/nope");
    assert_eq!(status, 404);
    assert_eq!(
        body,
        r#"{"command":"nope","error":"Unknown command: nope"}"#
    );
    let (status, body) = get(admin, "/commands");
    assert_eq!(status, 200);
    assert!(body.contains(r#""watches_by_path""#), "{body}");
}

/// Apache's admin commands ignore `4lw.commands.whitelist`; so do ringkeeper's, though they
/// ask the client port, while a network client there still meets the whitelist.
#[test]
fn commands_and_metrics_answer_under_the_default_whitelist() {
    // No whitelist line: the default, `srvr` only.
    let options = ServerOptions {
        four_letter_words: String::new(),
        ..ServerOptions::default()
    };
    let Some((server, admin)) = start_with_admin(options, &[]) else {
        return;
    };
    wait_ready(admin);
    let (status, body) = get(admin, "/commands/monitor");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with(r#"{"command":"monitor","error":null,"#),
        "{body}"
    );
    assert!(body.contains(r#""znode_count":"#), "{body}");
    let (status, body) = get(admin, "/commands/stat");
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(admin, "/metrics");
    assert_eq!(status, 200);
    assert!(body.contains("\nringkeeper_admin_mntr_up 1\n"), "{body}");
    assert!(body.contains("\nzookeeper_znode_count "), "{body}");
    assert_eq!(
        server.four_letter_word("mntr"),
        "mntr is not executed because it is not in the whitelist.\n"
    );
}

#[test]
fn the_command_url_is_configurable() {
    let Some((_server, admin)) =
        start_with_admin(ServerOptions::default(), &["admin.commandURL=/zk/cmd/"])
    else {
        return;
    };
    assert_eq!(get(admin, "/zk/cmd/ruok").0, 200);
    assert_eq!(get(admin, "/commands/ruok").0, 404);
    assert_eq!(get(admin, "/health").0, 200);
}

/// Sends `GET /health` and returns the status, or `None` when no answer
/// arrived within `limit` (connect, send and read together).
fn health_within(addr: SocketAddr, limit: Duration) -> Option<u16> {
    let deadline = Instant::now() + limit;
    let mut stream = TcpStream::connect_timeout(&addr, limit).ok()?;
    stream
        .set_read_timeout(Some(deadline.saturating_duration_since(Instant::now())))
        .ok()?;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: probe\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split(' ').nth(1)?.parse().ok()
}

/// Issue #12: about 20 idle connections, reopened every 4 s, kept `/health`
/// at 503 (the old 16-connection cap and 5 s head deadline). Now idle and
/// slow clients are evicted oldest first, so probes keep getting 200.
#[test]
fn idle_and_slow_connections_cannot_deny_health() {
    let Some((_server, admin)) = start_with_admin(ServerOptions::default(), &[]) else {
        return;
    };
    const ATTACKERS: usize = 80;
    const PROBES: usize = 20;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attacker = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            // Half stay silent and are reopened every 2 s, half dribble a
            // request head a byte at a time and are reopened once the server
            // closes them.
            let mut conns: Vec<Option<TcpStream>> = (0..ATTACKERS).map(|_| None).collect();
            let head = b"GET /health HTTP/1.1\r\nX-Slow: ";
            let mut sent = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (i, slot) in conns.iter_mut().enumerate() {
                    let alive = match slot {
                        Some(s) if i % 2 == 1 => s.write_all(&[head[sent % head.len()]]).is_ok(),
                        Some(_) => !sent.is_multiple_of(40),
                        None => false,
                    };
                    if !alive {
                        *slot = TcpStream::connect(admin).ok();
                    }
                }
                sent += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    // Let the attack fill every place first.
    std::thread::sleep(Duration::from_millis(500));
    let mut answers = Vec::new();
    for _ in 0..PROBES {
        answers.push(health_within(admin, Duration::from_secs(1)));
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    attacker.join().expect("attacker thread");
    assert!(
        answers.iter().all(|a| *a == Some(200)),
        "every probe must answer 200 within 1 s: {answers:?}"
    );
}
