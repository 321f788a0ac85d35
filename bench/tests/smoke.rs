//! Smoke tests of the rk-load and rk-bench-suite binaries against a real ringkeeper.
//!
//! The server binary belongs to another crate, so it is looked up as
//! `target/{release,debug}/ringkeeper` of this workspace. When neither exists these tests
//! print why and pass without running: building another crate from a test is not allowed.

use ringkeeper_bench::suite::server::{pick_addr, Server, ServerKind};
use std::path::PathBuf;
use std::process::Command;

fn server_binary() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    ["release", "debug"]
        .iter()
        .map(|p| target.join(p).join("ringkeeper"))
        .find(|p| p.is_file())
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rk-bench-smoke-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn start_server(name: &str) -> Option<(Server, PathBuf)> {
    let Some(bin) = server_binary() else {
        eprintln!(
            "SKIPPED: no target/release/ringkeeper or target/debug/ringkeeper; build ringkeeper-server first"
        );
        return None;
    };
    let dir = scratch(name);
    let addr = pick_addr(name.len() as u32 * 31).expect("free address");
    let server = Server::start(ServerKind::Ringkeeper(bin), &dir, &addr).expect("server starts");
    Some((server, dir))
}

fn json(path: &PathBuf) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("report written");
    serde_json::from_str(&text).expect("report is JSON")
}

#[test]
fn rk_load_counts_every_request_of_a_mixed_closed_loop_run() {
    let Some((server, dir)) = start_server("closed") else {
        return;
    };
    let out = dir.join("load.json");
    let hgrm = dir.join("hgrm");
    let status = Command::new(env!("CARGO_BIN_EXE_rk-load"))
        .args(["--hosts", &server.addr, "-c", "3", "--in-flight", "4"])
        .args(["--requests", "600", "--warmup", "0s", "--keys", "50"])
        .args(["--distribution", "zipfian", "-q"])
        .args([
            "--mix",
            "getData=4,exists=1,getChildren=1,setData=1,create=1,delete=1,multi=1,watch=1",
        ])
        .arg("--json")
        .arg(&out)
        .arg("--hgrm")
        .arg(&hgrm)
        .status()
        .expect("rk-load runs");
    assert!(status.success(), "rk-load exit status {status}");
    let v = json(&out);
    assert_eq!(v["total"]["count"], 600, "{v}");
    assert_eq!(v["total"]["errors"], 0, "{v}");
    assert_eq!(v["unanswered"], 0);
    let ops = v["ops"].as_object().expect("ops");
    for op in [
        "getData",
        "exists",
        "getChildren",
        "setData",
        "create",
        "multi",
    ] {
        assert!(ops.contains_key(op), "missing {op} in {v}");
    }
    let per_op: u64 = ops.values().map(|o| o["count"].as_u64().unwrap_or(0)).sum();
    assert_eq!(per_op, 600);
    assert!(hgrm.join("getData.hgrm").is_file());
    assert!(hgrm.join("all.hgrm").is_file());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rk_load_open_loop_sends_at_the_requested_rate() {
    let Some((server, dir)) = start_server("open") else {
        return;
    };
    let out = dir.join("open.json");
    let status = Command::new(env!("CARGO_BIN_EXE_rk-load"))
        .args(["--hosts", &server.addr, "-c", "2", "--rate", "400"])
        .args(["--duration", "1s", "--warmup", "0s", "--keys", "20", "-q"])
        .arg("--json")
        .arg(&out)
        .status()
        .expect("rk-load runs");
    assert!(status.success(), "rk-load exit status {status}");
    let count = json(&out)["total"]["count"].as_u64().unwrap_or(0);
    // 400 requests per second for one second, scheduled exactly: the schedule fixes the
    // count, whatever the server's speed, because sending stops at the deadline.
    assert!((390..=401).contains(&count), "count {count}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rk_load_reports_connection_errors_and_fails() {
    // Port 1 on loopback refuses connections; the run must end by itself and say so.
    let output = Command::new(env!("CARGO_BIN_EXE_rk-load"))
        .args(["--hosts", "127.0.0.1:1", "-c", "1", "--duration", "300ms"])
        .args(["--warmup", "0s", "--no-setup", "-q"])
        .output()
        .expect("rk-load runs");
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("connection error"), "{stdout}");
}

#[test]
fn rk_load_rejects_a_bad_mix() {
    let output = Command::new(env!("CARGO_BIN_EXE_rk-load"))
        .args(["--mix", "getData=1,teleport=2"])
        .output()
        .expect("rk-load runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("teleport"));
}

#[test]
fn rk_bench_suite_quick_writes_a_report() {
    let Some(bin) = server_binary() else {
        eprintln!("SKIPPED: no ringkeeper server binary in target/");
        return;
    };
    let out = scratch("suite-out");
    let status = Command::new(env!("CARGO_BIN_EXE_rk-bench-suite"))
        .arg("--quick")
        .arg("--ringkeeper-bin")
        .arg(&bin)
        .args(["--duration", "200ms", "--warmup", "100ms", "--clients", "2"])
        .args(["--watchers", "3", "--fanout-rounds", "3", "--znodes", "500"])
        .args(["--flood-connections", "2", "--flood-requests", "50"])
        .arg("--work-dir")
        .arg(scratch("suite-work"))
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("suite runs");
    assert!(status.success(), "suite exit status {status}");
    let v = json(&out.join("report.json"));
    assert_eq!(v["serial"].as_array().map(Vec::len), Some(7), "{v}");
    assert_eq!(v["throughput"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["fanout"][0]["report"]["rounds"], 3);
    assert_eq!(v["memory"][0]["znodes"], 500);
    assert_eq!(v["flood"][0]["flooders"], 2, "{v}");
    assert!(v["flood"][0]["idle"]["count"].as_u64().unwrap_or(0) > 0);
    assert!(v["machine"]["fdatasync"]["count"].as_u64().unwrap_or(0) > 0);
    let md = std::fs::read_to_string(out.join("report.md")).expect("markdown");
    assert!(md.contains("## Targets"));
    assert!(std::fs::read_to_string(out.join("throughput.svg"))
        .expect("svg")
        .starts_with("<svg"));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn rk_bench_suite_compares_with_a_server_it_did_not_start() {
    // `--compare HOST:PORT`: a server someone else runs gets the latency scenarios, and
    // none of those that would restart it.
    let Some((other, _dir)) = start_server("external") else {
        return;
    };
    let Some(bin) = server_binary() else {
        return;
    };
    let out = scratch("suite-external-out");
    let status = Command::new(env!("CARGO_BIN_EXE_rk-bench-suite"))
        .arg("--quick")
        .arg("--ringkeeper-bin")
        .arg(&bin)
        .args(["--compare", &other.addr])
        .args(["--scenarios", "serial,memory"])
        .args([
            "--duration",
            "200ms",
            "--warmup",
            "100ms",
            "--znodes",
            "200",
        ])
        .arg("--work-dir")
        .arg(scratch("suite-external-work"))
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("suite runs");
    assert!(status.success(), "suite exit status {status}");
    let v = json(&out.join("report.json"));
    assert_eq!(
        v["targets"],
        serde_json::json!(["ringkeeper", "other"]),
        "{v}"
    );
    let serial = v["serial"].as_array().expect("serial rows");
    assert_eq!(serial.len(), 14, "7 operations on each target: {v}");
    assert!(
        serial.iter().any(|r| r.to_string().contains("\"other\"")),
        "the external server was measured: {v}"
    );
    let memory = v["memory"].as_array().expect("memory rows");
    assert_eq!(
        memory.len(),
        1,
        "memory runs only on the server the suite starts: {v}"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_rk-bench-suite"))
        .args(["--compare", "not-an-address"])
        .status()
        .expect("suite runs");
    assert_eq!(bad.code(), Some(2), "a bad --compare is refused");
}
