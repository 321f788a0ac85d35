//! Apache's ContainerManager settings, passed as the system properties Apache reads
//! (`-Dznode.container.*`): how often empty containers are reaped, how many may go per
//! minute, and when a container that never had a child goes too.

mod common;

use std::time::{Duration, Instant};

use common::*;
use zookeeper_client::{Acls, Client, CreateMode};

/// Far below Apache's one-minute default, so that a server ignoring the setting fails.
const CHECK_INTERVAL_MS: u64 = 100;
/// How long a reaping the settings promise may take on a loaded machine.
const REAP_WAIT: Duration = Duration::from_secs(10);

fn reaping_server(properties: &[(&str, &str)]) -> TestServer {
    let mut extra_properties = vec![(
        "znode.container.checkIntervalMs".to_string(),
        CHECK_INTERVAL_MS.to_string(),
    )];
    extra_properties.extend(
        properties
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    TestServer::start(ServerOptions {
        extra_properties,
        ..Default::default()
    })
}

async fn used_container(client: &Client, path: &str) {
    let container = CreateMode::Container.with_acls(Acls::anyone_all());
    client.create(path, b"", &container).await.unwrap();
    let child = format!("{path}/item");
    client.create(&child, b"", &persistent()).await.unwrap();
    client.delete(&child, None).await.unwrap();
}

async fn gone_within(client: &Client, path: &str, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    while client.check_stat(path).await.unwrap().is_some() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

#[tokio::test]
async fn the_check_interval_is_honoured() {
    let server = reaping_server(&[]);
    let client = connect(&server).await;
    used_container(&client, "/box").await;
    assert!(
        gone_within(&client, "/box", REAP_WAIT).await,
        "an emptied container outlived a {CHECK_INTERVAL_MS} ms check interval"
    );
}

#[tokio::test]
async fn never_used_containers_go_only_when_asked() {
    let server = reaping_server(&[("znode.container.maxNeverUsedIntervalMs", "300")]);
    let client = connect(&server).await;
    let container = CreateMode::Container.with_acls(Acls::anyone_all());
    client.create("/fresh", b"", &container).await.unwrap();
    assert!(gone_within(&client, "/fresh", REAP_WAIT).await);

    let keeping = reaping_server(&[]);
    let client = connect(&keeping).await;
    client.create("/fresh", b"", &container).await.unwrap();
    // Many check intervals pass; Apache's default keeps a never-used container.
    tokio::time::sleep(Duration::from_millis(CHECK_INTERVAL_MS * 10)).await;
    assert!(client.check_stat("/fresh").await.unwrap().is_some());
}

#[tokio::test]
async fn deletions_are_paced_to_max_per_minute() {
    // One deletion a second at most.
    let server = reaping_server(&[("znode.container.maxPerMinute", "60")]);
    let client = connect(&server).await;
    let paths = ["/a", "/b", "/c"];
    for path in paths {
        used_container(&client, path).await;
    }
    let deadline = Instant::now() + REAP_WAIT;
    let first_gone = loop {
        assert!(Instant::now() < deadline, "no container was reaped");
        let mut left = 0;
        for path in paths {
            left += usize::from(client.check_stat(path).await.unwrap().is_some());
        }
        if left < paths.len() {
            break Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Three deletions at one a second take two seconds after the first; well before
    // that, at least one container must still be there.
    tokio::time::sleep(Duration::from_millis(1200).saturating_sub(first_gone.elapsed())).await;
    let mut left = 0;
    for path in paths {
        left += usize::from(client.check_stat(path).await.unwrap().is_some());
    }
    assert!(left >= 1, "three deletions within 1.2 s at 60 a minute");
    for path in paths {
        assert!(gone_within(&client, path, REAP_WAIT).await, "{path}");
    }
}
