//! A scripted run for issue 14 item 7: a follower that fell behind the leader's log window
//! is brought back by one snapshot, and what was committed while the snapshot travelled
//! reaches it as a diff, never as a second snapshot.

use super::{Failure, Options, Simulation};

/// Three voters with client writes throughout; follower `f` is down long enough for the
/// log window to move past it, then restarts. Fails if the leader was asked for a snapshot
/// for it after it had installed one (a snapshot sent to a follower whose install
/// succeeded), or if it does not catch up with the writes. Returns how many snapshots it
/// installed (none if the window had not moved past it).
pub fn a_lagging_follower_gets_one_snapshot(seed: u64, delay_max_ms: u64) -> Result<u64, Failure> {
    let mut options = Options::calm(seed, 3, 0);
    // Slower links and disks stretch the moment between the transfer's end and the
    // follower's first ack, when its repeated AckEpoch may still be on the way (much
    // slower ones make this calm configuration's timeouts elect new leaders, and a new
    // leader may rightly send a new snapshot).
    options.delay_max_ms = delay_max_ms;
    options.fsync_max_ms = delay_max_ms;
    options.trace = std::env::var_os("RK_SIM_TRACE").is_some();
    let mut sim = Simulation::new(options);
    sim.start()?;
    sim.run_until(500)?;
    let Some(f) = (0..3).find(|&i| {
        sim.nodes[i]
            .peer
            .as_ref()
            .is_some_and(|p| p.leader() != Some(sim.nodes[i].id))
    }) else {
        return Err(sim.fail("no follower after 500 ms"));
    };
    sim.crash_and_tell(f)?;
    // Far more than the simulator's window of 32 entries is committed meanwhile.
    sim.run_until(1_500)?;
    let before = sim.committed();
    sim.start_node(f)?;
    sim.run_until(4_000)?;
    let node = &sim.nodes[f];
    let (again, installed, applied) = (
        node.snapshots_after_install,
        node.installs,
        node.state.len(),
    );
    if again > 0 {
        return Err(sim.fail(format!(
            "the leader prepared {again} more snapshots for server {} after it installed one",
            f + 1
        )));
    }
    if applied <= before {
        return Err(sim.fail(format!(
            "server {} applied {applied} entries, not past the {before} committed before it restarted",
            f + 1
        )));
    }
    Ok(installed)
}
