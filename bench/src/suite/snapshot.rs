//! Snapshot time, measured from outside the server so that ringkeeper and Apache are timed
//! the same way.
//!
//! The server runs with a small `snapCount`, one session sends setData requests one at a
//! time and notes the zxid and arrival time of every reply, and a thread polls the
//! snapshot directory every millisecond for the moment a new snapshot is complete:
//! ringkeeper writes `snapshot.<zxid>.tmp` and renames it to `snapshot.<zxid>` at the end
//! (docs/storage-format.md), so the final name appearing is the moment; Apache 3.8 writes
//! `snapshot.<hex zxid>` in place, so its file counts as complete once it ends with the
//! trailer Apache writes last (the checksum, then the string "/": bytes `00 00 00 01 2f`).
//!
//! The start is the reply to the write the snapshot's zxid names, i.e. the newest write
//! the snapshot contains. ringkeeper snapshots after exactly that transaction, so this is
//! the crossing write. Apache decides to snapshot when it logs the crossing transaction and
//! names the file after the last transaction applied at that moment, which with serial
//! writes is the one before: its start is then one serial write (a fraction of a
//! millisecond) early, which is recorded per round as `start_uncertainty_ms`.

use super::server::{Server, ServerKind};
use crate::session::{self, reply_header};
use ringkeeper_engine::jute::records::{Request, SetDataRequest};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// How often the snapshot directory is listed.
pub const POLL_INTERVAL: Duration = Duration::from_millis(1);
/// How long one round may take, writes and snapshot together.
pub const ROUND_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a round waits for its snapshot without writing before it writes again.
pub const IDLE_WAIT: Duration = Duration::from_secs(5);
/// How long the server's log may lag behind its last snapshot.
pub const LOG_WAIT: Duration = Duration::from_secs(10);
/// How long one setData may take before the scenario gives up.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// One snapshot, timed.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SnapshotRound {
    /// The zxid in the snapshot's name.
    pub zxid: i64,
    /// Its size on disk.
    pub bytes: u64,
    /// Writes acknowledged in this round before the snapshot was complete.
    pub writes: u64,
    /// From the reply to the write named by the snapshot to the final name appearing.
    pub external_ms: f64,
    /// Time between that reply and the next one (the start's uncertainty for Apache).
    pub start_uncertainty_ms: f64,
    /// The server's own log line for the snapshot, if it has one: ringkeeper's
    /// `snapshot taken ... total_ms`, Apache's `Snapshot taken in N ms`.
    pub server_reported_ms: Option<f64>,
}

/// The snapshot scenario on one target.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SnapshotRow {
    /// Target name.
    pub target: String,
    /// Znodes in the tree besides the write target.
    pub znodes: u64,
    /// `snapCount` the server ran with.
    pub snap_count: u32,
    /// Each snapshot.
    pub rounds: Vec<SnapshotRound>,
    /// Minimum, median and maximum of `external_ms`.
    pub external_ms: Spread,
}

/// Minimum, median and maximum of a few samples.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq)]
pub struct Spread {
    /// Smallest.
    pub min: f64,
    /// Median (mean of the middle two for an even count).
    pub median: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// The spread of `samples`, or `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Spread> {
        if samples.is_empty() {
            return None;
        }
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Spread {
            min: v[0],
            median,
            max: v[n - 1],
        })
    }
}

/// The directory a server of `kind` writes its snapshots to, under its `dataDir`.
pub fn snapshot_dir(kind: &ServerKind, data_dir: &Path) -> PathBuf {
    match kind {
        ServerKind::Ringkeeper(_) => data_dir.join("ringkeeper-v1"),
        ServerKind::Apache(_) => data_dir.join("version-2"),
        ServerKind::External(_) => data_dir.to_owned(),
    }
}

/// The zxid of a complete snapshot's file name, `snapshot.<hex>`; temporary names
/// (`snapshot.<hex>.tmp`) give `None`.
pub fn snapshot_zxid(name: &str) -> Option<i64> {
    let hex = name.strip_prefix("snapshot.")?;
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(|z| z as i64)
}

/// Whether an Apache snapshot file has been written to its end: its last five bytes are
/// the jute string "/" that follows the checksum.
pub fn has_apache_trailer(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut tail = [0u8; 5];
    f.seek(SeekFrom::End(-5)).is_ok()
        && f.read_exact(&mut tail).is_ok()
        && tail == [0, 0, 0, 1, b'/']
}

fn complete_snapshots(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| snapshot_zxid(n).is_some())
                .collect()
        })
        .unwrap_or_default()
}

/// A snapshot seen complete: its name, when, and its size then.
type Seen = (String, Instant, u64);

/// Polls `dir` until `stop` and sends each new complete snapshot with the time it was
/// first seen complete.
fn watch_dir(
    dir: PathBuf,
    mut known: BTreeSet<String>,
    in_place: bool,
    stop: Arc<AtomicBool>,
    out: mpsc::Sender<Seen>,
) {
    while !stop.load(Ordering::Relaxed) {
        for name in complete_snapshots(&dir) {
            if known.contains(&name) {
                continue;
            }
            let path = dir.join(&name);
            if in_place && !has_apache_trailer(&path) {
                continue;
            }
            let at = Instant::now();
            let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
            known.insert(name.clone());
            if out.send((name, at, bytes)).is_err() {
                return;
            }
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// The durations the server logged for its snapshots, in log order, from byte `from` of
/// its log on.
pub fn reported_snapshot_ms(kind: &ServerKind, log: &str) -> Vec<(Option<i64>, f64)> {
    let mut out = Vec::new();
    for line in log.lines() {
        match kind {
            ServerKind::Ringkeeper(_) if line.contains("snapshot taken") => {
                let field = |key: &str| {
                    line.split_whitespace()
                        .find_map(|w| w.strip_prefix(key))
                        .map(str::to_string)
                };
                let zxid = field("zxid=")
                    .and_then(|z| i64::from_str_radix(z.trim_start_matches("0x"), 16).ok());
                if let Some(ms) = field("total_ms=").and_then(|m| m.parse::<f64>().ok()) {
                    out.push((zxid, ms));
                }
            }
            ServerKind::Apache(_) => {
                if let Some(rest) = line.split("Snapshot taken in ").nth(1) {
                    if let Some(ms) = rest
                        .split_whitespace()
                        .next()
                        .and_then(|m| m.parse::<f64>().ok())
                    {
                        out.push((None, ms));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Times `rounds` snapshots of the server `srv` (started with `snapCount=snap_count`),
/// writing to `path`, which must exist.
pub async fn measure(
    srv: &Server,
    path: &str,
    znodes: u64,
    snap_count: u32,
    rounds: usize,
) -> Result<SnapshotRow, String> {
    let name = srv.kind.name();
    let dir = snapshot_dir(&srv.kind, &srv.dir.join("data"));
    let log_path = srv.dir.join("server.log");
    let log_from = std::fs::metadata(&log_path).map_or(0, |m| m.len());
    // A snapshot the server takes on its own at start-up (Apache does) must be finished
    // and known before the first round, or it would be taken for the first round's.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let known = complete_snapshots(&dir);
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let in_place = matches!(srv.kind, ServerKind::Apache(_));
    let watcher = {
        let (dir, stop) = (dir.clone(), stop.clone());
        std::thread::spawn(move || watch_dir(dir, known, in_place, stop, tx))
    };
    let result = write_rounds(srv, path, snap_count, rounds, &rx).await;
    stop.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    let mut rows = result?;
    // The server's own accounts: ringkeeper's name their zxid; Apache's are matched by
    // order (the last `rounds` lines, since start-up may have logged one more). A line is
    // written after the rename (ringkeeper logs once the purge is done too), so the log is
    // read again for a while until every round has its line.
    let deadline = Instant::now() + LOG_WAIT;
    loop {
        let log = std::fs::read(&log_path).unwrap_or_default();
        let log = String::from_utf8_lossy(log.get(log_from as usize..).unwrap_or_default());
        let reported = reported_snapshot_ms(&srv.kind, &log);
        match srv.kind {
            ServerKind::Ringkeeper(_) => {
                for r in &mut rows {
                    r.server_reported_ms = reported
                        .iter()
                        .find(|(z, _)| *z == Some(r.zxid))
                        .map(|(_, ms)| *ms);
                }
            }
            ServerKind::External(_) => {}
            ServerKind::Apache(_) => {
                if reported.len() >= rows.len() {
                    let tail = &reported[reported.len() - rows.len()..];
                    for (r, (_, ms)) in rows.iter_mut().zip(tail) {
                        r.server_reported_ms = Some(*ms);
                    }
                }
            }
        }
        if rows.iter().all(|r| r.server_reported_ms.is_some()) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let samples: Vec<f64> = rows.iter().map(|r| r.external_ms).collect();
    let external_ms = Spread::of(&samples).ok_or_else(|| format!("no snapshot on {name}"))?;
    Ok(SnapshotRow {
        target: name.to_string(),
        znodes,
        snap_count,
        rounds: rows,
        external_ms,
    })
}

async fn write_rounds(
    srv: &Server,
    path: &str,
    snap_count: u32,
    rounds: usize,
    snapshots: &mpsc::Receiver<Seen>,
) -> Result<Vec<SnapshotRound>, String> {
    let name = srv.kind.name();
    let mut sess = session::connect(&srv.addr, 30_000, Duration::from_secs(10))
        .await
        .map_err(|e| format!("snapshot scenario on {name}: {e}"))?;
    let value = vec![b's'; 100];
    let mut xid = 1i32;
    let mut out = Vec::new();
    // Acknowledged writes of the current round: (zxid, reply time).
    let mut acks: Vec<(i64, Instant)> = Vec::new();
    // Apache snapshots after between snapCount/2 and snapCount transactions; ringkeeper
    // after exactly snapCount. Three times that without a snapshot means none is coming.
    let writes_max = u64::from(snap_count) * 3 + 100;
    for round in 0..rounds {
        let deadline = Instant::now() + ROUND_TIMEOUT;
        acks.clear();
        // After snapCount writes in a round the threshold has been crossed (ringkeeper
        // counts from its last snapshot, which is at most the previous round's), so the
        // writes pause and the round waits for the snapshot: a round's snapshot then
        // starts on a server that has caught up, not behind a backlog of the previous one.
        // If none comes (Apache skips a snapshot due while one is running) writing resumes.
        let mut pause_at = u64::from(snap_count);
        let (snap, seen_at, bytes) = loop {
            if let Ok(found) = snapshots.try_recv() {
                break found;
            }
            if acks.len() as u64 >= pause_at {
                let idle_until = Instant::now() + IDLE_WAIT;
                let mut found = None;
                while found.is_none() && Instant::now() < idle_until {
                    tokio::time::sleep(POLL_INTERVAL).await;
                    found = snapshots.try_recv().ok();
                }
                if let Some(found) = found {
                    break found;
                }
                pause_at += u64::from(snap_count / 2).max(1);
            }
            if acks.len() as u64 >= writes_max || Instant::now() > deadline {
                return Err(format!(
                    "no snapshot on {name} after {} writes with snapCount={snap_count} (round {})",
                    acks.len(),
                    round + 1
                ));
            }
            let req = Request::SetData(SetDataRequest {
                path: path.to_string(),
                data: Some(value.clone()),
                version: -1,
            });
            session::write_request(&mut sess.writer, xid, &req)
                .await
                .map_err(|e| format!("setData on {name}: {e}"))?;
            let frame = tokio::time::timeout(REPLY_TIMEOUT, session::read_frame(&mut sess.reader))
                .await
                .map_err(|_| format!("setData on {name}: no reply within {REPLY_TIMEOUT:?}"))?
                .map_err(|e| format!("setData on {name}: {e}"))?;
            let at = Instant::now();
            let (h, _) = reply_header(&frame).map_err(|e| e.to_string())?;
            if h.xid != xid || h.err != 0 {
                return Err(format!(
                    "setData {path} on {name}: xid {} err {}",
                    h.xid,
                    crate::stats::error_label(h.err)
                ));
            }
            xid += 1;
            acks.push((h.zxid, at));
        };
        let zxid = snapshot_zxid(&snap).ok_or("snapshot name")?;
        let Some(i) = acks.iter().rposition(|(z, _)| *z <= zxid) else {
            // The snapshot holds none of this round's writes: it was due before the round
            // began (a late start-up snapshot); it says nothing about the round.
            eprintln!("suite: snapshot {snap} on {name} predates the round; ignored");
            continue;
        };
        let start = acks[i].1;
        let next = acks.get(i + 1).map_or(seen_at, |a| a.1);
        out.push(SnapshotRound {
            zxid,
            bytes,
            writes: acks.len() as u64,
            external_ms: seen_at.saturating_duration_since(start).as_secs_f64() * 1e3,
            start_uncertainty_ms: next.saturating_duration_since(start).as_secs_f64() * 1e3,
            server_reported_ms: None,
        });
    }
    session::close(sess, xid).await;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_snapshot_names_have_a_zxid() {
        assert_eq!(snapshot_zxid("snapshot.00000000000001f4"), Some(0x1f4));
        assert_eq!(snapshot_zxid("snapshot.1f4"), Some(0x1f4));
        assert_eq!(snapshot_zxid("snapshot.00000000000001f4.tmp"), None);
        assert_eq!(snapshot_zxid("snapshot."), None);
        assert_eq!(snapshot_zxid("log.0000000000000001"), None);
    }

    #[test]
    fn spread_takes_the_middle() {
        assert_eq!(Spread::of(&[]), None);
        let s = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 2.0, 3.0));
        let s = Spread::of(&[4.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 3.0, 10.0));
    }

    #[test]
    fn server_log_lines_give_durations() {
        let rk = ServerKind::Ringkeeper(PathBuf::from("x"));
        let log = "2026-11-22T01:00:00Z  INFO ringkeeper_server::snapshotter: snapshot taken zxid=0x1f4 nodes=100 encoded_ms=3 total_ms=12\n\
                   2026-11-22T01:00:01Z  INFO other line\n";
        assert_eq!(reported_snapshot_ms(&rk, log), vec![(Some(0x1f4), 12.0)]);
        let ap = ServerKind::Apache(String::new());
        let log = "2026-11-22 01:00:00,000 INFO  Snapshot taken in 37 ms\nnoise\n";
        assert_eq!(reported_snapshot_ms(&ap, log), vec![(None, 37.0)]);
    }
}
