//! The answers to the four-letter words, from this shard's state and the other shards'
//! reports (the counters they read are in `counters.rs`).

use crate::fourlw::{
    self, Command, DumpInfo, ExpiryBucket, MetricValue, PathWatches, ServerStats, SessionEphemerals,
};
use crate::messages::{Gathered, ShardReport};

use super::counters::{Asker, ServerCounters};
use super::state::ShardState;

fn dir_size(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn open_fds() -> Option<u64> {
    std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as u64)
}

fn max_fds() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and has no other effect.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    (rc == 0).then_some(lim.rlim_cur)
}

/// The words whose answer covers every shard's connections and watches.
/// The `conf` text (rendered at start) with its `membership:` section, the last one, showing
/// the member's current configuration: after a committed reconfiguration Apache's `conf`
/// prints the new member lines and `version=<hex zxid>`. A standalone server's text has no
/// such section and is left alone.
fn with_active_membership(conf: &str, view: &crate::reconfig::ReconfigView) -> String {
    const SECTION: &str = "membership: \n";
    match conf.find(SECTION) {
        Some(at) if !view.members.is_empty() => format!(
            "{}{}",
            &conf[..at + SECTION.len()],
            crate::config::membership_text(&view.members, view.version)
        ),
        _ => conf.to_owned(),
    }
}

pub(super) fn needs_gather(cmd: Command) -> bool {
    matches!(
        cmd,
        Command::Srvr
            | Command::Stat
            | Command::Mntr
            | Command::Cons
            | Command::Wchs
            | Command::Wchc
            | Command::Wchp
            | Command::Dump
    )
}

/// Merges every shard's reports, or uses this shard's alone if the gather failed.
fn merged(state: &ShardState, gathered: Option<&Gathered>) -> (ShardReport, Option<u64>) {
    let Some(g) = gathered else {
        return (state.report(), None);
    };
    let mut out = ShardReport::default();
    let mut by_path: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for r in &g.reports {
        out.connections.extend(r.connections.iter().cloned());
        out.watches_by_session
            .extend(r.watches_by_session.iter().cloned());
        for p in &r.watches_by_path {
            by_path
                .entry(p.path.clone())
                .or_default()
                .extend(p.session_ids.iter().copied());
        }
        out.apache_watch_count += r.apache_watch_count;
        out.packets_received += r.packets_received;
        out.packets_sent += r.packets_sent;
        out.replies_too_large += r.replies_too_large;
        out.outstanding += r.outstanding;
        out.queued_reply_bytes += r.queued_reply_bytes;
        out.latency.merge(&r.latency);
    }
    out.connections.sort_by_key(|c| c.remote);
    out.watches_by_session.sort_by_key(|w| w.session_id);
    out.watches_by_path = by_path
        .into_iter()
        .map(|(path, session_ids)| PathWatches { path, session_ids })
        .collect();
    (out, Some(g.session_count))
}

/// ringkeeper's own `mntr` lines (after Apache's): request latency per operation, the group
/// commit's fdatasync latency and batch size, and each shard's load. The admin endpoint
/// turns every one of them into a Prometheus gauge; the metrics port builds Apache's
/// summaries from the `_count`, `_sum` and quantile lines (`metrics::apache`).
fn extra_metrics(all: &ShardReport, gathered: Option<&Gathered>) -> Vec<(String, MetricValue)> {
    let mut out = vec![
        (
            "ringkeeper_replies_too_large".to_owned(),
            MetricValue::Int(all.replies_too_large as i64),
        ),
        // Bounded by ringkeeper.queuedReplyBytesMax, plus one reply per connection that
        // had nothing queued (those are always read). Includes what waiting reads reserve.
        (
            "ringkeeper_queued_reply_bytes".to_owned(),
            MetricValue::Int(all.queued_reply_bytes as i64),
        ),
    ];
    let mut dist = |prefix: &str, d: &crate::latency::Distribution| {
        out.push((
            format!("{prefix}_count"),
            MetricValue::Int(d.count() as i64),
        ));
        for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)] {
            out.push((
                format!("{prefix}_{name}"),
                MetricValue::Int(d.quantile(q) as i64),
            ));
        }
        out.push((format!("{prefix}_max"), MetricValue::Int(d.max() as i64)));
        out.push((format!("{prefix}_sum"), MetricValue::Int(d.sum() as i64)));
    };
    // The metrics port's Apache-named `readlatency` and `updatelatency` summaries.
    let (reads, updates) = all.latency.reads_and_updates();
    dist("ringkeeper_read_latency_us", &reads);
    dist("ringkeeper_update_latency_us", &updates);
    for (op, d) in &all.latency.by_op {
        dist(&format!("ringkeeper_request_latency_us_{op}"), d);
    }

    if let Some(g) = gathered {
        dist("ringkeeper_fsync_latency_us", &g.fsync_us);
        dist("ringkeeper_commit_batch_txns", &g.batch_txns);
        for (i, r) in g.reports.iter().enumerate() {
            out.push((
                format!("ringkeeper_shard_{i}_connections"),
                MetricValue::Int(r.connections.len() as i64),
            ));
            out.push((
                format!("ringkeeper_shard_{i}_outstanding_requests"),
                MetricValue::Int(r.outstanding as i64),
            ));
        }
    }
    out
}

fn server_stats(
    state: &ShardState,
    all: &ShardReport,
    gathered: Option<&Gathered>,
    session_count: Option<u64>,
) -> ServerStats {
    let latency = all.latency.all();
    let ms = |us: u64| (us / 1000) as i64;
    let ctx = &state.settings.four_letter;
    let mut sessions: Vec<i64> = all
        .connections
        .iter()
        .map(|c| c.session_id)
        .filter(|s| *s != 0)
        .collect();
    sessions.sort_unstable();
    sessions.dedup();
    ServerStats {
        version: ctx.version.clone(),
        server_state: crate::replica::role::state_name().to_owned(),
        packets_received: all.packets_received,
        packets_sent: all.packets_sent,
        alive_connections: all.connections.len() as u64,
        last_processed_zxid: state.last_zxid(),
        node_count: state.tree.node_count() as u64,
        watch_count: all.apache_watch_count,
        ephemerals_count: state.tree.ephemeral_count() as u64,
        approximate_data_size: state.tree.approximate_data_size(),
        global_sessions: session_count.unwrap_or(sessions.len() as u64),
        uptime_ms: (crate::sequencer::now_ms() - ctx.started_ms).max(0) as u64,
        open_file_descriptor_count: open_fds(),
        max_file_descriptor_count: max_fds(),
        latency_min_ms: ms(latency.min()),
        latency_avg_ms: latency.mean() / 1000.0,
        latency_max_ms: ms(latency.max()),
        outstanding_requests: all.outstanding,
        quorum: crate::metrics::quorum::mntr_values(),
        extra_metrics: extra_metrics(all, gathered),
        read_only: state.read_only(),
        ..Default::default()
    }
}

/// Answers a four-letter word; `gathered` holds every shard's report when the word needs it.
pub(super) fn four_letter_word(
    state: &mut ShardState,
    cmd: Command,
    asker: Asker,
    gathered: Option<&Gathered>,
) -> String {
    let ctx = state.settings.four_letter.clone();
    if asker == Asker::Network && !fourlw::whitelist_allows(&ctx.whitelist, cmd) {
        return fourlw::refusal(cmd);
    }
    // An ensemble member without a quorum answers as Apache's does while it is not running.
    if !state.serving() && !state.read_only() && cmd.needs_running_server() {
        return fourlw::render_not_serving(cmd);
    }
    let (all, session_count) = if needs_gather(cmd) {
        merged(state, gathered)
    } else {
        (ShardReport::default(), None)
    };
    match cmd {
        Command::Ruok => fourlw::render_ruok().to_owned(),
        Command::Srvr => fourlw::render_srvr(&server_stats(state, &all, gathered, session_count)),
        Command::Stat => fourlw::render_stat(
            &server_stats(state, &all, gathered, session_count),
            &all.connections,
        ),
        Command::Mntr => fourlw::render_mntr(&server_stats(state, &all, gathered, session_count)),
        Command::Cons => fourlw::render_cons(&all.connections),
        Command::Conf => with_active_membership(&ctx.conf_text, &state.settings.reconfig),
        Command::Envi => fourlw::render_envi(&fourlw::Environment::collect(&ctx.version)),
        Command::Isro => fourlw::render_isro(state.read_only()).to_owned(),
        Command::Dirs => fourlw::render_dirs(dir_size(&ctx.data_dir), dir_size(&ctx.data_log_dir)),
        Command::Wchs => fourlw::render_wchs(&fourlw::WatchSummary::from_sessions(
            &all.watches_by_session,
        )),
        Command::Wchc => fourlw::render_wchc(&all.watches_by_session),
        Command::Wchp => fourlw::render_wchp(&all.watches_by_path),
        Command::Dump => {
            let ephemerals = state
                .tree
                .sessions_with_ephemerals()
                .into_iter()
                .map(|(session_id, paths)| SessionEphemerals { session_id, paths })
                .collect();
            let session_buckets = gathered
                .map(|g| {
                    g.session_buckets
                        .iter()
                        .map(|(t, ids)| ExpiryBucket {
                            expires_at_ms: *t,
                            session_ids: ids.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            fourlw::render_dump(&DumpInfo {
                session_buckets,
                ephemerals,
            })
        }
        Command::Crst | Command::Srst => {
            if cmd == Command::Srst {
                state.counters = ServerCounters::default();
                state.latency = Default::default();
            } else {
                for c in state.conns.values_mut() {
                    c.stats.packets_received = 0;
                    c.stats.packets_sent = 0;
                }
            }
            cmd.reset_request()
                .map(fourlw::render_reset)
                .unwrap_or_default()
                .to_owned()
        }
        Command::Gtmk | Command::Stmk => fourlw::render_gtmk(fourlw::DEFAULT_TRACE_MASK),
        Command::Hash => fourlw::render_hash(&[]),
        Command::TelnetClose => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_shows_the_current_membership() {
        let member =
            |id: u64, spec: &str| crate::config::parse_server_line(id, spec, false).unwrap();
        let view = crate::reconfig::ReconfigView {
            enabled: true,
            standalone: false,
            members: vec![
                member(1, "127.0.0.1:2001:3001"),
                member(2, "127.0.0.1:2002:3002"),
            ],
            version: 0x1_0000_0003,
            multi_address: false,
        };
        let started = "serverId=1\npeerType=0\nmembership: \n\
                       server.1=127.0.0.1:2001:3001:participant\n\
                       server.2=127.0.0.1:2002:3002:participant\n\
                       server.3=127.0.0.1:2003:3003:participant\nversion=0";
        assert_eq!(
            with_active_membership(started, &view),
            "serverId=1\npeerType=0\nmembership: \n\
             server.1=127.0.0.1:2001:3001:participant\n\
             server.2=127.0.0.1:2002:3002:participant\nversion=100000003"
        );
        let standalone = "clientPort=2181\nserverId=0\n";
        assert_eq!(with_active_membership(standalone, &view), standalone);
    }
}
