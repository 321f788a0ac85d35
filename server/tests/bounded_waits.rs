//! Finds the whole class, not the instances: every sleep and every queue type in the
//! non-test code of the server, the engine and the replication crate must be in the list
//! below, with the reason it is not a poll for a condition (a sleep) or the bound that keeps
//! it from growing with what clients or peers send (a queue). A new `sleep(` that waits for
//! something that could notify instead, or a new queue without a bound, fails here until
//! someone writes down why it is fine.
//!
//! Test code (files named `tests.rs` or `*_tests.rs`, and `#[cfg(test)]` items) is skipped:
//! tests may time things. The whole-server simulator (`server/src/sim/`) is scanned like the
//! rest: its queues are listed below with what bounds them.

use std::collections::BTreeMap;

mod source_scan;
use source_scan::{is_test_file, rust_files, workspace};

/// What counts as a sleep or a queue.
const MARKERS: [&str; 6] = [
    "sleep(",
    "new_unbounded",
    "unbounded(",
    "mpsc::channel(",
    "VecDeque<",
    "BinaryHeap<",
];

/// (file, marker, hits, why it is allowed).
const ALLOWED: &[(&str, &str, usize, &str)] = &[
    // Sleeps that are timers, backoffs or deadlines, never a wait for a condition.
    (
        "server/src/runtime.rs",
        "sleep(",
        2,
        "a bounded retry backoff at start-up while a previous process frees the client \
         port (no event tells us), and the park guard: a timer that bounds the wake-ups \
         glommio 0.9 can lose (runtime::park_guard); nothing waits on it",
    ),
    (
        "server/src/admin/listener.rs",
        "sleep(",
        1,
        "retry backoff after a failed accept (out of descriptors) on the admin thread",
    ),
    (
        "server/src/sequencer/mod.rs",
        "sleep(",
        3,
        "the session tick and the peer tick (periodic timers, raced against shutdown), and \
         the retry backoff while a previous process frees the peer ports",
    ),
    (
        "server/src/peer/transport.rs",
        "sleep(",
        5,
        "the connect-retry backoff, the accept-failure backoff and the stall deadline of a \
         superseded link, each raced against the transport's stop; and two handshake \
         deadlines (an accepted link's Hello, a dialed link's TLS/SASL exchange), each raced \
         against the handshake itself",
    ),
    (
        "server/src/shard/mod.rs",
        "sleep(",
        2,
        "the touch timer (twice a tick, raced against shutdown) and the accept-failure backoff",
    ),
    (
        "server/src/shard/conn.rs",
        "sleep(",
        4,
        "deadlines: the handshake deadline, the gather wait, the catch-up wait (woken by the \
         shard's applied notify, the sleep is only its limit), and the secure port's \
         accept-failure backoff",
    ),
    // Queues, each with its bound.
    (
        "server/src/shard/conn.rs",
        "new_unbounded",
        1,
        "a connection's out queue: bounded in bytes by ShardState::send_frame, which closes \
         a connection whose queued bytes would pass max_queued_bytes, plus one Close and one \
         Flush at a time",
    ),
    (
        "server/src/runtime.rs",
        "mpsc::channel(",
        1,
        "carries one message: the joiner thread's 'all executors stopped'",
    ),
    (
        "server/src/sequencer/outbox.rs",
        "VecDeque<",
        1,
        "the sequencer's queue to a shard: the sequencer takes no new work while any queue \
         holds OUTBOX_MESSAGES_MAX messages",
    ),
    (
        "server/src/sequencer/state/protocol.rs",
        "VecDeque<",
        2,
        "replies gated on an apply and the leader's own proposals: both within the \
         transactions proposed and not yet applied, which the leader stops forming at \
         proposals_outstanding_max (batch_full)",
    ),
    (
        "server/src/peer/transport.rs",
        "VecDeque<",
        1,
        "a link's outgoing queue: at most send_queue_max messages; a full queue drops (the \
         protocol tolerates loss)",
    ),
    (
        "server/src/shard/state.rs",
        "VecDeque<",
        1,
        "a connection's replies held for ordering: at most max_outstanding_per_conn, the \
         reader stops taking requests there",
    ),
    (
        "server/src/sequencer/state/leader_digest.rs",
        "VecDeque<",
        1,
        "a member's own recent digests: at most RECENT_MAX, the oldest dropped first",
    ),
    (
        "server/src/sim/client.rs",
        "VecDeque<",
        3,
        "a simulated client's requests in flight (at most its pipeline depth, \
         world/clients.rs) and its \
         script (a fixed list of steps); simulation only, no socket reaches it",
    ),
    (
        "server/src/sim/node.rs",
        "VecDeque<",
        2,
        "a simulated server's inboxes: the world delivers into them and the node drains them \
         in the same step; simulation only, in simulated time",
    ),
    (
        "replication/src/log.rs",
        "VecDeque<",
        1,
        "the in-memory log window: trimmed to log_window_entries_max applied entries, plus \
         at most snapshot_retain_entries_max more while a snapshot transfer continues from \
         an older point (past it the transfer is given up and the log trimmed)",
    ),
];

const ROOTS: [&str; 3] = ["server/src", "engine/src", "replication/src"];

/// The lines of `text` outside `#[cfg(test)]` items and comments.
fn non_test_lines(text: &str) -> Vec<&str> {
    let mut kept = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            skip_item(&mut lines);
            continue;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        kept.push(line);
    }
    kept
}

/// Skips the item after an attribute: up to its `;` if it has no body, or to the brace that
/// closes its body.
fn skip_item<'a>(lines: &mut impl Iterator<Item = &'a str>) {
    let mut depth = 0i64;
    let mut opened = false;
    for line in lines {
        for c in line.chars() {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        if opened && depth <= 0 {
            return;
        }
        if !opened && line.trim_end().ends_with(';') {
            return;
        }
    }
}

fn found() -> BTreeMap<(String, &'static str), usize> {
    let root = workspace();
    let mut files = Vec::new();
    for dir in ROOTS {
        rust_files(&root.join(dir), &mut files);
    }
    let mut hits = BTreeMap::new();
    for file in files {
        let rel = file
            .strip_prefix(&root)
            .expect("under the workspace")
            .to_string_lossy()
            .replace('\\', "/");
        if is_test_file(&rel) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("source readable");
        for line in non_test_lines(&text) {
            for marker in MARKERS {
                let n = line.matches(marker).count();
                if n > 0 {
                    *hits.entry((rel.clone(), marker)).or_insert(0) += n;
                }
            }
        }
    }
    hits
}

#[test]
fn every_sleep_and_every_queue_is_accounted_for() {
    let hits = found();
    let mut problems = Vec::new();
    for ((file, marker), n) in &hits {
        match ALLOWED.iter().find(|(f, m, _, _)| f == file && m == marker) {
            None => problems.push(format!(
                "{file}: {n} × `{marker}` not in the allow-list: notify instead of polling, \
                 bound the queue, or add it with its reason"
            )),
            Some((_, _, allowed, _)) if allowed != n => problems.push(format!(
                "{file}: {n} × `{marker}`, the allow-list says {allowed}: update it with \
                 the reason of each"
            )),
            Some(_) => {}
        }
    }
    for (file, marker, allowed, _) in ALLOWED {
        if !hits.contains_key(&(file.to_string(), *marker)) {
            problems.push(format!(
                "{file}: the allow-list expects {allowed} × `{marker}` and there is none: \
                 remove the entry"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_scanner_sees_code_and_skips_tests_and_comments() {
    let text = "fn a() { sleep(x); }\n// sleep(y)\n#[cfg(test)]\nmod tests {\n    fn b() {\n        sleep(z);\n    }\n}\nfn c() { VecDeque<u8> }\n";
    let lines = non_test_lines(text);
    assert_eq!(
        lines,
        vec!["fn a() { sleep(x); }", "fn c() { VecDeque<u8> }"]
    );
    assert!(is_test_file("server/src/shard/state_tests.rs"));
    assert!(is_test_file("server/src/admin/tests.rs"));
    assert!(!is_test_file("server/src/shard/state.rs"));
}
