//! Observers in the simulation. An observer follows the committed stream and nothing else:
//! checked on every command it issues (it never leads, never votes, never acknowledges, never
//! asks for a snapshot to be sent, and never logs or truncates an entry that is not already
//! committed), and by a scripted run that kills every observer, then a majority of voters.

use super::{Failure, Options, Simulation};
use crate::command::{Command, Role};
use crate::message::{Message, VoterState};
use crate::ServerId;

impl Simulation {
    /// An observer of its own active configuration, before and after the current step.
    fn is_observer_node(&self, i: usize) -> bool {
        self.nodes[i].observer_step
    }

    /// Whether server `i` sees `id` as an observer (and not a voter of a pending
    /// configuration).
    fn is_observer_id(&self, i: usize, id: ServerId) -> bool {
        self.nodes[i].peer.as_ref().is_some_and(|p| {
            p.membership().is_observer(id)
                && !p.pending_membership().is_some_and(|m| m.is_voter(id))
        })
    }

    /// Checks one command a server is about to carry out against what observers may do.
    pub(super) fn check_observer_command(
        &self,
        i: usize,
        command: &Command,
    ) -> Result<(), Failure> {
        let id = self.nodes[i].id;
        if !self.is_observer_node(i) {
            if let Command::Send {
                message:
                    Message::Vote {
                        vote,
                        state: VoterState::Looking,
                        ..
                    },
                ..
            } = command
            {
                if self.is_observer_id(i, vote.leader) {
                    return Err(self.fail(format!("voter {id} voted for observer {}", vote.leader)));
                }
            }
            return Ok(());
        }
        let refused = match command {
            Command::Role(Role::Leading { .. }) => Some("leads"),
            Command::SendSnapshot { .. } | Command::SendSnapshotChunk { .. } => {
                Some("sends a snapshot, as only a leader does")
            }
            // A voter made an observer may still hold proposals it logged as a voter; only
            // in a run without reconfiguration is an observer's log committed history only.
            Command::Truncate { .. } if self.options.reconfig_every_ms == 0 => {
                Some("truncates: its log held an uncommitted entry")
            }
            Command::Send { message, .. } => match message {
                Message::Ack { .. } => Some("acknowledges"),
                // It asks for the leader, names the one it follows to a server that asks, or
                // echoes the vote of a voter whose older configuration counts it; it never
                // stands itself.
                Message::Vote { state, vote, .. }
                    if *state == VoterState::Leading
                        || (*state == VoterState::Looking && vote.leader == id) =>
                {
                    Some("votes")
                }
                m if m.leader_epoch().is_some() => Some("sends a leader's message"),
                _ => None,
            },
            Command::Append { entries } => entries
                .iter()
                .any(|e| {
                    let at = self.canonical.binary_search_by_key(&e.zxid, |c| c.zxid);
                    !matches!(at, Ok(k) if self.canonical[k] == *e)
                })
                .then_some("logs an entry that is not committed"),
            _ => None,
        };
        match refused {
            Some(what) => Err(self.fail(format!("observer {id} {what}: {command:?}"))),
            None => Ok(()),
        }
    }

    /// Processes every event due up to `until` (simulated milliseconds).
    pub(super) fn run_until(&mut self, until: u64) -> Result<(), Failure> {
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > until {
                break;
            }
            let ((time, _), event) = entry.remove_entry();
            self.now = time;
            if self.options.trace {
                eprintln!("{time:>6} {event:?}");
            }
            self.handle(event)?;
        }
        self.now = until;
        Ok(())
    }

    pub(super) fn committed(&self) -> usize {
        self.canonical.len()
    }
}

/// Three voters and two observers on a calm network, with a stream of client proposals:
/// the observers catch up; with both observers dead the voters still commit; with two of the
/// three voters dead nothing commits, observers or not; once the voters are back, writes
/// resume and the restarted observers catch up again.
pub fn observers_do_not_count(seed: u64) -> Result<(), Failure> {
    let mut sim = Simulation::new(Options::calm(seed, 3, 2));
    sim.start()?;
    sim.run_until(1_000)?;
    let observers = [3, 4];
    for &o in &observers {
        if sim.nodes[o].state.is_empty() || sim.committed() == 0 {
            return Err(sim.fail(format!(
                "observer {} applied nothing of {} committed entries",
                o + 1,
                sim.committed()
            )));
        }
    }
    for &o in &observers {
        sim.crash_and_tell(o)?;
    }
    let before = sim.committed();
    sim.run_until(2_000)?;
    if sim.committed() <= before {
        return Err(sim.fail("with every observer dead, the voters committed nothing"));
    }
    sim.crash_and_tell(0)?;
    sim.crash_and_tell(1)?;
    // Commits already on their way may still land on the surviving voter.
    sim.run_until(2_100)?;
    let stopped = sim.committed();
    sim.run_until(3_500)?;
    if sim.committed() != stopped {
        return Err(sim.fail(format!(
            "one voter of three (and no observer) committed {} entries",
            sim.committed() - stopped
        )));
    }
    for i in [0, 1, 3, 4] {
        sim.start_node(i)?;
    }
    sim.run_until(6_000)?;
    if sim.committed() <= stopped {
        return Err(sim.fail("writes did not resume once the voters were back"));
    }
    for &o in &observers {
        if sim.nodes[o].state.len() < stopped {
            return Err(sim.fail(format!("restarted observer {} did not catch up", o + 1)));
        }
    }
    Ok(())
}
