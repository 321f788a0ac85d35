//! Back-pressure on the write path reaches the client that causes it: a client that pipelines
//! writes and reads none of its replies stops being read (its unanswered requests stay at
//! `globalOutstandingLimit`), another client's writes are answered meanwhile, every flooded
//! write is answered in order once the flooder reads, and the group commit still gathers
//! many transactions into one fdatasync while the readers wait for the batch to be taken.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::jute::{err, op, set_data_frame, In, Out};
use common::server::Flavor;
use common::*;

/// Unanswered requests a connection may have before it is not read.
const OUTSTANDING_LIMIT: u32 = 50;
/// setData requests the flooder pipelines.
const FLOOD_WRITES: i32 = 3000;
/// Writes the control client makes one at a time during the flood.
const CONTROL_WRITES: usize = 20;

/// A `mntr` value, summed over every line whose key starts with `prefix` and ends with
/// `suffix` (per-shard keys).
fn mntr_sum(server: &TestServer, prefix: &str, suffix: &str) -> i64 {
    server
        .four_letter_word("mntr")
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(k, _)| k.starts_with(prefix) && k.ends_with(suffix))
        .filter_map(|(_, v)| v.trim().parse::<i64>().ok())
        .sum()
}

#[test]
fn a_write_flood_that_reads_nothing_is_paused_others_are_served_and_commits_still_group() {
    let server = TestServer::start(ServerOptions {
        global_outstanding_limit: Some(OUTSTANDING_LIMIT),
        ..Default::default()
    });
    let (mut control, _) = RawConn::new_session(&server, 10_000);
    let create = |path: &str| Out::new().string(path).buffer(b"0").open_acl().int(0);
    assert_eq!(control.request(op::CREATE, create("/flood")).err, err::OK);
    assert_eq!(control.request(op::CREATE, create("/control")).err, err::OK);

    // The whole pipeline goes out from a thread of its own: once the server stops reading,
    // the kernel's buffers fill and the send blocks, which is the point.
    let (mut flooder, _) = RawConn::new_session(&server, 10_000);
    let pipeline: Vec<u8> = (1..=FLOOD_WRITES)
        .flat_map(|xid| set_data_frame(xid, "/flood", &[b'f'; 64]))
        .collect();
    let mut sender = flooder.sending_half();
    let sending = std::thread::spawn(move || sender.write_all(&pipeline));

    for i in 0..CONTROL_WRITES {
        let started = Instant::now();
        let reply = control.request(op::SET_DATA, {
            Out::new().string("/control").buffer(b"c").int(-1)
        });
        assert_eq!(reply.err, err::OK, "control write {i} during the flood");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "control write {i} waited {:?} behind the flood",
            started.elapsed()
        );
        if server.flavor() == Flavor::Ringkeeper {
            let outstanding = mntr_sum(&server, "zk_ringkeeper_shard_", "_outstanding_requests");
            assert!(
                outstanding <= OUTSTANDING_LIMIT as i64 + 1,
                "the flooder is read past its limit: {outstanding} requests outstanding"
            );
        }
    }

    // Once it reads, every write is answered, in order: paused, not dropped.
    for expected in 1..=FLOOD_WRITES {
        let frame = flooder
            .read_frame()
            .unwrap_or_else(|e| panic!("reply {expected} never came: {e}"));
        let mut reply = In::new(&frame);
        assert_eq!(reply.int(), expected, "replies in request order");
        let _zxid = reply.long();
        assert_eq!(reply.int(), err::OK, "write {expected}");
    }
    sending
        .join()
        .expect("the sending thread ended")
        .expect("the pipeline was sent in full");

    if server.flavor() == Flavor::Ringkeeper {
        // The flooder had up to OUTSTANDING_LIMIT writes in flight at once: while one batch
        // was being synced, the next gathered several of them.
        let batch_max = mntr_sum(&server, "zk_ringkeeper_commit_batch_txns_max", "");
        assert!(
            batch_max > 1,
            "group commit no longer groups: largest batch {batch_max}"
        );
    }
}
