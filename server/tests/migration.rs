//! Moving a standalone Apache ZooKeeper server to ringkeeper: Debian's Apache 3.8 writes
//! znodes on a temp dataDir, is stopped, and the server under test starts on the same
//! zoo.cfg. Every znode's data, stat and ACL must read back as Apache served them, the
//! counters go on where Apache left them, and a session that was alive when Apache stopped
//! expires with its ephemeral as it would have on Apache.
//!
//! With `RK_TEST_SERVER=apache` the second server is Apache again, which proves the
//! expectations on the reference. Without Apache installed the test says so and skips.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::ensemble::{Ensemble, EnsembleOptions};
use common::jute::{err, op, Out};
use common::load::{try_connect, Load};
use common::server::{apache_installed, Flavor};
use common::*;
use zookeeper_client::{Acl, Acls, AuthId, Client, CreateMode, Permission};

/// Larger than any socket buffer and Apache's 64 KiB log preallocation step, well under
/// the 1 MiB packet limit.
const LARGE_DATA_BYTES: usize = 700 * 1024;
/// Apache takes a snapshot and starts a new log every few txns, so the import has to
/// combine a snapshot with logs written after it.
const SNAP_COUNT: u32 = 10;
/// The session left open when Apache stops: long enough to outlive the switch on a busy
/// machine, short enough to watch it expire.
const ORPHAN_SESSION_MS: i32 = 8000;
/// How long the orphaned session's ephemeral may outlive its timeout after the switch.
const EXPIRY_SLACK: Duration = Duration::from_secs(15);

/// Every node's data, stat and ACL, as text so that mismatches print readably.
async fn view(client: &Client) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut pending = vec!["/".to_string()];
    while let Some(path) = pending.pop() {
        let (data, stat) = client
            .get_data(&path)
            .await
            .unwrap_or_else(|e| panic!("get {path}: {e}"));
        let (acl, _) = client
            .get_acl(&path)
            .await
            .unwrap_or_else(|e| panic!("getAcl {path}: {e}"));
        // The large node is compared by length and a checksum-like sample, not printed.
        let shown = if data.len() > 64 {
            format!(
                "{} bytes, sum {}",
                data.len(),
                data.iter().map(|&b| u64::from(b)).sum::<u64>()
            )
        } else {
            String::from_utf8_lossy(&data).into_owned()
        };
        out.insert(path.clone(), format!("{shown:?} {stat:?} {acl:?}"));
        for child in client.list_children(&path).await.unwrap() {
            let prefix = if path == "/" { "" } else { path.as_str() };
            pending.push(format!("{prefix}/{child}"));
        }
    }
    out
}

/// True, with the reason printed, when Debian's Apache ZooKeeper is not installed.
fn skipped_without_apache() -> bool {
    if apache_installed() {
        return false;
    }
    eprintln!(
        "SKIPPED: Debian's Apache ZooKeeper (/usr/share/java/zookeeper.jar) is not installed; \
         ci/install-deps.sh installs it"
    );
    true
}

async fn write_znodes(client: &Client, server: &TestServer) -> common::raw::RawConn {
    let open = persistent();
    client.create("/app", b"hello", &open).await.unwrap();
    client.set_data("/app", b"v1", None).await.unwrap();
    client.set_data("/app", b"v2", Some(1)).await.unwrap();
    client.create("/app/empty", b"", &open).await.unwrap();
    let large: Vec<u8> = (0..LARGE_DATA_BYTES).map(|i| (i % 251) as u8).collect();
    client.create("/large", &large, &open).await.unwrap();
    client.create("/seq", b"", &open).await.unwrap();
    let sequential = CreateMode::PersistentSequential.with_acls(Acls::anyone_all());
    for i in 0..3 {
        client
            .create("/seq/job-", format!("{i}").as_bytes(), &sequential)
            .await
            .unwrap();
    }
    client.delete("/seq/job-0000000001", None).await.unwrap();
    let bob = [
        Acl::new(
            Permission::ALL,
            AuthId::new("digest", "bob:3Tsh/7Lx6lCEhdMdNqOm8hqKNFk="),
        ),
        Acl::new(Permission::READ, AuthId::anyone()),
    ];
    client
        .create(
            "/secret",
            b"s",
            &CreateMode::Persistent.with_acls(Acls::new(&bob)),
        )
        .await
        .unwrap();
    let world_rwcd = [Acl::new(
        Permission::READ | Permission::WRITE | Permission::CREATE | Permission::DELETE,
        AuthId::anyone(),
    )];
    client.set_acl("/app", &world_rwcd, Some(0)).await.unwrap();
    client
        .create(
            "/queue",
            b"",
            &CreateMode::Container.with_acls(Acls::anyone_all()),
        )
        .await
        .unwrap();
    client.create("/queue/item", b"x", &open).await.unwrap();
    for i in 0..SNAP_COUNT * 3 {
        client.create(&format!("/n{i}"), b"n", &open).await.unwrap();
    }
    client.delete("/n7", None).await.unwrap();

    // An ephemeral whose session closed before the stop is gone for good.
    let (mut short, _) = RawConn::new_session(server, ORPHAN_SESSION_MS);
    let create = short.request(
        op::CREATE,
        Out::new().string("/gone").buffer(b"").open_acl().int(1),
    );
    assert_eq!(create.err, err::OK);
    assert_eq!(short.request(op::CLOSE_SESSION, Out::new()).err, err::OK);

    // An ephemeral whose session is still open when the server stops.
    let (mut orphan, _) = RawConn::new_session(server, ORPHAN_SESSION_MS);
    let create = orphan.request(
        op::CREATE,
        Out::new().string("/lease").buffer(b"l").open_acl().int(1),
    );
    assert_eq!(create.err, err::OK);
    orphan
}

#[tokio::test]
async fn a_standalone_apache_server_moves_by_restarting_on_the_same_zoo_cfg() {
    if skipped_without_apache() {
        return;
    }
    let options = ServerOptions {
        max_session_timeout_ms: Some(30_000),
        extra_config: vec![format!("snapCount={SNAP_COUNT}")],
        ..Default::default()
    };
    let mut server = TestServer::start_as(Flavor::Apache, options);
    let client = connect(&server).await;
    let orphan = write_znodes(&client, &server).await;
    let expected = view(&client).await;
    assert!(expected.contains_key("/lease") && !expected.contains_key("/gone"));
    drop(client);

    let target = Flavor::from_env();
    server.restart_as(target);
    orphan.drop_connection();
    let client = connect(&server).await;
    let got = view(&client).await;
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the same znodes; log:\n{}",
        server.log()
    );
    for (path, before) in &expected {
        assert_eq!(&got[path], before, "{path}");
    }
    if target == Flavor::Ringkeeper {
        let log = server.log();
        assert!(
            log.contains("imported the Apache ZooKeeper data directory"),
            "the import is logged:\n{log}"
        );
    }
    // The counters go on where Apache left them, the deleted name not reused.
    let sequential = CreateMode::PersistentSequential.with_acls(Acls::anyone_all());
    // Apache numbers by the creates under the parent so far (three), deletes aside.
    let (_, sequence) = client.create("/seq/job-", b"3", &sequential).await.unwrap();
    assert_eq!(sequence.to_string(), "0000000003");
    // The session left open on Apache is not resumed by anyone: it expires, and its
    // ephemeral with it.
    let deadline = Instant::now() + Duration::from_millis(ORPHAN_SESSION_MS as u64) + EXPIRY_SLACK;
    while client.check_stat("/lease").await.unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "the orphaned session never expired"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How long an election may take, Apache's JVMs starting on a loaded 2-core machine included.
const ENSEMBLE_WAIT: Duration = Duration::from_secs(90);
/// Writes that must be acknowledged after each step, proving the quorum serves.
const WRITES_PER_STEP: usize = 20;

/// Runs a blocking harness call (process control, `srvr` polling) without starving the
/// runtime's other worker, where the write load runs.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// The rolling migration of docs/operations.md on a 3-member Apache 3.8 ensemble, under a
/// constant write load: member 3 is replaced first (Apache's quorum is members 1 and 2),
/// then member 2 (the new quorum is ringkeeper's members 2 and 3, which imported Apache's
/// data; writes pause while it forms), then member 1, which starts with its Apache files
/// moved aside and is brought up to date by the new leader. Every acknowledged write must
/// be on every member at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_member_apache_ensemble_moves_member_by_member_without_losing_a_write() {
    if skipped_without_apache() {
        return;
    }
    let target = Flavor::from_env();
    let options = EnsembleOptions {
        tick_time_ms: 500,
        extra_config: vec![
            "maxSessionTimeout=30000".to_string(),
            "snapCount=50".to_string(),
        ],
        ..EnsembleOptions::default()
    };
    let mut ensemble = blocking(|| Ensemble::start_as(3, options, Flavor::Apache));
    blocking(|| ensemble.wait_for_leader(ENSEMBLE_WAIT));
    let setup = try_connect(&ensemble.connect_string(), ENSEMBLE_WAIT)
        .await
        .expect("a client on the Apache ensemble");
    setup.create("/load", b"", &persistent()).await.unwrap();
    drop(setup);
    let load = Load::start(ensemble.connect_string(), 2, "/load");
    let started = Instant::now();
    load.wait_acked_since(started, WRITES_PER_STEP, ENSEMBLE_WAIT, "Apache ensemble")
        .await;

    // Step 1: member 3 leaves Apache's quorum, which goes on with members 1 and 2.
    blocking(|| ensemble.replace(2, target));
    let step = Instant::now();
    load.wait_acked_since(
        step,
        WRITES_PER_STEP,
        ENSEMBLE_WAIT,
        "Apache members 1 and 2",
    )
    .await;

    // Step 2: member 2 goes; Apache's member 1 is left without a quorum, and the new
    // members 2 and 3 elect a leader among themselves on the imported data.
    blocking(|| ensemble.replace(1, target));
    let step = Instant::now();
    load.wait_acked_since(step, WRITES_PER_STEP, ENSEMBLE_WAIT, "new members 2 and 3")
        .await;

    // Step 3: member 1's Apache data holds nothing the new quorum lacks (it could only
    // hold a proposal never committed); it is set aside and the leader sends a snapshot.
    blocking(|| ensemble.stop(0));
    let apache_files = ensemble.data_dir(0).join("version-2");
    std::fs::rename(&apache_files, ensemble.data_dir(0).join("version-2.apache"))
        .expect("setting member 1's Apache files aside");
    blocking(|| ensemble.replace(0, target));
    blocking(|| ensemble.wait_serving(0, ENSEMBLE_WAIT));
    let step = Instant::now();
    load.wait_acked_since(step, WRITES_PER_STEP, ENSEMBLE_WAIT, "all new members")
        .await;
    let acked = load.finish().await;

    for member in 0..3 {
        let client = try_connect(&ensemble.connect_string_of(&[member]), ENSEMBLE_WAIT)
            .await
            .unwrap_or_else(|e| panic!("member {member}: {e}"));
        // A follower shows what the leader committed once it has caught up to a sync.
        client.sync("/load").await.unwrap();
        let children: BTreeSet<String> = client
            .list_children("/load")
            .await
            .unwrap()
            .into_iter()
            .collect();
        let lost: Vec<&String> = acked.difference(&children).collect();
        assert!(
            lost.is_empty(),
            "member {member} lacks {} acknowledged writes, e.g. {:?};\n{}",
            lost.len(),
            lost.iter().take(5).collect::<Vec<_>>(),
            blocking(|| ensemble.describe())
        );
    }
    if target == Flavor::Ringkeeper {
        for member in [1, 2] {
            assert!(
                ensemble
                    .log(member)
                    .contains("imported the Apache ZooKeeper data directory"),
                "member {member} imported Apache's data"
            );
        }
    }
}
