//! The importer against the real thing: Debian's Apache ZooKeeper writes znodes (data,
//! null and empty data, sequential names, ACLs, set and deleted nodes, containers and TTL
//! nodes) across several snapshots and log files; it is stopped, its dataDir imported,
//! and ringkeeper started on the result must answer every `get -s` and `getAcl` exactly
//! as Apache did.

mod support;

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringkeeper_engine::{perms, Id};
use ringkeeper_tools::apache;
use ringkeeper_tools::cli::Shell;
use support::{free_port, temp_dir, Server};

const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
const CLASSPATH: &str =
    "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-simple.jar";

/// Apache ZooKeeper, killed when dropped.
struct Apache {
    child: Child,
    addr: String,
}

impl Apache {
    fn start(dir: &Path) -> Apache {
        assert!(
            Path::new(ZOOKEEPER_JAR).exists(),
            "{ZOOKEEPER_JAR} is missing: install Debian's `zookeeper` package (ci/install-deps.sh)"
        );
        let port = free_port();
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        // snapCount=10 makes Apache take a snapshot and start a new log every few txns,
        // so the import has to pick the newest snapshot and replay the log after it.
        let cfg = format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             admin.enableServer=false\nsnapCount=10\npreAllocSize=64\n",
            data.display()
        );
        std::fs::write(dir.join("zoo.cfg"), cfg).unwrap();
        let log = std::fs::File::create(dir.join("apache.log")).unwrap();
        let child = Command::new("java")
            .arg("-Dzookeeper.extendedTypesEnabled=true")
            .args(["-cp", CLASSPATH])
            .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
            .arg(dir.join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting java (install Debian's `zookeeper` package)");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "Apache ZooKeeper did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Apache { child, addr }
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn shell(addr: &str) -> Shell {
    let (tx, _) = mpsc::channel();
    let mut s = Shell::new(tx, 10_000);
    // Apache may take a moment after its port opens before it serves sessions.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match s.connect(addr) {
            Ok(()) => return s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("connecting to {addr}: {e}"),
        }
    }
}

fn run(s: &mut Shell, line: &str) -> String {
    let mut out = Vec::new();
    if let Err(e) = s.execute(line, &mut out) {
        panic!("{line}: {e}");
    }
    String::from_utf8(out).unwrap()
}

/// Every path with its `get -s` and `getAcl` output.
fn snapshot_view(s: &mut Shell) -> BTreeMap<String, String> {
    let listing = run(s, "ls -R /");
    listing
        .lines()
        .map(|path| {
            let view = format!(
                "{}{}",
                run(s, &format!("get -s \"{path}\"")),
                run(s, &format!("getAcl \"{path}\""))
            );
            (path.to_string(), view)
        })
        .collect()
}

#[test]
fn apache_data_directory_imports_with_every_stat_and_acl() {
    let dir = temp_dir("import-apache");
    let apache = Apache::start(&dir);
    let mut zk = shell(&apache.addr);
    for line in [
        "create /app hello",
        "create /app/empty \"\"",
        "create /app/null",
        "create -s /app/job- one",
        "create -s /app/job- two",
        "create /secret s digest:bob:aGFzaA==:cdrwa,world:anyone:r",
        "set /app v1",
        "set /app v2",
        "setAcl /app world:anyone:cdrw",
        "create -c /queue",
        "create /queue/item x",
        "create -t 600000 /ttl t",
        "create /gone x",
        "delete /gone",
    ] {
        run(&mut zk, line);
    }
    // Enough writes to cross several snapshots (snapCount=10), then a few after the
    // last one so that the log after the newest snapshot has to be replayed.
    for i in 0..30 {
        run(&mut zk, &format!("create /n{i} data-{i}"));
        if i % 3 == 0 {
            run(&mut zk, &format!("set /n{i} changed-{i}"));
        }
    }
    run(&mut zk, "delete /n7");
    run(&mut zk, "set /app v3");
    let expected = snapshot_view(&mut zk);
    assert!(expected["/app"].starts_with("v3\n"), "{}", expected["/app"]);
    assert!(expected["/app"].contains("dataVersion = 3\n"));
    assert!(expected["/app"].contains("aclVersion = 1\n"));
    // Apache shows a digest id's hash only to clients with ADMIN on the node.
    assert!(
        expected["/secret"].contains("'digest,'bob:x\n: cdrwa\n'world,'anyone\n: r\n"),
        "{}",
        expected["/secret"]
    );
    for path in ["/ttl", "/queue/item", "/app/null", "/n29"] {
        assert!(expected.contains_key(path), "{path}");
    }
    assert!(!expected.contains_key("/n7") && !expected.contains_key("/gone"));
    zk.close();
    drop(apache);

    let target = dir.join("ringkeeper");
    let report = apache::import(&dir.join("data"), None, &target).expect("import");
    let (snap, snap_zxid) = report
        .snapshot
        .clone()
        .expect("an Apache snapshot was used");
    assert!(snap.contains("snapshot."), "{snap}");
    assert!(
        snap_zxid > 0,
        "the newest snapshot, not the empty first one"
    );
    assert!(report.replayed_txns > 0, "{report:?}");
    assert!(report.last_zxid > snap_zxid);
    // The stored ACL keeps the real hash.
    let state = ringkeeper_tools::export::load(&target).expect("reading the import back");
    let (acl, _) = state.tree.acl("/secret").expect("/secret imported");
    assert_eq!(acl[0].id, Id::new("digest", "bob:aGFzaA=="));
    assert_eq!(acl[0].perms, perms::ALL);
    // The import refuses to overwrite what it wrote.
    assert!(apache::import(&dir.join("data"), None, &target).is_err());

    first_start_import_is_all_or_nothing(&dir, report.last_zxid);

    let server = Server::start(&target);
    let mut rk = shell(&server.addr);
    let got = snapshot_view(&mut rk);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (path, view) in &expected {
        assert_eq!(&got[path], view, "{path}");
    }
    // The imported server goes on where Apache stopped: the next sequential name follows.
    assert_eq!(
        run(&mut rk, "create -s /app/job- three"),
        "Created /app/job-0000000004\n"
    );
    rk.close();
}

/// Every file under `dir` with its bytes.
fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.insert(path.display().to_string(), std::fs::read(&path).unwrap());
        }
    }
    out
}

fn copy_files(from: &Path, to: &Path, keep: impl Fn(&str) -> bool) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if keep(&name) {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// The server's first-start import on copies of Apache's directory: the remains of an
/// interrupted import (a half-written staging folder, an empty store) are redone, not
/// trusted; Apache's files are only read; logs kept apart (Apache's `dataLogDir`) are
/// found; and a second start leaves the imported store alone.
fn first_start_import_is_all_or_nothing(dir: &Path, last_zxid: ringkeeper_engine::Zxid) {
    let apache_v2 = dir.join("data/version-2");
    let data = dir.join("first-start/data");
    let logs = dir.join("first-start/logs");
    copy_files(&apache_v2, &data.join("version-2"), |n| {
        !n.starts_with("log.")
    });
    copy_files(&apache_v2, &logs.join("version-2"), |n| {
        n.starts_with("log.")
    });
    let staging = data.join("ringkeeper-v1.import");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join("snapshot.0000000000000001.tmp"), b"torn").unwrap();
    std::fs::create_dir_all(data.join(apache::STORE_DIR_NAME)).unwrap();
    let apache_before = (files_under(&data.join("version-2")), files_under(&logs));

    let report = match apache::import_on_first_start(&data, &logs).expect("first start") {
        apache::FirstStart::Imported(report) => report,
        other => panic!("expected an import, got {other:?}"),
    };
    assert_eq!(
        report.last_zxid, last_zxid,
        "the logs under dataLogDir were replayed"
    );
    assert!(
        !staging.exists(),
        "the staging folder was renamed into place"
    );
    let store = files_under(&data.join(apache::STORE_DIR_NAME));
    assert_eq!(
        store.len(),
        1,
        "one snapshot and nothing else: {:?}",
        store.keys()
    );
    assert!(matches!(
        apache::import_on_first_start(&data, &logs),
        Ok(apache::FirstStart::RingkeeperData)
    ));
    assert_eq!(
        (files_under(&data.join("version-2")), files_under(&logs)),
        apache_before,
        "Apache's files are untouched"
    );
    // The logs kept apart but dataLogDir not given: the snapshot alone is imported, and
    // the report says why the newest txns may be missing.
    let snap_only = dir.join("first-start/snap-only");
    copy_files(&apache_v2, &snap_only.join("version-2"), |n| {
        !n.starts_with("log.")
    });
    match apache::import_on_first_start(&snap_only, &snap_only).expect("snapshot only") {
        apache::FirstStart::Imported(report) => assert!(
            report.warnings.iter().any(|w| w.contains("dataLogDir")),
            "{:?}",
            report.warnings
        ),
        other => panic!("expected an import, got {other:?}"),
    }
    let empty = dir.join("first-start/empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert!(matches!(
        apache::import_on_first_start(&empty, &empty),
        Ok(apache::FirstStart::Empty)
    ));
}
