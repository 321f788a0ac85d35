//! Watch fan-out: N sessions each hold a data watch on one node; another session sets its
//! data; the time from sending the setData to the last watcher's notification is recorded,
//! round after round. Every watcher re-arms its watch (getData with watch) before the next
//! round starts, so each round fires exactly N one-shot watches.

use crate::populate::create_all;
use crate::session::{self, reply_header, SessionError};
use crate::stats::{new_histogram, summarize, OpStats, Summary};
use ringkeeper_engine::jute::records::{GetDataRequest, Request, SetDataRequest};
use ringkeeper_engine::xid;
use serde::Serialize;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long one round may take before the measurement gives up.
pub const ROUND_TIMEOUT: Duration = Duration::from_secs(10);

/// Results of a fan-out measurement.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FanoutReport {
    /// Watching sessions.
    pub watchers: usize,
    /// Rounds completed.
    pub rounds: u64,
    /// From setData sent to the last watcher notified.
    pub last_notified: Summary,
    /// From setData sent to the first watcher notified.
    pub first_notified: Summary,
    /// Rounds where some watcher was not notified within [`ROUND_TIMEOUT`].
    pub incomplete_rounds: u64,
}

enum Event {
    Armed,
    Notified(Instant),
    Failed(String),
}

/// Runs `rounds` rounds with `watchers` watching sessions against `host`, using the node
/// `root/fanout` (created if missing).
pub async fn run(
    host: &str,
    root: &str,
    watchers: usize,
    rounds: u64,
) -> Result<FanoutReport, String> {
    let path = format!("{root}/fanout");
    create_all(host, [root.to_string()].into_iter(), 0, 1).await?;
    create_all(host, [path.clone()].into_iter(), 16, 1).await?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let mut tasks = Vec::new();
    for _ in 0..watchers {
        let tx = tx.clone();
        let host = host.to_string();
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = watch_loop(&host, &path, rounds, &tx).await {
                let _ = tx.send(Event::Failed(e.to_string()));
            }
        }));
    }
    drop(tx);
    let mut setter = session::connect(host, 30_000, Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())?;
    let mut last = OpStats {
        latency: new_histogram(),
        ..OpStats::default()
    };
    let mut first = OpStats::default();
    let mut done = 0u64;
    let mut incomplete = 0u64;
    let mut next_xid = 1;
    let started = Instant::now();
    // Armed events of the next round can arrive while this round's notifications are still
    // being collected (a fast watcher re-arms at once), so they are counted across rounds.
    let mut armed = 0usize;
    'rounds: for _ in 0..rounds {
        while armed < watchers {
            match tokio::time::timeout(ROUND_TIMEOUT, rx.recv()).await {
                Ok(Some(Event::Armed)) => armed += 1,
                Ok(Some(Event::Failed(e))) => return Err(format!("watcher: {e}")),
                Ok(Some(Event::Notified(_))) => {}
                Ok(None) | Err(_) => {
                    incomplete += 1;
                    break 'rounds;
                }
            }
        }
        armed = 0;
        let t0 = Instant::now();
        let req = Request::SetData(SetDataRequest {
            path: path.clone(),
            data: Some(vec![b'f'; 16]),
            version: -1,
        });
        session::write_request(&mut setter.writer, next_xid, &req)
            .await
            .map_err(|e| e.to_string())?;
        next_xid += 1;
        let mut notified = 0;
        let (mut lo, mut hi) = (None::<Instant>, None::<Instant>);
        while notified < watchers {
            match tokio::time::timeout(ROUND_TIMEOUT, rx.recv()).await {
                Ok(Some(Event::Notified(t))) => {
                    notified += 1;
                    lo = Some(lo.map_or(t, |x: Instant| x.min(t)));
                    hi = Some(hi.map_or(t, |x: Instant| x.max(t)));
                }
                Ok(Some(Event::Failed(e))) => return Err(format!("watcher: {e}")),
                Ok(Some(Event::Armed)) => armed += 1,
                Ok(None) | Err(_) => {
                    incomplete += 1;
                    break 'rounds;
                }
            }
        }
        // The setData reply is read after the notifications so it cannot delay them.
        let reply = tokio::time::timeout(ROUND_TIMEOUT, session::read_frame(&mut setter.reader))
            .await
            .map_err(|_| "setData reply timed out".to_string())?
            .map_err(|e| e.to_string())?;
        let (h, _) = reply_header(&reply).map_err(|e| e.to_string())?;
        if let (Some(lo), Some(hi)) = (lo, hi) {
            last.record(hi.duration_since(t0).as_nanos() as u64, h.err);
            first.record(lo.duration_since(t0).as_nanos() as u64, h.err);
        }
        done += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    for t in tasks {
        t.abort();
    }
    session::close(setter, next_xid).await;
    Ok(FanoutReport {
        watchers,
        rounds: done,
        last_notified: summarize(&last, secs),
        first_notified: summarize(&first, secs),
        incomplete_rounds: incomplete,
    })
}

async fn watch_loop(
    host: &str,
    path: &str,
    rounds: u64,
    tx: &mpsc::UnboundedSender<Event>,
) -> Result<(), SessionError> {
    let mut sess = session::connect(host, 30_000, Duration::from_secs(10)).await?;
    let mut next_xid = 1;
    for _ in 0..rounds {
        let req = Request::GetData(GetDataRequest {
            path: path.to_string(),
            watch: true,
        });
        session::write_request(&mut sess.writer, next_xid, &req).await?;
        loop {
            let frame = session::read_frame(&mut sess.reader).await?;
            let (h, _) = reply_header(&frame)?;
            if h.xid == next_xid {
                if h.err != 0 {
                    return Err(SessionError::Protocol(format!(
                        "getData with watch failed: {}",
                        crate::stats::error_label(h.err)
                    )));
                }
                break;
            }
        }
        next_xid += 1;
        if tx.send(Event::Armed).is_err() {
            return Ok(());
        }
        loop {
            let frame = session::read_frame(&mut sess.reader).await?;
            let (h, _) = reply_header(&frame)?;
            if h.xid == xid::NOTIFICATION {
                if tx.send(Event::Notified(Instant::now())).is_err() {
                    return Ok(());
                }
                break;
            }
        }
    }
    session::close(sess, next_xid).await;
    Ok(())
}
