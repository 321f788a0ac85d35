//! Stopping: SIGTERM ends every connection, including ones that have not finished (or not
//! started) their handshake, and the executors stop on their own instead of being abandoned
//! after the shutdown grace period. A client that connected and said nothing used to hold
//! its shard, and through it the sequencer, until its handshake deadline.

mod common;

use std::time::Duration;

use common::server::Flavor;
use common::*;

#[test]
fn sigterm_ends_connections_in_every_phase_and_executors_stop() {
    if Flavor::from_env() == Flavor::Apache {
        // The evidence is ringkeeper's own log line; Apache has its own shutdown story.
        return;
    }
    let mut server = TestServer::start(ServerOptions::default());
    // A session in service.
    let (mut in_session, _) = RawConn::new_session(&server, 30_000);
    // Connected and silent: no byte of a handshake yet.
    let mut silent = RawConn::open(server.address());
    // Half a handshake: the length prefix and nothing more.
    let mut partial = RawConn::open(server.address());
    partial.send(&44u32.to_be_bytes());
    // Several of each, so that both shards have some whatever the kernel's spreading.
    let mut more: Vec<RawConn> = (0..6).map(|_| RawConn::open(server.address())).collect();
    std::thread::sleep(Duration::from_millis(200));

    server.stop();

    let log = server.log();
    assert!(
        log.contains("stopping"),
        "the server never saw SIGTERM:\n{log}"
    );
    assert!(
        !log.contains("executors did not stop"),
        "an executor was still running when the process gave up on it:\n{log}"
    );
    assert!(in_session.closed_by_server(Duration::from_secs(1)));
    assert!(silent.closed_by_server(Duration::from_secs(1)));
    assert!(partial.closed_by_server(Duration::from_secs(1)));
    for c in &mut more {
        assert!(c.closed_by_server(Duration::from_secs(1)));
    }
}

/// The shutdown request wakes whoever waits for it, on any thread: a task on a glommio
/// executor (parked in its reactor, woken through its eventfd) and a plain thread blocked in
/// `wait_blocking`. Nothing polls the flag, so without the wake-up neither would end.
#[test]
fn a_shutdown_request_wakes_executor_tasks_and_blocked_threads() {
    use ringkeeper_server::shutdown;
    use std::sync::mpsc;

    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let task_done = done_tx.clone();
    let executor = glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let waiting = shutdown::wait();
            let _ = ready_tx.send(());
            waiting.await;
            let _ = task_done.send("executor task");
        })
        .expect("an executor starts");
    let blocked = std::thread::spawn(move || {
        let woken = shutdown::wait_blocking(Duration::from_secs(3600));
        let _ = done_tx.send("blocked thread");
        woken
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the executor task started");
    assert!(!shutdown::requested());

    shutdown::request();

    let mut woken: Vec<&str> = (0..2)
        .map(|_| {
            done_rx
                .recv_timeout(Duration::from_secs(10))
                .expect("every waiter is woken by the request")
        })
        .collect();
    woken.sort();
    assert_eq!(woken, ["blocked thread", "executor task"]);
    assert!(blocked.join().expect("the thread ended"));
    executor.join().expect("the executor ended");
}
