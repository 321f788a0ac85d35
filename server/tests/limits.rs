//! Limits a client cannot cross: connections per client address (maxClientCnxns), counted
//! across every shard of the server.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn max_client_cnxns_counts_connections_across_shards() {
    let server = TestServer::start(ServerOptions {
        max_client_cnxns: 3,
        ..Default::default()
    });
    // Three sessions from one address are admitted, wherever the kernel puts them.
    let mut admitted = Vec::new();
    for _ in 0..3 {
        admitted.push(RawConn::new_session(&server, 6000));
    }
    // The fourth is closed before its handshake is answered.
    let mut extra = RawConn::open(server.address());
    assert_eq!(
        extra.handshake(0, 6000, 0, &[0; 16]),
        None,
        "a fourth connection from the same address must be refused"
    );
    assert!(extra.closed_by_server(Duration::from_secs(5)));
    // Closing one frees its place.
    let (first, _) = admitted.remove(0);
    first.drop_connection();
    std::thread::sleep(Duration::from_millis(300));
    let (_again, handshake) = RawConn::new_session(&server, 6000);
    assert_ne!(
        handshake.session_id, 0,
        "a freed place admits a new connection"
    );
}
