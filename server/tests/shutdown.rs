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
