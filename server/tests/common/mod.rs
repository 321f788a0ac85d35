//! Shared harness of the conformance suite: it starts a server (ringkeeper, or the real Apache
//! ZooKeeper when `RK_TEST_SERVER=apache`), opens clients on it and speaks raw jute when a test
//! needs frames that no well-behaved client would send.
//!
//! Every test file includes this module, and no file uses every helper, so dead-code warnings
//! are silenced here rather than sprinkled over each helper.
#![allow(dead_code)]

pub mod answer;
pub mod ensemble;
pub mod http;
pub mod jute;
pub mod load;
pub mod pki;
pub mod raw;
pub mod server;

#[allow(unused_imports)]
pub use raw::RawConn;
#[allow(unused_imports)]
pub use server::{ServerOptions, TestServer};

use std::time::Duration;

use zookeeper_client::{Acls, Client, CreateMode, CreateOptions};

/// The session timeout most tests ask for: long enough that a loaded two-core machine never
/// expires a session by accident, short enough to be clamped into the server's bounds.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(6);

/// How long a test waits for an event that must arrive before declaring it lost.
pub const EVENT_WAIT: Duration = Duration::from_secs(10);

/// How long a test waits to be reasonably sure that an event which must not arrive does not.
pub const QUIET_WAIT: Duration = Duration::from_millis(400);

/// Opens a client with the default session timeout.
pub async fn connect(server: &TestServer) -> Client {
    connect_with_timeout(server, DEFAULT_SESSION_TIMEOUT).await
}

/// Opens a client asking for the given session timeout.
pub async fn connect_with_timeout(server: &TestServer, timeout: Duration) -> Client {
    Client::connector()
        .with_session_timeout(timeout)
        .with_connection_timeout(Duration::from_secs(5))
        .connect(&server.connect_string())
        .await
        .unwrap_or_else(|err| panic!("connecting to {}: {err}", server.connect_string()))
}

/// Opens a client that authenticates with `digest user:password` before its first request.
pub async fn connect_with_digest(server: &TestServer, user_password: &str) -> Client {
    Client::connector()
        .with_session_timeout(DEFAULT_SESSION_TIMEOUT)
        .with_connection_timeout(Duration::from_secs(5))
        .with_auth("digest", user_password.as_bytes())
        .connect(&server.connect_string())
        .await
        .unwrap_or_else(|err| {
            panic!(
                "connecting to {} with digest: {err}",
                server.connect_string()
            )
        })
}

/// Options for a persistent node readable and writable by anyone, the most common case.
pub fn persistent() -> CreateOptions<'static> {
    CreateMode::Persistent.with_acls(Acls::anyone_all())
}

/// Options for an ephemeral node readable and writable by anyone.
pub fn ephemeral() -> CreateOptions<'static> {
    CreateMode::Ephemeral.with_acls(Acls::anyone_all())
}

/// Waits for a future at most `EVENT_WAIT`, panicking with `what` if it does not finish.
pub async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(EVENT_WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {EVENT_WAIT:?} waiting for {what}"),
    }
}

/// Returns true if the future does not finish within `QUIET_WAIT`, which is how a test shows
/// that an event was not delivered.
pub async fn stays_pending<F: std::future::Future>(future: F) -> bool {
    tokio::time::timeout(QUIET_WAIT, future).await.is_err()
}
