//! Starting the debug ringkeeper server for integration tests.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to accept connections.
const START_TIMEOUT_MS: u64 = 20_000;

/// The debug server binary the tests run against; building it is the caller's job, and a
/// missing binary fails the test with that instruction rather than skipping it.
pub fn server_binary() -> PathBuf {
    // Cargo builds into CARGO_TARGET_DIR when it is set, the workspace's target/ otherwise.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug/ringkeeper");
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build -p ringkeeper-server`",
        path.display()
    );
    path
}

/// A free port on 127.0.0.1 (the listener is dropped, so a race is possible but rare).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral port")
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("rk-tools-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("creating a temp dir");
    root
}

/// A ringkeeper server that is killed when dropped.
pub struct Server {
    child: Child,
    pub addr: String,
    pub data_dir: PathBuf,
}

impl Server {
    pub fn start(data_dir: &Path) -> Server {
        let port = free_port();
        let log = std::fs::File::create(data_dir.with_extension("log")).expect("server log");
        let child = Command::new(server_binary())
            .args(["--client-port", &port.to_string()])
            .args(["--client-port-address", "127.0.0.1"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["-D", "4lw.commands.whitelist=*"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting the server");
        let addr = format!("127.0.0.1:{port}");
        let server = Server {
            child,
            addr: addr.clone(),
            data_dir: data_dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_millis(START_TIMEOUT_MS);
        while TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "server on {addr} did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// Stops the server with SIGTERM so that it closes its files cleanly.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
