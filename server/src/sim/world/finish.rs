//! The end of a run: clients stop, a final reader reads every key linearizably and lists
//! the sequential parent (so that a lost acknowledged write or create shows in the
//! history), then every copy of the tree on every member must agree.

use std::collections::BTreeMap;

use ringkeeper_engine::history::{Action, CreateOutcome, WriteOutcome};

use super::super::client::{self, Client};
use super::{as_history, check_history, Ev, Failure, Phase, World};

/// How long the servers have, after the clients stop, to answer the final reader and
/// agree on one tree.
const SETTLE_MS_MAX: u64 = 15_000;
/// How often agreement is checked.
const CONVERGE_EVERY_MS: u64 = 50;

impl World {
    pub(super) fn stop_clients(&mut self) -> Result<(), Failure> {
        self.phase = Phase::Final;
        self.settle_deadline = self.now + SETTLE_MS_MAX;
        let mut reader = Client::new(self.next_history_id);
        self.next_history_id += 1;
        reader.script = Some(client::final_script());
        self.clients.push(reader);
        let c = self.clients.len() - 1;
        self.schedule(1, Ev::ClientAct(c))?;
        self.schedule(CONVERGE_EVERY_MS, Ev::Converge)
    }

    /// Whether the final reader has read everything.
    fn final_reads_done(&self) -> bool {
        self.clients
            .last()
            .and_then(|c| c.script.as_ref())
            .is_some_and(|s| s.is_empty())
    }

    pub(super) fn converge(&mut self) -> Result<(), Failure> {
        if self.final_reads_done() {
            if let Ok(()) = self.agreement() {
                return self.finish();
            }
        }
        if self.now >= self.settle_deadline {
            let why = match self.agreement() {
                Err(e) => e,
                Ok(()) => "the final reads were not answered".to_owned(),
            };
            return Err(self.fail(format!("no agreement after the heal: {why}")));
        }
        self.schedule(CONVERGE_EVERY_MS, Ev::Converge)
    }

    /// Every member up, idle, at the same zxid, and every copy of its tree (the
    /// sequencer's and each shard's) with the same digest.
    fn agreement(&self) -> Result<(), String> {
        let mut seen: Option<(i64, u64)> = None;
        for node in &self.nodes {
            let Some(run) = node.run.as_ref() else {
                return Err(format!("server {} is down", node.id));
            };
            let idle = run.seq_inbox.is_empty()
                && run.in_flight.is_none()
                && run.shard_inbox.iter().all(|q| q.is_empty());
            if !idle {
                return Err(format!("server {} is still busy", node.id));
            }
            let mut copies = vec![(run.seq.last_zxid(), run.seq.tree_digest())];
            for s in &run.shards {
                copies.push((s.last_zxid(), s.tree_digest()));
            }
            for copy in copies {
                match seen {
                    None => seen = Some(copy),
                    Some(first) if first == copy => {}
                    Some(first) => {
                        return Err(format!(
                            "server {}: a copy at zxid 0x{:x} with digest {:x}, another at 0x{:x} with {:x}",
                            node.id, copy.0, copy.1, first.0, first.1
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// The final reader saw, on every key, at least the highest version ever acknowledged,
    /// and every acknowledged sequential create is in the final listing. (The history check
    /// finds these too; this says it plainly.)
    fn nothing_acknowledged_lost(&self, listing: Option<&[i64]>) -> Result<(), String> {
        let reader = self.clients.last().map(|c| c.history_id);
        let mut acked: BTreeMap<&str, i32> = BTreeMap::new();
        let mut seen: BTreeMap<&str, i32> = BTreeMap::new();
        let mut created = Vec::new();
        for op in &self.history {
            match &op.action {
                Action::Write {
                    key,
                    outcome: WriteOutcome::Applied { version },
                    ..
                } => {
                    let v = acked.entry(key).or_insert(*version);
                    *v = (*v).max(*version);
                }
                Action::Read {
                    key,
                    observed: Some(o),
                    ..
                } if Some(op.client) == reader => {
                    seen.insert(key, o.version);
                }
                Action::Create {
                    outcome: CreateOutcome::Created { sequence },
                    ..
                } => created.push(*sequence),
                _ => {}
            }
        }
        for (key, version) in acked {
            let last = seen.get(key).copied().unwrap_or(-1);
            if last < version {
                return Err(format!(
                    "acknowledged write lost: {key} was acknowledged at version {version}, the final read sees {last}"
                ));
            }
        }
        let listing = listing.unwrap_or_default();
        if let Some(lost) = created.iter().find(|s| !listing.contains(s)) {
            return Err(format!(
                "acknowledged create lost: sequence {lost} is not listed"
            ));
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Failure> {
        let sequences = self.final_children.as_ref().map(|names| {
            names
                .iter()
                .filter_map(|n| client::sequence_of(n))
                .collect::<Vec<i64>>()
        });
        self.nothing_acknowledged_lost(sequences.as_deref())
            .map_err(|e| self.fail(e))?;
        let h = as_history(&self.history, sequences);
        check_history(&h).map_err(|e| self.fail(e))?;
        for i in 0..self.nodes.len() {
            self.count_protocol(i)?;
        }
        self.phase = Phase::Done;
        Ok(())
    }
}
