//! Disk full (storage issue): when the log's file system fills up, writes get a clear
//! error, nothing acknowledged is lost, the log is not corrupted, and reads go on being
//! served until the operator stops the server.
//!
//! The server runs in its own mount namespace (`unshare -rm`, which works for root and, where
//! user namespaces are allowed, for other users) with its data directory on a 2 MiB tmpfs, so
//! the test fills a real file system without touching the machine's disks.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::server::four_letter_word;
use common::*;

const TMPFS_BYTES: u64 = 2 << 20;

struct Contained {
    child: Child,
    dir: std::path::PathBuf,
}

impl Drop for Contained {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            eprintln!("---- server log ----\n{log}");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_address() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn start_on_small_tmpfs() -> (Contained, std::net::SocketAddr) {
    let dir = std::env::temp_dir().join(format!("rk-diskfull-{}", std::process::id()));
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let addr = free_address();
    let cfg = dir.join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\npreAllocSize=64\nsnapCount=1000000\n",
            data.display(),
            addr.port()
        ),
    )
    .unwrap();
    let script = format!(
        "mount -t tmpfs -o size={TMPFS_BYTES} tmpfs '{}' && exec '{}' '{}'",
        data.display(),
        env!("CARGO_BIN_EXE_ringkeeper"),
        cfg.display()
    );
    let child = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("server.log")).unwrap())
        .spawn()
        .expect("unshare (util-linux) must be installed");
    let contained = Contained { child, dir };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(answer) = four_letter_word(addr, "ruok") {
            if answer == "imok" {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "server on a tmpfs never answered ruok; log:\n{}",
            std::fs::read_to_string(contained.dir.join("server.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (contained, addr)
}

#[tokio::test]
async fn a_full_disk_refuses_writes_and_keeps_serving_reads() {
    let (server, addr) = start_on_small_tmpfs();
    let client = zookeeper_client::Client::connector()
        .with_session_timeout(Duration::from_secs(20))
        .connect(&addr.to_string())
        .await
        .expect("connect");
    let value = vec![7u8; 16 * 1024];
    let mut acknowledged = Vec::new();
    let mut refusal = None;
    // 2 MiB of tmpfs holds far fewer than this many 16 KiB records.
    for i in 0..1000 {
        let path = format!("/n{i}");
        match within(
            "a write on a full disk",
            client.create(&path, &value, &persistent()),
        )
        .await
        {
            Ok(_) => acknowledged.push(path),
            Err(e) => {
                refusal = Some(e);
                break;
            }
        }
    }
    let refusal = refusal.expect("the tmpfs never filled up: the test checked nothing");
    assert!(
        !acknowledged.is_empty(),
        "nothing was written before the disk filled"
    );
    println!("disk full after {} writes: {refusal}", acknowledged.len());
    // Later writes are refused too, promptly and clearly.
    let again = within(
        "a second write",
        client.create("/after", b"x", &persistent()),
    )
    .await;
    assert!(again.is_err(), "a poisoned log must refuse writes");
    // Reads go on, and every acknowledged write is there.
    for path in &acknowledged {
        let (data, _) = within("a read", client.get_data(path)).await.unwrap();
        assert_eq!(data, value, "{path}");
    }
    assert_eq!(four_letter_word(addr, "ruok").unwrap(), "imok");
    let log = std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default();
    assert!(
        log.contains("disk full"),
        "the log must say why writes stopped:\n{log}"
    );
}
