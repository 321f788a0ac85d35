//! Multi-process ensemble tests (issue 4): 3 and 5 `ringkeeper` processes on 127.0.0.x,
//! configured as an Apache ensemble is (`server.N` lines, `myid`), checked from the outside
//! through clients, raw jute and four-letter words.
//!
//! What they hold the ensemble to:
//! - one leader; writes through a follower are forwarded and visible everywhere after `sync`;
//!   sessions are global (resume on any member, ephemerals kept, removed everywhere on close);
//! - a leader crash under load: a new leader serves writes within a bound, no acknowledged
//!   write is lost, the crashed member catches up when restarted (Zab phase 2: sync by DIFF or,
//!   beyond the log window, SNAP);
//! - a member cut off from the majority refuses clients, the majority goes on, and the member
//!   catches up once healed; rolling restarts lose nothing; 5 members survive 2 crashes and
//!   stop at 3; a client whose lastZxidSeen is ahead of a member is refused there.
//!
//! The tests run one at a time (`SERIAL`): each starts 3 to 5 servers, and running them side
//! by side on a 2-core machine would turn timeouts into noise. Waits are generous: these are
//! behaviour checks, not timing checks. `RK_KEEP_ENSEMBLE=1` keeps the data directories and
//! logs of a failed run.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::ensemble::{Ensemble, EnsembleOptions, Mode, Proxy};
use common::jute::{err, op, Out};
use common::load::{try_connect, Load, OP_TIMEOUT};
use common::raw::RawConn;
use common::server::{apache_installed, Flavor};
use zookeeper_client::{Client, Error};

use common::{ephemeral, persistent};

/// The zoo.cfg key bounding how many committed proposals a leader keeps for DIFF syncs; a
/// follower further behind gets a snapshot. (Name from the lead engineer's config change;
/// keep in step with `server/src/config/keys.rs`.)
const LOG_WINDOW_KEY: &str = "ringkeeper.replication.logWindow";

/// How long an election may take from a cold start or after losing a leader.
const LEADER_WAIT: Duration = Duration::from_secs(30);
/// How long a restarted or healed member may take to serve again.
const SERVE_WAIT: Duration = Duration::from_secs(30);
/// How long a member that lost its quorum may keep saying it serves (syncLimit is 1 s here).
const REFUSE_WAIT: Duration = Duration::from_secs(15);
/// The bound on "leader lost" to "a write through a survivor is acknowledged". ZooKeeper does
/// it in well under a second; this bound only has to catch "never" on a loaded 2-core machine.
const FAILOVER_BOUND: Duration = Duration::from_secs(15);
/// How long a member may take to show what the others have (after `sync`).
const CONVERGE_WAIT: Duration = Duration::from_secs(30);

/// One ensemble at a time, see the module comment. A tokio mutex: it is held across awaits,
/// and a failed test must not poison it for the next one.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn options() -> EnsembleOptions {
    EnsembleOptions {
        // Long enough session timeouts to ride out elections and restarts.
        extra_config: vec!["maxSessionTimeout=30000".to_string()],
        ..EnsembleOptions::default()
    }
}

/// Runs a blocking harness call (process control, `srvr` polling) without starving the
/// runtime's other worker, where the write load runs.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

async fn connect(ensemble: &mut Ensemble, members: &[usize]) -> Client {
    let connect = ensemble.connect_string_of(members);
    match try_connect(&connect, SERVE_WAIT).await {
        Ok(client) => client,
        Err(error) => panic!("{error};\n{}", blocking(|| ensemble.describe())),
    }
}

/// `sync`s a member with the leader and lists a node's children there.
async fn children_on(
    ensemble: &Ensemble,
    member: usize,
    path: &str,
) -> Result<BTreeSet<String>, String> {
    let client = try_connect(
        &ensemble.connect_string_of(&[member]),
        Duration::from_secs(5),
    )
    .await?;
    match tokio::time::timeout(OP_TIMEOUT, client.sync(path)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(format!("sync {path} on member {member}: {error}")),
        Err(_) => return Err(format!("sync {path} on member {member} timed out")),
    }
    match tokio::time::timeout(OP_TIMEOUT, client.list_children(path)).await {
        Ok(Ok(children)) => Ok(children.into_iter().collect()),
        Ok(Err(Error::NoNode)) => Ok(BTreeSet::new()),
        Ok(Err(error)) => Err(format!("list {path} on member {member}: {error}")),
        Err(_) => Err(format!("list {path} on member {member} timed out")),
    }
}

fn sample(names: impl IntoIterator<Item = String>) -> String {
    let names: Vec<String> = names.into_iter().collect();
    let shown: Vec<&String> = names.iter().take(10).collect();
    format!("{} (e.g. {shown:?})", names.len())
}

/// Waits until member `member` has every child in `required` under `path` (after `sync`),
/// and, if `exact` is given, exactly those children. Returns what it has.
async fn converge(
    ensemble: &mut Ensemble,
    member: usize,
    path: &str,
    required: &BTreeSet<String>,
    exact: Option<&BTreeSet<String>>,
    what: &str,
) -> BTreeSet<String> {
    let deadline = Instant::now() + CONVERGE_WAIT;
    loop {
        let outcome = children_on(ensemble, member, path).await;
        let problem = match &outcome {
            Ok(have) => {
                let missing: Vec<String> = required.difference(have).cloned().collect();
                let (extra, lacking): (Vec<String>, Vec<String>) = match exact {
                    Some(exact) => (
                        have.difference(exact).cloned().collect(),
                        exact.difference(have).cloned().collect(),
                    ),
                    None => (Vec::new(), Vec::new()),
                };
                if missing.is_empty() && extra.is_empty() && lacking.is_empty() {
                    return have.clone();
                }
                format!(
                    "member {member} has {} children of {path}; missing {} required: {}; \
                     compared with the others, lacks {} and has {} extra",
                    have.len(),
                    missing.len(),
                    sample(missing),
                    sample(lacking),
                    sample(extra)
                )
            }
            Err(error) => error.clone(),
        };
        if Instant::now() >= deadline {
            panic!(
                "{what}: after {CONVERGE_WAIT:?}, {problem};\n{}",
                blocking(|| ensemble.describe())
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Creates `count` persistent children `n0..n{count}` of `dir` through `client`, 200 in flight
/// at a time; panics on any failure (the ensemble is healthy when this is used).
async fn create_many(client: &Client, dir: &str, count: usize) -> BTreeSet<String> {
    let mut created = BTreeSet::new();
    let names: Vec<String> = (0..count).map(|i| format!("n{i}")).collect();
    for chunk in names.chunks(200) {
        let paths: Vec<String> = chunk.iter().map(|name| format!("{dir}/{name}")).collect();
        // The client sends a request when its method is called, not when the future is first
        // polled, so building every future before awaiting any keeps the chunk pipelined.
        let pending: Vec<_> = paths
            .iter()
            .map(|path| client.create(path, b"", &persistent()))
            .collect();
        for ((name, path), reply) in chunk.iter().zip(&paths).zip(pending) {
            match tokio::time::timeout(Duration::from_secs(30), reply).await {
                Ok(Ok(_)) => {
                    created.insert(name.clone());
                }
                Ok(Err(error)) => panic!("creating {path}: {error}"),
                Err(_) => panic!("creating {path} timed out"),
            }
        }
    }
    created
}

/// Waits until a write through `members` is acknowledged; returns how long that took.
async fn first_write(
    ensemble: &mut Ensemble,
    members: &[usize],
    path: &str,
    wait: Duration,
) -> Duration {
    let started = Instant::now();
    let connect = ensemble.connect_string_of(members);
    let mut last_error = String::new();
    while started.elapsed() < wait {
        match try_connect(&connect, Duration::from_secs(1)).await {
            Ok(client) => {
                match tokio::time::timeout(
                    Duration::from_secs(2),
                    client.create(path, b"", &persistent()),
                )
                .await
                {
                    Ok(Ok(_)) | Ok(Err(Error::NodeExists)) => return started.elapsed(),
                    Ok(Err(error)) => last_error = error.to_string(),
                    Err(_) => last_error = "create timed out".to_string(),
                }
            }
            Err(error) => last_error = error,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no write through members {members:?} acknowledged within {wait:?} (last error: {last_error});\n{}",
        blocking(|| ensemble.describe())
    );
}

/// Asserts that a write through `members` is NOT acknowledged within `wait`.
async fn no_write(
    ensemble: &mut Ensemble,
    members: &[usize],
    path: &str,
    wait: Duration,
    why: &str,
) {
    let connect = ensemble.connect_string_of(members);
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if let Ok(client) = try_connect(&connect, Duration::from_millis(500)).await {
            if let Ok(Ok(_)) = tokio::time::timeout(
                Duration::from_secs(2),
                client.create(path, b"", &persistent()),
            )
            .await
            {
                panic!(
                    "{why}: a write of {path} through members {members:?} was acknowledged;\n{}",
                    blocking(|| ensemble.describe())
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every running member reports the same zxid in `srvr` (once writes have stopped).
fn wait_same_zxid(ensemble: &mut Ensemble, members: &[usize]) {
    let deadline = Instant::now() + CONVERGE_WAIT;
    loop {
        let zxids: Vec<Option<i64>> = members.iter().map(|&i| ensemble.probe(i).zxid).collect();
        if zxids[0].is_some() && zxids.iter().all(|z| *z == zxids[0]) {
            return;
        }
        if Instant::now() >= deadline {
            let shown: Vec<String> = zxids
                .iter()
                .map(|z| z.map(|z| format!("0x{z:x}")).unwrap_or_else(|| "-".into()))
                .collect();
            panic!(
                "members {members:?} report different zxids {shown:?} after writes stopped;\n{}",
                ensemble.describe()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn followers(ensemble: &mut Ensemble, leader: usize) -> Vec<usize> {
    (0..ensemble.len()).filter(|&i| i != leader).collect()
}

fn start_with_leader(n: usize, options: EnsembleOptions) -> (Ensemble, usize) {
    start_with_leader_as(n, options, Flavor::Ringkeeper)
}

/// As `start_with_leader`, with every member running `flavor`.
fn start_with_leader_as(n: usize, options: EnsembleOptions, flavor: Flavor) -> (Ensemble, usize) {
    let mut ensemble = Ensemble::start_as(n, options, flavor);
    let leader = ensemble.wait_for_leader(LEADER_WAIT);
    for member in 0..n {
        let mode = ensemble.wait_serving(member, SERVE_WAIT);
        assert!(
            member == leader || mode == Mode::Follower,
            "member {member} says {mode:?} while member {leader} leads;\n{}",
            ensemble.describe()
        );
    }
    (ensemble, leader)
}

/// Zab's election and broadcast seen from clients: one leader, writes forwarded by a follower
/// and visible on every member after `sync`, sessions valid on every member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_elect_one_leader_and_share_writes_and_sessions() {
    let _serial = SERIAL.lock().await;
    let (mut ensemble, leader) = blocking(|| start_with_leader(3, options()));
    let others = followers(&mut ensemble, leader);
    let (follower, third) = (others[0], others[1]);

    // A write through a follower is forwarded to the leader and visible everywhere.
    let client = connect(&mut ensemble, &[follower]).await;
    client
        .create("/shared", b"v1", &persistent())
        .await
        .unwrap_or_else(|e| panic!("create /shared through follower {follower}: {e}"));
    client
        .set_data("/shared", b"v2", None)
        .await
        .expect("setData through a follower");
    for member in 0..3 {
        let reader = connect(&mut ensemble, &[member]).await;
        reader.sync("/shared").await.expect("sync");
        let (data, stat) = reader
            .get_data("/shared")
            .await
            .unwrap_or_else(|e| panic!("member {member} lacks /shared after sync: {e}"));
        assert_eq!(
            data, b"v2",
            "member {member} has {data:?} for /shared after sync"
        );
        assert_eq!(stat.version, 1, "member {member}: /shared version");
    }
    drop(client);

    // A session opened on the follower resumes on the third member with its ephemeral.
    let mut first = RawConn::open(ensemble.client_address(follower));
    let session = first
        .handshake(0, 10_000, 0, &[0; 16])
        .unwrap_or_else(|| panic!("follower {follower} closed a fresh handshake"));
    assert_ne!(session.session_id, 0);
    let create = first.request(
        op::CREATE,
        Out::new().string("/owned").buffer(b"").open_acl().int(1),
    );
    assert_eq!(
        create.err,
        err::OK,
        "create ephemeral /owned on follower {follower}"
    );
    first.drop_connection();
    let mut second = RawConn::open(ensemble.client_address(third));
    let resumed = second
        .handshake(create.zxid, 10_000, session.session_id, &session.password)
        .unwrap_or_else(|| {
            panic!(
                "member {third} closed the resume of session 0x{:x} created on member {follower}: \
                 sessions (and their passwords) must be valid on every member;\n{}",
                session.session_id,
                blocking(|| ensemble.describe())
            )
        });
    assert_eq!(
        resumed.session_id, session.session_id,
        "member {third} answered the resume with another session (id 0 means expired)"
    );
    let exists = second.request(op::EXISTS, Out::new().string("/owned").boolean(false));
    assert_eq!(
        exists.err,
        err::OK,
        "the ephemeral is visible on member {third}"
    );
    assert_eq!(exists.reader().stat().ephemeral_owner, session.session_id);
    // The ephemeral is on every member, owned by the session.
    for member in 0..3 {
        let reader = connect(&mut ensemble, &[member]).await;
        reader.sync("/owned").await.expect("sync");
        let stat = reader
            .check_stat("/owned")
            .await
            .expect("exists")
            .unwrap_or_else(|| {
                panic!("member {member} lacks the ephemeral /owned of a live session")
            });
        assert_eq!(
            stat.ephemeral_owner, session.session_id,
            "owner on member {member}"
        );
    }

    // Closing the session removes its ephemeral on every member.
    let close = second.request(op::CLOSE_SESSION, Out::new());
    assert_eq!(close.err, err::OK, "closeSession on member {third}");
    for member in 0..3 {
        let deadline = Instant::now() + CONVERGE_WAIT;
        loop {
            let reader = connect(&mut ensemble, &[member]).await;
            reader.sync("/owned").await.expect("sync");
            if reader.check_stat("/owned").await.expect("exists").is_none() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "member {member} still has /owned {CONVERGE_WAIT:?} after its session closed;\n{}",
                blocking(|| ensemble.describe())
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A leader crash under a write load: a new leader serves writes within a bound, every
/// acknowledged write is on every survivor, and the crashed member catches up on restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_crash_under_load_loses_no_acknowledged_write() {
    let _serial = SERIAL.lock().await;
    let (mut ensemble, leader) = blocking(|| start_with_leader(3, options()));
    let survivors = followers(&mut ensemble, leader);
    let setup = connect(&mut ensemble, &survivors).await;
    setup
        .create("/load", b"", &persistent())
        .await
        .expect("create /load");
    drop(setup);

    let load = Load::start(ensemble.connect_string(), 4, "/load");
    let warmup = Instant::now();
    load.wait_acked_since(
        warmup,
        50,
        Duration::from_secs(20),
        "writes before the crash",
    )
    .await;

    let crashed_at = Instant::now();
    blocking(|| ensemble.kill(leader));
    let took = first_write(
        &mut ensemble,
        &survivors,
        "/after-crash",
        FAILOVER_BOUND * 2,
    )
    .await;
    eprintln!("leader loss to first acknowledged write: {took:?}");
    assert!(
        took <= FAILOVER_BOUND,
        "the first write after the leader crash took {took:?}, more than {FAILOVER_BOUND:?}"
    );
    let new_leader = blocking(|| ensemble.wait_for_leader(LEADER_WAIT));
    assert_ne!(new_leader, leader, "the killed member cannot lead");
    // The load itself resumes, through the clients' own failover.
    load.wait_acked_since(
        crashed_at,
        50,
        Duration::from_secs(30),
        "writes after the crash",
    )
    .await;
    let acked = load.finish().await;

    let mut reference = BTreeSet::new();
    for &member in &survivors {
        let have = converge(
            &mut ensemble,
            member,
            "/load",
            &acked,
            None,
            "every acknowledged write survives the leader crash",
        )
        .await;
        if reference.is_empty() {
            reference = have;
        }
    }
    let other = survivors[1];
    converge(
        &mut ensemble,
        other,
        "/load",
        &acked,
        Some(&reference),
        "survivors agree",
    )
    .await;

    blocking(|| {
        ensemble.restart(leader);
        ensemble.wait_serving(leader, SERVE_WAIT);
    });
    converge(
        &mut ensemble,
        leader,
        "/load",
        &acked,
        Some(&reference),
        "the restarted former leader catches up",
    )
    .await;
    blocking(|| wait_same_zxid(&mut ensemble, &[0, 1, 2]));
}

/// Zab phase 2, DIFF: a follower that missed a few writes gets them as proposals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_follower_catches_up_by_diff() {
    let _serial = SERIAL.lock().await;
    let (mut ensemble, leader) = blocking(|| start_with_leader(3, options()));
    let follower = followers(&mut ensemble, leader)[0];
    let up: Vec<usize> = (0..3).filter(|&i| i != follower).collect();
    blocking(|| ensemble.stop(follower));

    let client = connect(&mut ensemble, &up).await;
    client
        .create("/diff", b"", &persistent())
        .await
        .expect("create /diff");
    let created = create_many(&client, "/diff", 100).await;
    drop(client);

    blocking(|| {
        ensemble.restart(follower);
        ensemble.wait_serving(follower, SERVE_WAIT);
    });
    converge(
        &mut ensemble,
        follower,
        "/diff",
        &created,
        Some(&created),
        "the follower stopped during 100 writes has them after restart",
    )
    .await;
    blocking(|| wait_same_zxid(&mut ensemble, &[0, 1, 2]));
}

/// Zab phase 2, SNAP: a follower beyond the leader's log window gets a snapshot, then the
/// proposals after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_beyond_the_log_window_catches_up_by_snapshot() {
    let _serial = SERIAL.lock().await;
    let mut options = options();
    options.extra_config.push("snapCount=100".to_string());
    options.extra_config.push(format!("{LOG_WINDOW_KEY}=50"));
    let (mut ensemble, leader) = blocking(|| start_with_leader(3, options));
    let follower = followers(&mut ensemble, leader)[0];
    let up: Vec<usize> = (0..3).filter(|&i| i != follower).collect();

    let client = connect(&mut ensemble, &up).await;
    client
        .create("/snap", b"", &persistent())
        .await
        .expect("create /snap");
    // Some history the follower does have, so that it restarts with a non-empty log.
    client
        .create("/snap-pre", b"", &persistent())
        .await
        .expect("create /snap-pre");
    create_many(&client, "/snap-pre", 10).await;
    blocking(|| ensemble.stop(follower));
    let created = create_many(&client, "/snap", 2000).await;
    drop(client);

    blocking(|| {
        ensemble.restart(follower);
        ensemble.wait_serving(follower, SERVE_WAIT);
    });
    converge(
        &mut ensemble,
        follower,
        "/snap",
        &created,
        Some(&created),
        "the follower that missed 2000 writes (log window 50) has them after restart",
    )
    .await;
    blocking(|| wait_same_zxid(&mut ensemble, &[0, 1, 2]));
    // Which sync mode was used is not visible to clients; the log says, for whoever reads a
    // failure (a diagnostic, not a check: log wording is no contract).
    let installed = ensemble.log(follower).contains("snapshot");
    eprintln!("the follower's log mentions a snapshot: {installed}");
    // It keeps following: a write after the snapshot sync reaches it too.
    let client = connect(&mut ensemble, &up).await;
    client
        .create("/snap-after", b"", &persistent())
        .await
        .expect("create /snap-after");
    let reader = connect(&mut ensemble, &[follower]).await;
    reader.sync("/snap-after").await.expect("sync");
    assert!(
        reader
            .check_stat("/snap-after")
            .await
            .expect("exists")
            .is_some(),
        "a write after the snapshot sync is missing on the follower"
    );
}

/// Zab phase 2, SNAP under load (issue 14 item 7): a follower whose data directory is wiped
/// comes back empty, is sent the leader's snapshot as a windowed chunk transfer (prepared by
/// the leader's snapshotter, not its sequencer) while writes go on, and ends with every
/// acknowledged write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_follower_catches_up_by_a_streamed_snapshot_under_write_load() {
    let _serial = SERIAL.lock().await;
    let mut options = options();
    options.extra_config.push(format!("{LOG_WINDOW_KEY}=50"));
    let (mut ensemble, leader) = blocking(|| start_with_leader(3, options));
    let follower = followers(&mut ensemble, leader)[0];
    let up: Vec<usize> = (0..3).filter(|&i| i != follower).collect();

    let client = connect(&mut ensemble, &up).await;
    for dir in ["/tree", "/load"] {
        client
            .create(dir, b"", &persistent())
            .await
            .unwrap_or_else(|e| panic!("create {dir}: {e}"));
    }
    // A tree of several chunks' worth (1 MiB chunks): 5000 znodes of 512 bytes. A batch that
    // meets a connection loss (a loaded machine) is sent again on a new session.
    let mut client = client;
    let mut tree = BTreeSet::new();
    let names: Vec<String> = (0..5000).map(|i| format!("n{i}")).collect();
    for chunk in names.chunks(200) {
        let mut tries = 0;
        loop {
            let paths: Vec<String> = chunk.iter().map(|n| format!("/tree/{n}")).collect();
            let pending: Vec<_> = paths
                .iter()
                .map(|p| client.create(p, &[7u8; 512], &persistent()))
                .collect();
            let mut lost = None;
            for reply in pending {
                match tokio::time::timeout(Duration::from_secs(30), reply).await {
                    Ok(Ok(_)) | Ok(Err(Error::NodeExists)) => {}
                    Ok(Err(e)) => lost = Some(e.to_string()),
                    Err(_) => lost = Some("timed out".to_string()),
                }
            }
            match lost {
                None => break,
                Some(e) if tries < 5 => {
                    tries += 1;
                    eprintln!("populating /tree: {e}; again on a new session");
                    client = connect(&mut ensemble, &up).await;
                }
                Some(e) => panic!("populating /tree: {e}"),
            }
        }
        tree.extend(chunk.iter().cloned());
    }
    drop(client);

    let load = Load::start(ensemble.connect_string_of(&up), 4, "/load");
    let started = Instant::now();
    load.wait_acked_since(
        started,
        50,
        Duration::from_secs(20),
        "writes before the wipe",
    )
    .await;

    // Stop the follower and wipe its store: it restarts with no snapshot, no log, no epochs.
    let store = ensemble.data_dir(follower).join("ringkeeper-v1");
    blocking(|| ensemble.stop(follower));
    assert!(store.is_dir(), "no store at {}", store.display());
    std::fs::remove_dir_all(&store).expect("wiping the follower's store");
    let wiped_at = Instant::now();
    blocking(|| {
        ensemble.restart(follower);
        ensemble.wait_serving(follower, SERVE_WAIT);
    });
    eprintln!(
        "wiped follower serving again after {:?}",
        wiped_at.elapsed()
    );
    // Writes went on during the transfer, and go on after it.
    load.wait_acked_since(
        wiped_at,
        50,
        Duration::from_secs(30),
        "writes during the sync",
    )
    .await;
    let serving_at = Instant::now();
    load.wait_acked_since(
        serving_at,
        50,
        Duration::from_secs(30),
        "writes after the sync",
    )
    .await;
    let acked = load.finish().await;

    let reference = converge(
        &mut ensemble,
        leader,
        "/load",
        &acked,
        None,
        "the leader has every acknowledged write",
    )
    .await;
    converge(
        &mut ensemble,
        follower,
        "/load",
        &acked,
        Some(&reference),
        "the wiped follower has every acknowledged write",
    )
    .await;
    converge(
        &mut ensemble,
        follower,
        "/tree",
        &tree,
        Some(&tree),
        "the wiped follower has the whole tree",
    )
    .await;
    blocking(|| wait_same_zxid(&mut ensemble, &[0, 1, 2]));
    // Diagnostics for a reader of a failure (log wording is no contract).
    eprintln!(
        "leader prepared a snapshot off its sequencer: {}",
        ensemble
            .log(leader)
            .contains("snapshot prepared for a follower")
    );
}

/// A leader cut off from both followers stops serving (its clients are refused and its writes
/// never succeed); the other two elect a leader and go on; healed, the old leader catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_minority_refuses_and_catches_up_after_healing() {
    let _serial = SERIAL.lock().await;
    let mut options = options();
    options.proxies = true;
    let (mut ensemble, leader) = blocking(|| start_with_leader(3, options));
    let majority = followers(&mut ensemble, leader);

    // A session on the leader, opened before the cut.
    let mut isolated = RawConn::open(ensemble.client_address(leader));
    isolated
        .handshake(0, 10_000, 0, &[0; 16])
        .expect("handshake on the leader");

    ensemble.isolate(leader);
    tokio::time::sleep(Duration::from_millis(300)).await;
    isolated.send(
        &Out::new()
            .int(1)
            .int(op::CREATE)
            .string("/from-isolated")
            .buffer(b"")
            .open_acl()
            .int(0)
            .frame(),
    );
    match isolated.read_frame() {
        Err(_) => {} // closed: the member refuses, as required.
        Ok(frame) => {
            let reply_err = i32::from_be_bytes(frame[12..16].try_into().unwrap());
            assert_ne!(
                reply_err,
                err::OK,
                "the isolated former leader acknowledged a write;\n{}",
                blocking(|| ensemble.describe())
            );
        }
    }
    let refused = blocking(|| ensemble.wait_not_serving(leader, REFUSE_WAIT));
    eprintln!("isolated member says {refused:?}");
    // New clients are refused there: the handshake is closed unanswered.
    let mut fresh = RawConn::open(ensemble.client_address(leader));
    assert!(
        fresh.handshake(0, 10_000, 0, &[0; 16]).is_none(),
        "the isolated member accepted a new session;\n{}",
        blocking(|| ensemble.describe())
    );

    // The majority elects a leader among itself and takes writes.
    let new_leader = blocking(|| ensemble.wait_for_leader(LEADER_WAIT));
    assert!(
        majority.contains(&new_leader),
        "member {new_leader} leads from the minority side"
    );
    first_write(&mut ensemble, &majority, "/majority", FAILOVER_BOUND * 2).await;
    let client = connect(&mut ensemble, &majority).await;
    let created = create_many(&client, "/majority", 50).await;
    no_write(
        &mut ensemble,
        &[leader],
        "/minority",
        Duration::from_secs(3),
        "isolated side",
    )
    .await;

    ensemble.heal_all();
    blocking(|| ensemble.wait_serving(leader, SERVE_WAIT));
    converge(
        &mut ensemble,
        leader,
        "/majority",
        &created,
        Some(&created),
        "the healed member catches up",
    )
    .await;
    let root = converge(
        &mut ensemble,
        majority[0],
        "/",
        &BTreeSet::new(),
        None,
        "root on the majority",
    )
    .await;
    converge(
        &mut ensemble,
        leader,
        "/",
        &BTreeSet::new(),
        Some(&root),
        "the healed member agrees on /",
    )
    .await;
    assert!(
        !root.contains("minority"),
        "a write refused on the isolated side appeared: {root:?}"
    );
}

/// tickTime of the partition-recovery test: half Apache's default, so that the target
/// (2 × tickTime) is well above the noise of a loaded 2-core machine.
const PARTITION_TICK: Duration = Duration::from_millis(1000);
/// How long the leader stays black-holed: longer than syncLimit × tickTime (5 s), so that
/// the majority elects another leader, and just past a retransmission of a connection that
/// stalled at the cut (0.2 s, doubling: 6.2 s, then 12.6 s), so that a member that waits
/// on its old connections waits about 6 s more.
const PARTITION_ISOLATION: Duration = Duration::from_millis(6500);

/// The longest stretch between two consecutive acknowledged writes in `times`.
fn longest_gap(mut times: Vec<Instant>) -> Duration {
    times.sort();
    times
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

/// How long the black-hole test waits for the former leader after the heal before it gives
/// up measuring; Apache may take longer than ringkeeper's bound, and its run only reports.
const REJOIN_WAIT: Duration = Duration::from_secs(60);

/// Polls a member's `srvr` until it serves; how long that took, or `None` after `wait`.
fn time_to_serve(ensemble: &mut Ensemble, member: usize, wait: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < wait {
        if matches!(ensemble.mode(member), Mode::Leader | Mode::Follower) {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Issue 14 part 8: a leader cut off by a black hole (connections kept, nothing delivered, as
/// with an iptables DROP) is back within 2 × tickTime of the heal, and writes through the
/// ensemble stop no longer than it takes the majority to give up the leader (syncLimit) and
/// elect another. Links that lived through the black hole must be noticed as dead and
/// redialed, not waited on.
///
/// With `RK_TEST_SERVER=apache` the same schedule runs on an Apache ensemble, which only
/// measures and prints: the bounds are ringkeeper's targets, and Apache is the yardstick the
/// write gap is compared with (docs/benchmarks.md), not held to them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_leader_rejoins_within_two_ticks_of_the_heal() {
    let flavor = Flavor::from_env();
    if flavor == Flavor::Apache && !apache_installed() {
        eprintln!("SKIPPED: RK_TEST_SERVER=apache but Apache ZooKeeper is not installed");
        return;
    }
    let _serial = SERIAL.lock().await;
    let mut options = options();
    options.proxies = true;
    options.tick_time_ms = PARTITION_TICK.as_millis() as u32;
    let sync_limit = options.sync_limit;
    let (mut ensemble, leader) = blocking(|| start_with_leader_as(3, options, flavor));
    let majority = followers(&mut ensemble, leader);
    let client = connect(&mut ensemble, &majority).await;
    client
        .create("/gap", b"", &persistent())
        .await
        .expect("create /gap");
    let load = Load::start(ensemble.connect_string(), 4, "/gap");
    let started = Instant::now();
    load.wait_acked_since(started, 20, FAILOVER_BOUND, "before the black hole")
        .await;

    ensemble.black_hole(&[leader], &majority);
    tokio::time::sleep(PARTITION_ISOLATION).await;
    // Every member's mode at the end of the hole, printed: whether the majority had a new
    // leader by then explains most of a run's write gap.
    let modes: Vec<Mode> = blocking(|| (0..3).map(|member| ensemble.mode(member)).collect());
    let mode = modes[leader].clone();
    // Checked before the heal, so that a failure describes the ensemble in the hole.
    assert!(
        flavor == Flavor::Apache || !matches!(mode, Mode::Leader | Mode::Follower),
        "the black-holed leader still serves ({mode:?}) {PARTITION_ISOLATION:?} into the cut;\n{}",
        blocking(|| ensemble.describe())
    );
    ensemble.heal_all();
    let healed = Instant::now();
    let rejoin = blocking(|| time_to_serve(&mut ensemble, leader, REJOIN_WAIT));
    load.wait_acked_since(healed, 20, FAILOVER_BOUND, "after the heal")
        .await;
    let times = load.acked_times();
    let gap = longest_gap(times);
    load.finish().await;
    eprintln!("{flavor:?}: black hole of {PARTITION_ISOLATION:?}, tickTime {PARTITION_TICK:?}: member {leader} (the leader) black-holed, modes at the end of the hole {modes:?}; it served again {rejoin:?} after the heal as {:?}; longest write gap {gap:?}", blocking(|| ensemble.mode(leader)));
    if flavor == Flavor::Apache {
        return;
    }
    // The target is 2 × tickTime (runs here measure 0.8-1.7 s); one more tick of slack
    // keeps a loaded 2-core machine from failing it, and still catches a member that waits
    // for its old connections' next retransmission (about 6 s after this heal).
    let rejoin_bound = PARTITION_TICK * 3;
    assert!(
        rejoin.is_some_and(|rejoin| rejoin <= rejoin_bound),
        "the former leader took {rejoin:?} to serve again after the heal (bound {rejoin_bound:?});\n{}",
        blocking(|| ensemble.describe())
    );
    // Giving up the leader takes syncLimit ticks; the survivors' election and the new
    // leader's first commit must fit in one more (Apache 3.8 measures 5.8-5.9 s here,
    // docs/benchmarks.md). A first election that loses its votes costs another syncLimit
    // ticks (7.6 s) and fails this.
    let gap_bound = PARTITION_TICK * (sync_limit + 1);
    assert!(
        gap <= gap_bound,
        "writes stopped for {gap:?} (bound {gap_bound:?});\n{}",
        blocking(|| ensemble.describe())
    );
}

/// multiAddress (issue 14 item 4): every member lists the others at two addresses, each
/// behind proxies of its own. With every first address black-holed the links fail over to
/// the second ones: writes go on, and when the leader is then killed the two others elect
/// and take writes over their second addresses alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_fail_over_to_their_second_address() {
    let _serial = SERIAL.lock().await;
    let mut options = options();
    options.proxies = true;
    options.two_addresses = true;
    let (mut ensemble, leader) = blocking(|| start_with_leader(3, options));
    let config = ensemble.config_text(0);
    assert!(
        config.contains('|') && config.contains("multiAddress.enabled=true"),
        "no second addresses in\n{config}"
    );
    ensemble.black_hole_first_addresses();
    let survivors = followers(&mut ensemble, leader);
    first_write(&mut ensemble, &[0, 1, 2], "/multi-a", FAILOVER_BOUND).await;
    blocking(|| ensemble.kill(leader));
    let new_leader = blocking(|| ensemble.wait_for_leader(LEADER_WAIT));
    assert!(
        survivors.contains(&new_leader),
        "member {new_leader} leads, but it was killed"
    );
    first_write(&mut ensemble, &survivors, "/multi-b", FAILOVER_BOUND).await;
}

/// Five members split 2 | 3, the old leader on the small side: both minority members stop
/// serving and take no write, the three elect a leader and go on; healed, the two catch up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_members_split_two_three_and_heal() {
    let _serial = SERIAL.lock().await;
    let mut options = options();
    options.proxies = true;
    let (mut ensemble, leader) = blocking(|| start_with_leader(5, options));
    let others = followers(&mut ensemble, leader);
    let minority = vec![leader, others[0]];
    let majority: Vec<usize> = others[1..].to_vec();
    let client = connect(&mut ensemble, &majority).await;
    client
        .create("/split", b"", &persistent())
        .await
        .expect("create /split");
    drop(client);

    ensemble.partition(&minority, &majority);
    for &member in &minority {
        blocking(|| ensemble.wait_not_serving(member, REFUSE_WAIT));
    }
    let new_leader = blocking(|| ensemble.wait_for_leader(LEADER_WAIT));
    assert!(
        majority.contains(&new_leader),
        "member {new_leader} leads from the side of two"
    );
    first_write(&mut ensemble, &majority, "/split/first", FAILOVER_BOUND * 2).await;
    let client = connect(&mut ensemble, &majority).await;
    let mut created = create_many(&client, "/split", 50).await;
    created.insert("first".to_string());
    drop(client);
    no_write(
        &mut ensemble,
        &minority,
        "/split/minority",
        Duration::from_secs(3),
        "the side of two",
    )
    .await;

    ensemble.heal_all();
    for &member in &minority {
        blocking(|| ensemble.wait_serving(member, SERVE_WAIT));
    }
    for member in 0..5 {
        converge(
            &mut ensemble,
            member,
            "/split",
            &created,
            Some(&created),
            "after the 2 | 3 split healed",
        )
        .await;
    }
    blocking(|| wait_same_zxid(&mut ensemble, &[0, 1, 2, 3, 4]));
}

/// Sessions stay global when members list each other at different addresses, as they do
/// behind proxies (each zoo.cfg names its peers at the proxies it dials through): whatever
/// the members derive the session passwords from must not be those addresses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_resume_across_members_listed_at_proxy_addresses() {
    let _serial = SERIAL.lock().await;
    let mut options = options();
    options.proxies = true;
    let (mut ensemble, leader) = blocking(|| start_with_leader(3, options));
    let majority = followers(&mut ensemble, leader);
    let mut raw = RawConn::open(ensemble.client_address(majority[0]));
    let session = raw
        .handshake(0, 10_000, 0, &[0; 16])
        .expect("handshake on the majority");
    raw.drop_connection();
    let mut raw = RawConn::open(ensemble.client_address(majority[1]));
    let resumed = raw
        .handshake(0, 10_000, session.session_id, &session.password)
        .expect("resume on another member");
    assert_eq!(
        resumed.session_id, session.session_id,
        "a session created on member {} does not resume on member {} when their zoo.cfg files \
         list peers at different (proxy) addresses: the session secret must not depend on them",
        majority[0], majority[1]
    );
    assert_eq!(raw.request(op::CLOSE_SESSION, Out::new()).err, err::OK);
}

/// A client that resumes its session on another member leaves its old connection behind; the
/// first write on that connection finds the session owned elsewhere and the old member closes
/// the connection without answering, as Apache's FinalRequestProcessor does for a
/// SessionMovedException (ZOOKEEPER-710). Both the case where the old member follows and the
/// one where it leads are checked: they learn of the move by different paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_moved_to_another_member_closes_the_connection_it_left() {
    let _serial = SERIAL.lock().await;
    let (mut ensemble, leader) = blocking(|| start_with_leader(3, options()));
    let others = followers(&mut ensemble, leader);
    for (old, new) in [(others[0], others[1]), (leader, others[0])] {
        let mut left = RawConn::open(ensemble.client_address(old));
        let session = left
            .handshake(0, 10_000, 0, &[0; 16])
            .expect("handshake on the old member");
        let mut moved = RawConn::open(ensemble.client_address(new));
        let resumed = moved
            .handshake(0, 10_000, session.session_id, &session.password)
            .expect("resume on the new member");
        assert_eq!(resumed.session_id, session.session_id);
        // A write on the new connection reaches the leader after the move (one FIFO link from
        // the new member), so the leader knows the new owner before the old connection writes.
        let path = format!("/moved-{old}-{new}");
        let created = moved.request(
            op::CREATE,
            Out::new().string(&path).buffer(b"").open_acl().int(0),
        );
        assert_eq!(created.err, err::OK, "create on the session's new member");
        left.send(
            &Out::new()
                .int(7)
                .int(op::SET_DATA)
                .string(&path)
                .buffer(b"late")
                .int(-1)
                .frame(),
        );
        assert!(
            left.closed_by_server(Duration::from_secs(3)),
            "member {old} kept open the connection its client left for member {new} after a \
             write on it (Apache closes it on SessionMoved)"
        );
        assert_eq!(moved.request(op::CLOSE_SESSION, Out::new()).err, err::OK);
    }
}

/// Every member is stopped and restarted in turn under a write load: nothing acknowledged is
/// lost and a session lives through the whole roll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_loses_nothing_and_keeps_sessions() {
    let _serial = SERIAL.lock().await;
    let (mut ensemble, _leader) = blocking(|| start_with_leader(3, options()));
    let holder = connect(&mut ensemble, &[0, 1, 2]).await;
    let session_id = holder.session_id();
    holder
        .create("/roll", b"", &persistent())
        .await
        .expect("create /roll");
    holder
        .create("/held", b"", &ephemeral())
        .await
        .expect("create /held");
    let load = Load::start(ensemble.connect_string(), 2, "/roll");

    for member in 0..3 {
        let since = Instant::now();
        blocking(|| {
            ensemble.stop(member);
            ensemble.restart(member);
            ensemble.wait_serving(member, SERVE_WAIT);
            ensemble.wait_for_leader(LEADER_WAIT);
        });
        load.wait_acked_since(
            since,
            20,
            Duration::from_secs(30),
            &format!("writes around the restart of member {member}"),
        )
        .await;
    }
    let acked = load.finish().await;

    assert_eq!(holder.session_id(), session_id);
    let stat = holder
        .check_stat("/held")
        .await
        .unwrap_or_else(|e| panic!("the session holding /held failed during the roll: {e}"))
        .expect("the ephemeral of a session that lived through the roll");
    assert_eq!(stat.ephemeral_owner, session_id.0);
    let mut reference: Option<BTreeSet<String>> = None;
    for member in 0..3 {
        let have = converge(
            &mut ensemble,
            member,
            "/roll",
            &acked,
            reference.as_ref(),
            "after the roll",
        )
        .await;
        reference.get_or_insert(have);
    }
    blocking(|| wait_same_zxid(&mut ensemble, &[0, 1, 2]));
}

/// Five members: two crashes leave a quorum of three that takes writes; a third crash stops
/// writes; one member back, writes resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_members_serve_while_a_majority_lives() {
    let _serial = SERIAL.lock().await;
    let (mut ensemble, leader) = blocking(|| start_with_leader(5, options()));
    let client = connect(&mut ensemble, &[0, 1, 2, 3, 4]).await;
    client
        .create("/five", b"", &persistent())
        .await
        .expect("create /five");
    drop(client);

    // The leader and one follower crash: three of five remain.
    let follower = followers(&mut ensemble, leader)[0];
    blocking(|| {
        ensemble.kill(leader);
        ensemble.kill(follower);
    });
    let alive: Vec<usize> = (0..5).filter(|&i| i != leader && i != follower).collect();
    first_write(
        &mut ensemble,
        &alive,
        "/five/with-three",
        FAILOVER_BOUND * 2,
    )
    .await;
    blocking(|| ensemble.wait_for_leader(LEADER_WAIT));

    // A third crash: two of five cannot commit anything.
    let third = alive[0];
    blocking(|| ensemble.kill(third));
    let two: Vec<usize> = alive[1..].to_vec();
    for &member in &two {
        blocking(|| ensemble.wait_not_serving(member, REFUSE_WAIT));
    }
    no_write(
        &mut ensemble,
        &two,
        "/five/with-two",
        Duration::from_secs(3),
        "two of five",
    )
    .await;

    // One member back: a quorum again.
    blocking(|| ensemble.restart(third));
    blocking(|| ensemble.wait_for_leader(LEADER_WAIT));
    let mut three = two.clone();
    three.push(third);
    first_write(&mut ensemble, &three, "/five/resumed", FAILOVER_BOUND * 2).await;
    let required: BTreeSet<String> = ["with-three", "resumed"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut reference: Option<BTreeSet<String>> = None;
    for &member in &three {
        let have = converge(
            &mut ensemble,
            member,
            "/five",
            &required,
            reference.as_ref(),
            "after one member came back",
        )
        .await;
        assert!(
            !have.contains("with-two"),
            "member {member} has a write made without a quorum"
        );
        reference.get_or_insert(have);
    }
}

/// A client that has seen a zxid the member it reaches has not is refused there, so that it
/// never sees time go backwards; no session is created for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_ahead_of_the_member_it_reaches_is_refused() {
    let _serial = SERIAL.lock().await;
    let (mut ensemble, leader) = blocking(|| start_with_leader(3, options()));
    let follower = followers(&mut ensemble, leader)[0];
    let client = connect(&mut ensemble, &[leader]).await;
    client
        .create("/ahead", b"", &persistent())
        .await
        .expect("create /ahead");
    drop(client);
    let zxid = blocking(|| {
        wait_same_zxid(&mut ensemble, &[0, 1, 2]);
        ensemble.zxid(follower)
    });
    let sessions = |ensemble: &Ensemble| -> u64 {
        ensemble
            .mntr_value(leader, "zk_global_sessions")
            .unwrap_or_else(|| panic!("the leader's mntr has no zk_global_sessions"))
            .parse()
            .expect("zk_global_sessions is a number")
    };
    // Settle: the closed client's session is gone.
    let deadline = Instant::now() + CONVERGE_WAIT;
    while sessions(&ensemble) != 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = sessions(&ensemble);

    // Ahead by a whole future epoch.
    let ahead = zxid + (10i64 << 32);
    let mut refused = RawConn::open(ensemble.client_address(follower));
    let answer = refused.handshake(ahead, 10_000, 0, &[0; 16]);
    assert!(
        answer.is_none(),
        "follower {follower} at zxid 0x{zxid:x} accepted a client that has seen 0x{ahead:x}: {answer:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        sessions(&ensemble),
        before,
        "a refused handshake created a session"
    );

    // The same handshake with the zxid the follower has is accepted, and counted.
    let mut accepted = RawConn::open(ensemble.client_address(follower));
    let handshake = accepted
        .handshake(zxid, 10_000, 0, &[0; 16])
        .unwrap_or_else(|| {
            panic!("follower {follower} refused a client at its own zxid 0x{zxid:x}")
        });
    assert_ne!(handshake.session_id, 0);
    let deadline = Instant::now() + CONVERGE_WAIT;
    while sessions(&ensemble) != before + 1 {
        assert!(
            Instant::now() < deadline,
            "zk_global_sessions on the leader stays {} after a session was created on a follower",
            sessions(&ensemble)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The harness itself: members get their own configs and myid, answer `srvr`, can be killed
/// and restarted, and leave nothing behind. Holds whatever the replication code does.
/// Observers (issue 14, item 2), configured as Apache's manual does (`:observer` on their
/// server.N lines, `peerType=observer` in their own zoo.cfg): an observer says so in `srvr`,
/// `mntr` and `conf`, serves a session that writes through it (forwarded) and reads its own
/// writes after `sync`; its death together with a voter's does not stop writes, it catches up
/// when restarted, and it follows a new leader when the old one dies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_serves_reads_and_writes_and_counts_for_no_quorum() {
    let _serial = SERIAL.lock().await;
    let options = EnsembleOptions {
        observers: 1,
        ..options()
    };
    let mut ensemble = blocking(|| Ensemble::start(4, options));
    let leader = blocking(|| ensemble.wait_for_leader(LEADER_WAIT));
    let observer = 3;
    assert_ne!(leader, observer, "an observer never leads");
    let mode = blocking(|| ensemble.wait_serving(observer, SERVE_WAIT));
    assert_eq!(mode, Mode::Observer, "{}", blocking(|| ensemble.describe()));
    let state = ensemble.mntr_value(observer, "zk_server_state");
    assert_eq!(state.as_deref(), Some("observer"));
    let conf = ensemble
        .four_letter_word(observer, "conf")
        .unwrap_or_default();
    assert!(
        conf.contains("\npeerType=1\n"),
        "conf on the observer: {conf}"
    );

    let client = connect(&mut ensemble, &[observer]).await;
    client
        .create("/through-observer", b"v1", &persistent())
        .await
        .expect("a write through the observer is forwarded to the leader");
    client.sync("/through-observer").await.expect("sync");
    let (data, _) = client
        .get_data("/through-observer")
        .await
        .expect("the observer reads its own write");
    assert_eq!(data, b"v1");
    drop(client);

    // With the observer and one voter dead, two of four members live: still a quorum of the
    // three voters (were the observer counted, two of four would not be).
    let voter = (0..3).find(|&i| i != leader).expect("a follower");
    blocking(|| ensemble.kill(observer));
    blocking(|| ensemble.kill(voter));
    first_write(&mut ensemble, &[leader], "/observer-dead", FAILOVER_BOUND).await;
    blocking(|| ensemble.restart(voter));
    blocking(|| ensemble.restart(observer));
    let want: BTreeSet<String> = ["observer-dead".to_string()].into();
    converge(
        &mut ensemble,
        observer,
        "/",
        &want,
        None,
        "restarted observer",
    )
    .await;

    blocking(|| ensemble.kill(leader));
    first_write(&mut ensemble, &[observer], "/leader-dead", FAILOVER_BOUND).await;
    let survivors: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let want: BTreeSet<String> = ["leader-dead".to_string()].into();
    for member in survivors {
        converge(&mut ensemble, member, "/", &want, None, "a surviving voter").await;
    }
}

#[test]
fn harness_starts_probes_restarts_and_cleans_up() {
    let _serial = SERIAL.blocking_lock();
    let mut options = options();
    options.proxies = true;
    let mut ensemble = Ensemble::start(3, options);
    let root = ensemble.root().to_path_buf();
    let answers = |mode: &Mode| !matches!(mode, Mode::Down | Mode::Unreachable(_));
    for member in 0..3 {
        let mode = ensemble.mode(member);
        assert!(answers(&mode), "member {member} answers srvr with {mode:?}");
        let myid = std::fs::read_to_string(ensemble.data_dir(member).join("myid")).unwrap();
        assert_eq!(myid.trim(), (member + 1).to_string());
    }
    // Member 0 dials member 1 through the proxy of link 0 -> 1 and lists itself as it is.
    let config = ensemble.config_text(0);
    let (quorum, election) = ensemble.link_addresses(0, 1);
    let line = format!(
        "server.2={}:{}:{}",
        quorum.ip(),
        quorum.port(),
        election.port()
    );
    assert!(
        config.contains(&line),
        "zoo.cfg of member 0 lacks {line:?}:\n{config}"
    );
    assert!(config.contains(&format!(
        "clientPortAddress={}",
        ensemble.client_address(0).ip()
    )));

    ensemble.kill(1);
    assert_eq!(ensemble.mode(1), Mode::Down);
    assert!(
        std::net::TcpStream::connect_timeout(&ensemble.client_address(1), Duration::from_secs(1))
            .is_err(),
        "a killed member's client port still accepts"
    );
    ensemble.restart(1);
    let mode = ensemble.mode(1);
    assert!(
        answers(&mode),
        "restarted member 1 answers srvr with {mode:?}"
    );
    ensemble.stop(2);
    assert_eq!(ensemble.mode(2), Mode::Down);
    assert!(
        ensemble.log(1).contains("harness: start #2"),
        "restart is marked in the log"
    );

    let address = ensemble.client_address(0);
    drop(ensemble);
    assert!(!root.exists(), "{} is left behind", root.display());
    assert!(
        std::net::TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_err(),
        "a member still listens after the ensemble was dropped"
    );
}

/// The fault-injecting proxy: forwards both ways, a cut closes what it carries and swallows
/// new connections, healing closes the swallowed ones and forwards again.
#[test]
fn harness_proxy_forwards_cuts_and_heals() {
    use std::io::{Read, Write};
    let ip = std::net::Ipv4Addr::new(127, 0, 0, 1);
    let echo = std::net::TcpListener::bind((ip, 0)).unwrap();
    let target = echo.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in echo.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buffer = [0u8; 1024];
                while let Ok(n) = stream.read(&mut buffer) {
                    if n == 0 || stream.write_all(&buffer[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let proxy = Proxy::start(ip, target);
    let open = || {
        let stream = std::net::TcpStream::connect(proxy.address()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(800)))
            .unwrap();
        stream
    };
    // Some(bytes) echoed, None if the read timed out, Some(empty) on close.
    let round_trip = |stream: &mut std::net::TcpStream| -> Option<Vec<u8>> {
        let _ = stream.write_all(b"ping");
        let mut buffer = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match stream.read(&mut buffer[got..]) {
                Ok(0) => return Some(buffer[..got].to_vec()),
                Ok(n) => got += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return None
                }
                Err(_) => return Some(buffer[..got].to_vec()),
            }
        }
        Some(buffer.to_vec())
    };
    let mut carried = open();
    assert_eq!(
        round_trip(&mut carried),
        Some(b"ping".to_vec()),
        "forwarding"
    );
    proxy.cut();
    assert!(proxy.is_cut());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        round_trip(&mut carried),
        Some(Vec::new()),
        "a cut closes carried connections"
    );
    let mut swallowed = open();
    assert_eq!(
        round_trip(&mut swallowed),
        None,
        "a cut link swallows new connections"
    );
    proxy.heal();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        round_trip(&mut swallowed),
        Some(Vec::new()),
        "healing closes swallowed connections"
    );
    let mut fresh = open();
    assert_eq!(
        round_trip(&mut fresh),
        Some(b"ping".to_vec()),
        "forwarding after healing"
    );
}

/// Waits until a member's `isro` says `want`; returns the last answer.
fn wait_isro(ensemble: &Ensemble, member: usize, want: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let answer = ensemble
            .four_letter_word(member, "isro")
            .unwrap_or_else(|e| format!("unreachable: {e}"));
        if answer.trim() == want || Instant::now() >= deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Read-only mode (`readonlymode.enabled`, Apache's ReadOnlyZooKeeperServer): the member
/// left alone serves clients that accept a read-only server from its own tree, refuses
/// their writes with NotReadOnly and everyone else's handshakes, and closes those sessions
/// once its quorum is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cut_off_from_its_quorum_serves_read_only_clients_until_it_is_back() {
    let _serial = SERIAL.lock().await;
    let mut options = options();
    options
        .extra_config
        .push("readonlymode.enabled=true".to_string());
    let (mut ensemble, leader) = blocking(|| start_with_leader(3, options));
    let mut writer = RawConn::open(ensemble.client_address(leader));
    writer.handshake(0, 10_000, 0, &[0; 16]).expect("handshake");
    let body = Out::new().string("/ro").buffer(b"kept").open_acl().int(0);
    assert_eq!(writer.request(op::CREATE, body).err, err::OK);
    blocking(|| wait_same_zxid(&mut ensemble, &[0, 1, 2]));
    assert_eq!(
        ensemble.four_letter_word(leader, "isro").unwrap().trim(),
        "rw"
    );

    let others = followers(&mut ensemble, leader);
    let survivor = others[0];
    for member in [leader, others[1]] {
        ensemble.kill(member);
    }
    let isro = blocking(|| wait_isro(&ensemble, survivor, "ro", REFUSE_WAIT));
    assert_eq!(isro.trim(), "ro", "{}", ensemble.log_tail(survivor, 25));
    let srvr = ensemble.four_letter_word(survivor, "srvr").unwrap();
    assert!(srvr.contains("Mode: read-only"), "{srvr}");

    // A client that does not accept a read-only server is refused, as before.
    let mut plain = RawConn::open(ensemble.client_address(survivor));
    assert!(plain.handshake(0, 10_000, 0, &[0; 16]).is_none());
    // One that does gets a session marked read-only, reads, and cannot write.
    let mut reader = RawConn::open(ensemble.client_address(survivor));
    let session = reader
        .read_only_handshake(10_000)
        .expect("read-only session");
    assert_eq!(session.read_only, Some(true));
    let read = reader.request(op::GET_DATA, Out::new().string("/ro").boolean(false));
    assert_eq!(
        (read.err, read.reader().buffer()),
        (err::OK, Some(b"kept".to_vec()))
    );
    let body = Out::new().string("/new").buffer(b"").open_acl().int(0);
    assert_eq!(reader.request(op::CREATE, body).err, err::NOT_READ_ONLY);
    let sync = reader.request(op::SYNC, Out::new().string("/"));
    assert_eq!(sync.err, err::NOT_READ_ONLY);

    // The quorum comes back: the read-only session ends and normal sessions work again.
    for member in [leader, others[1]] {
        ensemble.restart(member);
    }
    blocking(|| ensemble.wait_serving(survivor, SERVE_WAIT));
    assert!(
        reader.closed_by_server(SERVE_WAIT),
        "the read-only connection outlived the quorum's return"
    );
    let mut fresh = RawConn::open(ensemble.client_address(survivor));
    let normal = fresh
        .handshake(0, 10_000, 0, &[0; 16])
        .expect("normal session");
    assert_ne!(normal.session_id, 0);
    assert_eq!(
        ensemble.four_letter_word(survivor, "isro").unwrap().trim(),
        "rw"
    );
}

/// What a member's `/zookeeper/config` must hold: its own zoo.cfg's `server.N` lines in
/// Apache's `QuorumServer.toString` form (the role spelled out), then `version=0` (no
/// dynamic configuration file, so version 0).
fn expected_config_node(config: &str) -> String {
    let mut out = String::new();
    for line in config.lines().filter(|l| l.starts_with("server.")) {
        out.push_str(line);
        if !line.ends_with(":observer") {
            out.push_str(":participant");
        }
        out.push('\n');
    }
    out.push_str("version=0");
    out
}

/// Reads `/zookeeper/config` on one member over a fresh raw connection: its data and mzxid.
fn config_node_of(ensemble: &Ensemble, member: usize) -> (String, i64) {
    let mut raw = RawConn::open(ensemble.client_address(member));
    raw.handshake(0, 10_000, 0, &[0; 16])
        .unwrap_or_else(|| panic!("member {member} closed a fresh handshake"));
    let read = raw.request(
        op::GET_DATA,
        Out::new().string("/zookeeper/config").boolean(false),
    );
    assert_eq!(read.err, err::OK, "getData /zookeeper/config on {member}");
    let mut body = read.reader();
    let data = body.buffer().unwrap_or_default();
    let stat = body.stat();
    raw.drop_connection();
    (String::from_utf8_lossy(&data).into_owned(), stat.mzxid)
}

/// Issue 14: removing a follower from a 3-member ensemble under writes. The leader proposes
/// the reconfiguration and answers it with the new config node (two lines and
/// `version=<hex zxid>`); every write acknowledged before, during and after it is on both
/// remaining members, and both show the new configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_follower_under_writes_keeps_every_write_and_shows_the_new_config() {
    let _serial = SERIAL.lock().await;
    let mut options = options();
    options.extra_config.extend([
        "reconfigEnabled=true".to_string(),
        // super:test
        "DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=".to_string(),
    ]);
    let (mut ensemble, leader) = blocking(|| start_with_leader(3, options));
    let removed = (0..3).find(|m| *m != leader).unwrap();
    let survivors: Vec<usize> = (0..3).filter(|m| *m != removed).collect();
    let setup = connect(&mut ensemble, &survivors).await;
    setup
        .create("/shrink", b"", &persistent())
        .await
        .expect("create /shrink");
    drop(setup);
    let load = Load::start(ensemble.connect_string_of(&survivors), 2, "/shrink");
    let started = Instant::now();
    load.wait_acked_since(started, 30, Duration::from_secs(20), "writes before")
        .await;

    wait_mntr(&ensemble, leader, "zk_quorum_size\t3\n");
    wait_mntr(&ensemble, leader, "zk_synced_followers\t2\n");
    let mut raw = RawConn::open(ensemble.client_address(leader));
    raw.handshake(0, 10_000, 0, &[0; 16])
        .expect("a session on the leader");
    let auth = raw.request(
        100,
        Out::new().int(0).string("digest").buffer(b"super:test"),
    );
    assert_eq!(auth.err, err::OK, "super auth");
    let leaving = (removed + 1).to_string();
    let reply = raw.request(
        op::RECONFIG,
        Out::new().string("").string(&leaving).string("").long(-1),
    );
    assert_eq!(reply.err, err::OK, "reconfig -remove {leaving}");
    let mut body = reply.reader();
    let data = String::from_utf8_lossy(&body.buffer().unwrap_or_default()).into_owned();
    let stat = body.stat();
    raw.drop_connection();
    assert_eq!(
        data.lines().filter(|l| l.starts_with("server.")).count(),
        2,
        "two members left: {data}"
    );
    assert!(!data.contains(&format!("server.{leaving}=")), "{data}");
    assert!(
        data.ends_with(&format!("version={:x}", stat.mzxid)),
        "the version is the reconfiguration's zxid: {data} {stat:?}"
    );

    let after = Instant::now();
    load.wait_acked_since(after, 30, Duration::from_secs(30), "writes after")
        .await;
    let acked = load.finish().await;
    for &member in &survivors {
        converge(
            &mut ensemble,
            member,
            "/shrink",
            &acked,
            None,
            "every acknowledged write is on the remaining members",
        )
        .await;
        assert_eq!(
            config_node_of(&ensemble, member),
            (data.clone(), stat.mzxid),
            "the config node on member {member}"
        );
        let conf = ensemble
            .four_letter_word(member, "conf")
            .expect("conf answered");
        assert!(
            conf.trim_end().ends_with(&format!("membership: \n{data}")),
            "conf on member {member} shows the new membership:\n{conf}"
        );
        // Apache's quorum_size gauge follows the active configuration (stored each tick).
        wait_mntr(&ensemble, member, "zk_quorum_size\t2\n");
    }

    // Every remaining member wrote the configuration down as Apache's does (zoo.cfg names
    // zoo.cfg.dynamic.<hex version> and has no server lines left), so a restarted one comes
    // back with the two-member configuration.
    let member = survivors[0];
    let cfg = ensemble.config_text(member);
    let dynamic = format!("zoo.cfg.dynamic.{:x}", stat.mzxid);
    assert!(
        cfg.lines()
            .any(|l| l.starts_with("dynamicConfigFile=") && l.ends_with(&dynamic))
            && !cfg.contains("server."),
        "zoo.cfg of member {member} after the reconfiguration:\n{cfg}"
    );
    // A session opened on the other remaining member, which keeps running with the
    // membership it started with, must resume on the restarted one, which reads its
    // members from the dynamic file: session passwords must not depend on the membership.
    let other = survivors[1];
    let mut opened = RawConn::open(ensemble.client_address(other));
    let session = opened
        .handshake(0, 30_000, 0, &[0; 16])
        .expect("a session on the other member");
    assert!(session.timeout_ms > 0, "{session:?}");
    ensemble.restart(member);
    blocking(|| ensemble.wait_serving(member, SERVE_WAIT));
    let mut moved = RawConn::open(ensemble.client_address(member));
    let resumed = moved
        .handshake(0, 30_000, session.session_id, &session.password)
        .expect("an answer to the resume");
    assert_eq!(
        (resumed.session_id, resumed.timeout_ms > 0),
        (session.session_id, true),
        "the session of member {other} resumes on restarted member {member}: {resumed:?}"
    );
    drop(opened);
    let conf = ensemble
        .four_letter_word(member, "conf")
        .expect("conf answered");
    assert!(
        conf.trim_end().ends_with(&format!("membership: \n{data}")),
        "conf on restarted member {member} shows the two-member configuration:\n{conf}"
    );
    assert_eq!(
        config_node_of(&ensemble, member),
        (data.clone(), stat.mzxid),
        "the config node on restarted member {member}"
    );
}

/// Waits until `mntr` on `member` has `line` (the sequencer stores the quorum gauges at
/// each protocol tick, so they follow a change within a tick).
fn wait_mntr(ensemble: &Ensemble, member: usize, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mntr = ensemble
            .four_letter_word(member, "mntr")
            .unwrap_or_default();
        if mntr.contains(line) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "mntr on member {member} never showed {line:?}:\n{mntr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Issue 14 (first part): every member shows its view of the ensemble in
/// `/zookeeper/config` (Apache's `initConfigInZKDatabase`), and a reconfig request is
/// checked as Apache's leader checks it: malformed specs are BadArguments, a stale
/// `curConfigId` BadVersion, and a client without WRITE on the config node NoAuth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_show_the_ensemble_in_the_config_node_and_check_reconfig_requests() {
    let _serial = SERIAL.lock().await;
    let mut options = options();
    options
        .extra_config
        .push("reconfigEnabled=true".to_string());
    let (mut ensemble, _leader) = blocking(|| start_with_leader(3, options));
    for member in 0..3 {
        blocking(|| ensemble.wait_serving(member, SERVE_WAIT));
        let want = expected_config_node(&ensemble.config_text(member));
        let mut raw = RawConn::open(ensemble.client_address(member));
        raw.handshake(0, 10_000, 0, &[0; 16])
            .unwrap_or_else(|| panic!("member {member} closed a fresh handshake"));
        let read = raw.request(
            op::GET_DATA,
            Out::new().string("/zookeeper/config").boolean(true),
        );
        assert_eq!(read.err, err::OK, "getData /zookeeper/config on {member}");
        let mut body = read.reader();
        let data = body.buffer().unwrap_or_default();
        let stat = body.stat();
        assert_eq!(
            String::from_utf8_lossy(&data),
            want,
            "/zookeeper/config on member {member}"
        );
        // Apache's initConfigInZKDatabase: data version -1, mzxid the config's version.
        assert_eq!((stat.version, stat.mzxid), (-1, 0), "member {member}");

        let reconfig = |joining: &str, leaving: &str, members: &str, id: i64| {
            Out::new()
                .string(joining)
                .string(leaving)
                .string(members)
                .long(id)
        };
        let bad = raw.request(op::RECONFIG, reconfig("some thing", "", "", -1));
        assert_eq!(bad.err, err::BAD_ARGUMENTS, "kazoo's bad input on {member}");
        let joiner = "server.999=0.0.0.0:1234:2345:observer;3456";
        let stale = raw.request(op::RECONFIG, reconfig(joiner, "", "", 7));
        assert_eq!(stale.err, err::BAD_VERSION, "stale curConfigId on {member}");
        let no_auth = raw.request(op::RECONFIG, reconfig(joiner, "", "", -1));
        assert_eq!(
            no_auth.err,
            err::NO_AUTH,
            "reconfig without super on {member}"
        );
        raw.drop_connection();
    }
}

/// A `reconfig` (incremental) as `super` on `member` over a fresh raw session, repeated while
/// the leader answers NewConfigNoQuorum (a joiner not synced yet) or ReconfigInProgress,
/// until `wait` ends. Returns the new config node's data and its mzxid (the version).
async fn reconfig_as_super(
    ensemble: &Ensemble,
    member: usize,
    joining: &str,
    leaving: &str,
    wait: Duration,
) -> (String, i64) {
    let deadline = Instant::now() + wait;
    let mut raw = RawConn::open(ensemble.client_address(member));
    raw.handshake(0, 10_000, 0, &[0; 16])
        .unwrap_or_else(|| panic!("a session on member {member}"));
    let auth = raw.request(
        100,
        Out::new().int(0).string("digest").buffer(b"super:test"),
    );
    assert_eq!(auth.err, err::OK, "super auth");
    loop {
        let reply = raw.request(
            op::RECONFIG,
            Out::new()
                .string(joining)
                .string(leaving)
                .string("")
                .long(-1),
        );
        let retry = [err::NEW_CONFIG_NO_QUORUM, err::RECONFIG_IN_PROGRESS].contains(&reply.err);
        if reply.err == err::OK {
            let mut body = reply.reader();
            let data = String::from_utf8_lossy(&body.buffer().unwrap_or_default()).into_owned();
            let stat = body.stat();
            raw.drop_connection();
            return (data, stat.mzxid);
        }
        assert!(
            retry && Instant::now() < deadline,
            "reconfig -add {joining:?} -remove {leaving:?} on member {member}: error {}",
            reply.err
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The member that says it leads, among `members`, waiting up to `wait`.
fn leader_among(ensemble: &mut Ensemble, members: &[usize], wait: Duration) -> usize {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(&m) = members.iter().find(|&&m| ensemble.mode(m) == Mode::Leader) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "no leader among {members:?} after {wait:?};\n{}",
            ensemble.describe()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Issue 14's acceptance test: growing an ensemble with servers it was not started with,
/// then shrinking it and losing its leader, under writes. Members 1-3 serve; members 4 and
/// 5 start with a zoo.cfg that lists 1-5 (Apache's way to start a joiner), connect (their
/// Hello names their addresses, so the others dial them back) and sync as learners that do
/// not vote; `reconfig -add` of both by super commits once they are synced; `reconfig
/// -remove` of two of the original members commits; then the leader is killed. Every
/// acknowledged write is on every remaining member, and `config` there shows the final
/// membership.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joiners_are_added_then_originals_removed_then_the_leader_dies_under_writes() {
    let _serial = SERIAL.lock().await;
    let mut options = options();
    options.joiners = 2;
    options.extra_config.extend([
        "reconfigEnabled=true".to_string(),
        // super:test
        "DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=".to_string(),
    ]);
    let mut ensemble = blocking(|| Ensemble::start(5, options));
    let leader = blocking(|| {
        let leader = ensemble.wait_for_leader(LEADER_WAIT);
        for member in 0..3 {
            ensemble.wait_serving(member, SERVE_WAIT);
        }
        leader
    });
    assert!(leader < 3, "an original member leads");
    let setup = connect(&mut ensemble, &[0, 1, 2]).await;
    setup
        .create("/grow", b"", &persistent())
        .await
        .expect("create /grow");
    drop(setup);
    let load = Load::start(ensemble.connect_string(), 2, "/grow");
    load.wait_acked_since(Instant::now(), 30, Duration::from_secs(20), "writes before")
        .await;

    // The joiners: started with every member listed, they find the leader and follow it.
    for joiner in [3, 4] {
        blocking(|| {
            ensemble.start_member(joiner);
            ensemble.wait_serving(joiner, SERVE_WAIT)
        });
    }
    let line = |ensemble: &Ensemble, m: usize| {
        let (quorum, election) = ensemble.peer_addresses(m);
        let client = ensemble.client_address(m);
        format!(
            "server.{}={}:{}:{}:participant;{client}",
            m + 1,
            quorum.ip(),
            quorum.port(),
            election.port()
        )
    };
    let joining = format!("{},{}", line(&ensemble, 3), line(&ensemble, 4));
    let (grown, _) = reconfig_as_super(&ensemble, leader, &joining, "", SERVE_WAIT).await;
    let members_of = |data: &str| -> Vec<String> {
        data.lines()
            .filter(|l| l.starts_with("server."))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(members_of(&grown).len(), 5, "five members: {grown}");
    load.wait_acked_since(Instant::now(), 30, Duration::from_secs(30), "writes grown")
        .await;

    // Two original members leave (not the leader): 1-3 minus two, plus 4 and 5.
    let leaving: Vec<usize> = (0..3).filter(|m| *m != leader).collect();
    let leaving_ids = format!("{},{}", leaving[0] + 1, leaving[1] + 1);
    let (shrunk, version) =
        reconfig_as_super(&ensemble, leader, "", &leaving_ids, SERVE_WAIT).await;
    let remaining = vec![leader, 3, 4];
    let want: Vec<String> = members_of(&shrunk);
    assert_eq!(want.len(), 3, "three members: {shrunk}");
    for m in &leaving {
        assert!(!shrunk.contains(&format!("server.{}=", m + 1)), "{shrunk}");
    }
    load.wait_acked_since(Instant::now(), 30, Duration::from_secs(30), "writes shrunk")
        .await;

    // The leader dies; 4 and 5 are two of the three voters: they elect one and go on.
    blocking(|| ensemble.kill(leader));
    let survivors: Vec<usize> = remaining.into_iter().filter(|m| *m != leader).collect();
    let new_leader = blocking(|| leader_among(&mut ensemble, &survivors, LEADER_WAIT));
    load.wait_acked_since(
        Instant::now(),
        30,
        FAILOVER_BOUND * 2,
        "writes after the leader died",
    )
    .await;
    let acked = load.finish().await;
    for &member in &survivors {
        converge(
            &mut ensemble,
            member,
            "/grow",
            &acked,
            None,
            "every acknowledged write is on the remaining members",
        )
        .await;
        assert_eq!(
            config_node_of(&ensemble, member),
            (shrunk.clone(), version),
            "the config node on member {member} (leader now {new_leader})"
        );
        let conf = ensemble
            .four_letter_word(member, "conf")
            .expect("conf answered");
        assert!(
            conf.trim_end()
                .ends_with(&format!("membership: \n{shrunk}")),
            "conf on member {member} shows the final membership:\n{conf}"
        );
    }
}
