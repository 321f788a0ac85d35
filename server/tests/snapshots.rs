//! Snapshots and retention in a running server: with a small snapCount the server writes
//! snapshots as transactions flow, purges down to snapRetainCount snapshots and the log
//! segments they need, and recovers the same tree from what is left.

mod common;

use std::time::Duration;

use common::server::Flavor;
use common::*;

fn store_files(server: &TestServer) -> Vec<String> {
    let dir = server.data_dir().join("ringkeeper-v1");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn snapshots_are_taken_purged_and_recovered_from() {
    if Flavor::from_env() == Flavor::Apache {
        // Apache's data directory layout differs; this checks ringkeeper's own files.
        return;
    }
    let mut server = TestServer::start(ServerOptions {
        extra_config: vec!["snapCount=40".into(), "autopurge.snapRetainCount=3".into()],
        ..Default::default()
    });
    let client = connect(&server).await;
    for i in 0..400 {
        client
            .create(
                &format!("/s{i:03}"),
                format!("v{i}").as_bytes(),
                &persistent(),
            )
            .await
            .unwrap();
    }
    // Snapshot files are written off the write path; give them a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let snapshots = loop {
        let snaps: Vec<String> = store_files(&server)
            .into_iter()
            .filter(|n| n.starts_with("snapshot."))
            .collect();
        if (2..=3).contains(&snaps.len()) || std::time::Instant::now() > deadline {
            break snaps;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        snapshots.len() >= 2,
        "snapshots were taken: {:?}",
        store_files(&server)
    );
    assert!(
        snapshots.len() <= 3,
        "purged down to snapRetainCount: {snapshots:?}"
    );
    drop(client);
    server.kill();
    server.restart();
    let client = connect(&server).await;
    let children = client.list_children("/").await.unwrap();
    for i in 0..400 {
        let path = format!("/s{i:03}");
        assert!(
            children.contains(&path[1..].to_string()),
            "{path} survives snapshot, purge and restart"
        );
    }
    let (data, _) = client.get_data("/s399").await.unwrap();
    assert_eq!(data, b"v399");
}
