//! rk-cli against a real ringkeeper server: one-shot commands with their output and exit
//! codes, and watch events delivered to an interactive session.

mod support;

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use ringkeeper_tools::cli::{Flow, Shell};
use support::{temp_dir, Server};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn rk_cli(server: &str, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_rk-cli"))
        .args(["-server", server])
        .args(args)
        .output()
        .expect("running rk-cli");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(server: &str, args: &[&str]) -> String {
    let run = rk_cli(server, args);
    assert_eq!(run.code, 0, "{args:?}: stderr {}", run.stderr);
    run.stdout
}

fn fails(server: &str, args: &[&str], code: i32, message: &str) {
    let run = rk_cli(server, args);
    assert_eq!(
        run.code, code,
        "{args:?}: stdout {} stderr {}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr.contains(message),
        "{args:?}: expected {message:?} in {:?}",
        run.stderr
    );
}

#[test]
fn one_shot_commands_print_like_zkcli_and_exit_by_error_class() {
    let dir = temp_dir("cli-oneshot");
    let server = Server::start(&dir.join("data"));
    let addr = server.addr.clone();
    let s = addr.as_str();

    assert_eq!(ok(s, &["ls", "/"]), "[zookeeper]\n");
    assert_eq!(
        ok(s, &["-c", "create /app \"hello world\""]),
        "Created /app\n"
    );
    assert_eq!(ok(s, &["get", "/app"]), "hello world\n");
    // No data argument creates null data, which zkCli prints as "null".
    ok(s, &["create", "/app/empty"]);
    assert_eq!(ok(s, &["get", "/app/empty"]), "null\n");
    let seq = ok(s, &["create", "-s", "/app/job-", "x"]);
    assert_eq!(seq, "Created /app/job-0000000001\n");

    let stat = ok(s, &["-c", "get -s /app"]);
    let lines: Vec<&str> = stat.lines().collect();
    assert_eq!(lines[0], "hello world");
    assert!(lines[1].starts_with("cZxid = 0x"), "{stat}");
    assert!(lines.contains(&"dataVersion = 0"), "{stat}");
    assert!(lines.contains(&"dataLength = 11"), "{stat}");
    assert!(lines.contains(&"numChildren = 2"), "{stat}");

    ok(s, &["set", "-v", "0", "/app", "v2"]);
    assert!(ok(s, &["stat", "/app"]).contains("dataVersion = 1\n"));
    assert_eq!(
        ok(s, &["ls", "-R", "/app"]),
        "/app\n/app/empty\n/app/job-0000000001\n"
    );
    assert_eq!(ok(s, &["getAcl", "/app"]), "'world,'anyone\n: cdrwa\n");
    assert_eq!(ok(s, &["sync", "/app"]), "Sync is OK\n");

    fails(s, &["create", "/app", "x"], 4, "Node already exists: /app");
    fails(s, &["get", "/nope"], 3, "Node does not exist: /nope");
    fails(
        s,
        &["set", "-v", "7", "/app", "x"],
        5,
        "version No is not valid : /app",
    );
    fails(s, &["delete", "/app"], 6, "Node not empty: /app");
    // The "auth" scheme without an identity on the session is an invalid ACL.
    fails(
        s,
        &["create", "/bad", "x", "auth::cdrwa"],
        9,
        "Acl is not valid : /bad",
    );
    fails(s, &["frobnicate", "/"], 1, "unknown command");
    fails(s, &["get"], 1, "usage: get");
    fails(s, &["create", "-e", "-c", "/x"], 1, "exclude");

    // A read-only ACL refuses writes with NoAuth.
    ok(s, &["create", "/ro", "x"]);
    ok(s, &["setAcl", "/ro", "world:anyone:r"]);
    assert_eq!(ok(s, &["getAcl", "/ro"]), "'world,'anyone\n: r\n");
    fails(s, &["set", "/ro", "y"], 7, "Insufficient permission : /ro");

    ok(s, &["deleteall", "/app"]);
    fails(s, &["get", "/app"], 3, "Node does not exist: /app");

    server.stop();
    // Nothing listens any more: a connection failure.
    fails(s, &["ls", "/"], 2, "Connection");
}

#[test]
fn watch_events_arrive_while_the_shell_waits() {
    let dir = temp_dir("cli-watch");
    let server = Server::start(&dir.join("data"));

    let (tx, rx) = mpsc::channel();
    let mut watcher = Shell::new(tx, 10_000);
    watcher.connect(&server.addr).unwrap();
    let mut out = Vec::new();
    watcher.execute("create /w one", &mut out).unwrap();
    watcher.execute("get -w /w", &mut out).unwrap();
    watcher.execute("ls -w /w", &mut out).unwrap();

    let (tx2, _rx2) = mpsc::channel();
    let mut writer = Shell::new(tx2, 10_000);
    writer.connect(&server.addr).unwrap();
    writer.execute("set /w two", &mut Vec::new()).unwrap();
    writer.execute("create /w/c x", &mut Vec::new()).unwrap();

    let mut seen = Vec::new();
    while seen.len() < 2 {
        let ev = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a watch event within 10 s");
        // State changes (SyncConnected) come first; keep only node events.
        if ev.event_type != -1 {
            seen.push((ev.event_type, ev.path));
        }
    }
    seen.sort();
    assert_eq!(seen, vec![(3, "/w".to_string()), (4, "/w".to_string())]);
    assert_eq!(watcher.execute("quit", &mut out).unwrap(), Flow::Quit);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "Created /w\none\n[]\n".to_string()
    );
    writer.close();
    watcher.close();
}
