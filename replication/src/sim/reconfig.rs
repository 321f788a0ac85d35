//! Reconfiguration in the simulation. A reconfiguration is a payload the simulated state
//! machine understands (`cfg:<voters>|<observers>`, ids separated by commas), proposed at
//! random times to whichever server leads, changing the ensemble in every way Apache allows:
//! adding a joiner as voter or observer, removing a voter, an observer or the leader itself,
//! turning a voter into an observer or back, or replacing the whole membership. Spare servers
//! run from the start as joiners (members of no configuration) so that there is someone to
//! add.
//!
//! Checks beside the simulator's usual ones (no two servers applying different entries at
//! one position, i.e. no acknowledged write lost across a change; at most one leader per
//! epoch): every configuration a server activates is the one committed at its version, and a
//! server only ever leads while it is a voter of its active or pending configuration.

use super::Rng;
use super::{Failure, Options, Simulation};
use crate::command::Role;
use crate::config::Membership;
use crate::message::Payload;
use crate::peer::Event;
use crate::ServerId;

/// The payload that changes the membership to `m` (its version is the entry's zxid).
pub fn membership_payload(m: &Membership) -> Payload {
    let list = |ids: &[ServerId]| {
        ids.iter()
            .map(|id| id.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    format!("cfg:{}|{}", list(&m.voters), list(&m.observers))
        .into_bytes()
        .into()
}

/// The simulated state machine's [`crate::MembershipReader`]: `cfg:` payloads are
/// reconfigurations, anything else (including a malformed `cfg:`) is not.
pub fn read_membership(payload: &[u8]) -> Option<Membership> {
    let text = std::str::from_utf8(payload).ok()?.strip_prefix("cfg:")?;
    let (voters, observers) = text.split_once('|')?;
    let parse = |s: &str| -> Option<Vec<ServerId>> {
        if s.is_empty() {
            return Some(Vec::new());
        }
        s.split(',').map(|id| id.parse().ok()).collect()
    };
    Some(Membership {
        version: 0,
        voters: parse(voters)?,
        observers: parse(observers)?,
    })
}

impl Options {
    /// A third of the seeds reconfigure, some with spare joiners.
    pub(super) fn with_reconfig(mut self, rng: &mut Rng) -> Options {
        if rng.chance(333_333) {
            self.spares = rng.below(3) as usize;
            self.reconfig_every_ms = rng.between(100, 500);
        }
        self
    }
}

impl Simulation {
    /// Has the current leader (if any) propose a random change of its active configuration.
    pub(super) fn reconfigure(&mut self) -> Result<(), Failure> {
        let Some(i) = self.leader_node() else {
            return Ok(());
        };
        let Some(peer) = self.nodes[i].peer.as_ref() else {
            return Ok(());
        };
        let leader = peer.id();
        let mut m = peer.membership();
        let all: Vec<ServerId> = self.nodes.iter().map(|n| n.id).collect();
        let outside: Vec<ServerId> = all.iter().copied().filter(|id| !m.is_member(*id)).collect();
        let pick = |rng: &mut Rng, ids: &[ServerId]| ids[rng.below(ids.len() as u64) as usize];
        match self.rng.below(8) {
            0 if !outside.is_empty() && m.voters.len() < 7 => {
                m.voters.push(pick(&mut self.rng, &outside));
            }
            1 if !outside.is_empty() => m.observers.push(pick(&mut self.rng, &outside)),
            2 if m.voters.len() > 1 => {
                let gone = pick(&mut self.rng, &m.voters);
                m.voters.retain(|v| *v != gone);
            }
            3 if m.voters.len() > 1 => m.voters.retain(|v| *v != leader),
            4 if m.voters.len() > 1 => {
                let demoted = pick(&mut self.rng, &m.voters);
                m.voters.retain(|v| *v != demoted);
                m.observers.push(demoted);
            }
            5 if !m.observers.is_empty() => {
                let promoted = pick(&mut self.rng, &m.observers);
                m.observers.retain(|o| *o != promoted);
                m.voters.push(promoted);
            }
            6 if !m.observers.is_empty() => {
                let gone = pick(&mut self.rng, &m.observers);
                m.observers.retain(|o| *o != gone);
            }
            7 => {
                // Non-incremental: a new membership drawn from every server.
                let mut ids = all.clone();
                let mut voters = Vec::new();
                let want = self.rng.between(1, 5.min(ids.len() as u64)) as usize;
                while voters.len() < want {
                    let k = self.rng.below(ids.len() as u64) as usize;
                    voters.push(ids.remove(k));
                }
                let observers = ids
                    .into_iter()
                    .filter(|_| self.rng.chance(300_000))
                    .collect();
                m.voters = voters;
                m.observers = observers;
            }
            _ => return Ok(()),
        }
        let payloads = vec![membership_payload(&m)];
        // Refusals (a reconfiguration in progress, no synchronized quorum) are part of what
        // is tested.
        self.step(i, Event::Propose { payloads })
    }

    /// A configuration a server activates must be the one committed at its version.
    pub(super) fn check_activated(&mut self, i: usize, active: &Membership) -> Result<(), Failure> {
        let id = self.nodes[i].id;
        if active.version == 0 {
            let initial = Membership {
                version: 0,
                voters: (1..=self.options.servers as u64).collect(),
                observers: (self.options.servers as u64 + 1
                    ..=(self.options.servers + self.options.observers) as u64)
                    .collect(),
            };
            // Or the configuration its operator started it with (a joiner's lists itself).
            if *active != initial && *active != self.nodes[i].disk.membership {
                return Err(self.fail(format!(
                    "server {id} activated {active:?}, which is not the initial configuration"
                )));
            }
            return Ok(());
        }
        let committed = self
            .canonical
            .binary_search_by_key(&active.version, |e| e.zxid)
            .ok()
            .and_then(|k| read_membership(&self.canonical[k].payload));
        let matches =
            committed.is_some_and(|c| c.voters == active.voters && c.observers == active.observers);
        if !matches {
            return Err(self.fail(format!(
                "server {id} activated {active:?}, which is not a committed reconfiguration"
            )));
        }
        if let Some(previous) = self.activated.insert(active.version, active.clone()) {
            if previous != *active {
                return Err(self.fail(format!(
                    "two configurations with version {:#x}: {previous:?} and {active:?}",
                    active.version
                )));
            }
        }
        Ok(())
    }

    /// A server leads only while it votes in its own configurations.
    pub(super) fn check_leader_votes(&self, i: usize, role: Role) -> Result<(), Failure> {
        let Role::Leading { epoch } = role else {
            return Ok(());
        };
        let Some(peer) = self.nodes[i].peer.as_ref() else {
            return Ok(());
        };
        let id = peer.id();
        let votes = peer.membership().is_voter(id)
            || peer.pending_membership().is_some_and(|m| m.is_voter(id));
        if !votes {
            return Err(self.fail(format!(
                "server {id} leads epoch {epoch} without being a voter: {:?}",
                peer.membership()
            )));
        }
        Ok(())
    }
}

/// Issue 14's scenario on a calm network: three voters under a stream of writes; two joiners
/// are added as voters, then two voters are removed, the leader among them, and then the
/// leader that took over is crashed. Writes must go on after each step, and every write
/// committed before the last step must be on every remaining member.
pub fn grow_shrink_and_remove_the_leader(seed: u64) -> Result<(), Failure> {
    let mut options = Options::calm(seed, 3, 0);
    options.spares = 2;
    let mut sim = Simulation::new(options);
    sim.start()?;
    sim.run_until(800)?;
    let grown = Membership {
        version: 0,
        voters: vec![1, 2, 3, 4, 5],
        observers: vec![],
    };
    sim.reconfigure_to(&grown, 800, 2_500)?;
    let leader = sim
        .leader_id()
        .ok_or_else(|| sim.fail("no leader after growing"))?;
    let mut voters = grown.voters.clone();
    voters.retain(|v| *v != leader);
    let other = voters[sim.rng.below(voters.len() as u64) as usize];
    voters.retain(|v| *v != other);
    let shrunk = Membership {
        version: 0,
        voters: voters.clone(),
        observers: vec![],
    };
    sim.reconfigure_to(&shrunk, sim.now, sim.now + 2_500)?;
    let before = sim.committed();
    sim.run_until(sim.now + 800)?;
    if sim.committed() <= before {
        return Err(sim.fail("no writes after removing the leader"));
    }
    let new_leader = sim
        .leader_id()
        .ok_or_else(|| sim.fail("no leader after shrinking"))?;
    if !voters.contains(&new_leader) {
        return Err(sim.fail(format!("server {new_leader} leads but is no voter")));
    }
    let k = sim
        .nodes
        .iter()
        .position(|n| n.id == new_leader)
        .unwrap_or(0);
    sim.crash_and_tell(k)?;
    let acknowledged = sim.committed();
    sim.run_until(sim.now + 2_500)?;
    if sim.committed() <= acknowledged {
        return Err(sim.fail("no writes after the new leader died"));
    }
    for n in &sim.nodes {
        let remaining = voters.contains(&n.id) && n.id != new_leader;
        if remaining
            && (n.state.len() < acknowledged || n.state[..] != sim.canonical[..n.state.len()])
        {
            return Err(sim.fail(format!(
                "server {} has {} entries, {acknowledged} were committed before the leader died",
                n.id,
                n.state.len()
            )));
        }
    }
    Ok(())
}

/// A joiner started as Apache's operators start one: its configuration lists the current
/// members plus itself (here voters 1..5, at the members' version 0), and it starts once
/// the ensemble serves. Under a stream of writes server 4 is added, then server 5, then the
/// leader is crashed. Writes must go on after each step, every write committed before the
/// crash must be on every remaining member, and (the simulator's checks on every step) no
/// two servers lead one epoch.
pub fn join_listing_itself_then_kill_the_leader(seed: u64) -> Result<(), Failure> {
    let mut options = Options::calm(seed, 3, 0);
    options.spares = 2;
    let mut sim = Simulation::new(options);
    sim.start()?;
    // The joiners are not running yet: their processes start after the ensemble serves.
    for i in 3..5 {
        sim.crash_node(i);
    }
    sim.run_until(800)?;
    let all = Membership {
        version: 0,
        voters: vec![1, 2, 3, 4, 5],
        observers: vec![],
    };
    for i in 3..5 {
        sim.nodes[i].disk.membership = all.clone();
        sim.start_node(i)?;
    }
    let mut voters = vec![1, 2, 3];
    for joiner in [4, 5] {
        voters.push(joiner);
        let next = Membership {
            version: 0,
            voters: voters.clone(),
            observers: vec![],
        };
        let before = sim.committed();
        sim.reconfigure_to(&next, sim.now, sim.now + 2_500)?;
        sim.run_until(sim.now + 300)?;
        if sim.committed() <= before {
            return Err(sim.fail(format!("no writes after adding {joiner}")));
        }
    }
    let leader = sim
        .leader_id()
        .ok_or_else(|| sim.fail("no leader after growing"))?;
    let k = sim.nodes.iter().position(|n| n.id == leader).unwrap_or(0);
    sim.crash_and_tell(k)?;
    let acknowledged = sim.committed();
    sim.run_until(sim.now + 2_500)?;
    if sim.committed() <= acknowledged {
        return Err(sim.fail("no writes after the leader died"));
    }
    let new_leader = sim.leader_id();
    if new_leader.is_none_or(|l| l == leader || !voters.contains(&l)) {
        return Err(sim.fail(format!("{new_leader:?} leads after {leader} died")));
    }
    for n in sim.nodes.iter().filter(|n| n.id != leader) {
        if n.state.len() < acknowledged || n.state[..] != sim.canonical[..n.state.len()] {
            return Err(sim.fail(format!(
                "server {} has {} entries, {acknowledged} were committed before the leader died",
                n.id,
                n.state.len()
            )));
        }
    }
    Ok(())
}

impl Simulation {
    fn leader_id(&self) -> Option<ServerId> {
        self.leader_node().map(|i| self.nodes[i].id)
    }

    /// Proposes `m` at the leader (again, until one accepts it) and runs until every live
    /// server has it active, or fails at `deadline`.
    fn reconfigure_to(&mut self, m: &Membership, from: u64, deadline: u64) -> Result<(), Failure> {
        let mut at = from;
        loop {
            let done = self.nodes.iter().all(|n| {
                n.peer.as_ref().is_none_or(|p| {
                    let a = p.membership();
                    a.voters == m.voters && a.observers == m.observers
                })
            });
            if done {
                return Ok(());
            }
            if at >= deadline {
                return Err(self.fail(format!("{m:?} not active everywhere by {deadline} ms")));
            }
            let proposed = self.nodes.iter().any(|n| {
                n.peer
                    .as_ref()
                    .and_then(|p| p.pending_membership())
                    .is_some_and(|p| p.voters == m.voters && p.observers == m.observers)
            });
            if !proposed {
                if let Some(i) = self.leader_node() {
                    self.step(
                        i,
                        Event::Propose {
                            payloads: vec![membership_payload(m)],
                        },
                    )?;
                }
            }
            at += 50;
            self.run_until(at)?;
        }
    }
}
