//! The faults, all drawn from the seed: crashes (power loss, torn or lost unsynced writes)
//! and restarts, partitions and heals, clock jumps; then the heal that ends them.

use super::{config, Ev, Failure, Phase, World, CALM_MS};

impl World {
    /// The setup is acknowledged: the history and the faults begin.
    pub(super) fn begin_faults(&mut self) {
        self.phase = Phase::Faults;
        let mut first = Vec::new();
        if self.o.crash_every_ms > 0 {
            first.push((self.o.crash_every_ms, Ev::Crash));
        }
        if self.o.partition_every_ms > 0 {
            first.push((self.o.partition_every_ms, Ev::Repartition));
        }
        if self.o.clock_jump_every_ms > 0 {
            first.push((self.o.clock_jump_every_ms, Ev::ClockJump));
        }
        if self.o.conn_break_every_ms > 0 {
            first.push((self.o.conn_break_every_ms, Ev::ConnBreak));
        }
        first.push((self.o.fault_ms, Ev::Heal));
        for c in 1..self.clients.len() {
            first.push((c as u64, Ev::ClientAct(c)));
        }
        for (mean, ev) in first {
            let at = if matches!(ev, Ev::Heal | Ev::ClientAct(_)) {
                mean
            } else {
                self.mean_delay(mean)
            };
            // The queue is nearly empty at this point; it cannot be full.
            let _ = self.schedule(at, ev);
        }
    }

    fn mean_delay(&mut self, mean: u64) -> u64 {
        self.between(mean / 2, mean + mean / 2).max(1)
    }

    fn faulty(&self) -> bool {
        self.phase == Phase::Faults
    }

    pub(super) fn crash(&mut self) -> Result<(), Failure> {
        if !self.faulty() {
            return Ok(());
        }
        let i = self.rng.below(self.nodes.len() as u64) as usize;
        if self.nodes[i].run.is_some() {
            self.crash_node(i)?;
            let down = self.between(20, 400);
            self.schedule(down, Ev::Restart(i))?;
        }
        let d = self.mean_delay(self.o.crash_every_ms);
        self.schedule(d, Ev::Crash)
    }

    /// Power fails on server `i`: half the time while a batch is being written (the
    /// writer gets a few calls in, then the disk tears what was not synced).
    fn crash_node(&mut self, i: usize) -> Result<(), Failure> {
        self.report.crashes += 1;
        self.count_protocol(i)?;
        let torn = self.rng.chance(2).then(|| self.rng.below(4));
        let writing = self.nodes[i]
            .run
            .as_ref()
            .is_some_and(|r| r.in_flight.is_some());
        if torn.is_some() && writing {
            self.report.torn_crashes += 1;
        }
        let old = self.nodes[i].incarnation;
        self.nodes[i].crash(torn, &mut self.rng);
        self.owners
            .retain(|(n, inc, _, _), _| !(*n == i && *inc == old));
        for c in 0..self.clients.len() {
            if self.clients[c].link.is_some_and(|l| l.node == i) {
                self.drop_link(c);
                let retry = self.between(1, 50);
                self.schedule(retry, Ev::ClientAct(c))?;
            }
        }
        for j in 0..self.nodes.len() {
            if j != i {
                self.break_link(i, j)?;
            }
        }
        Ok(())
    }

    /// Adds a server process's protocol counters to the run's, before it goes away; a
    /// protocol invariant violation fails the run.
    pub(super) fn count_protocol(&mut self, i: usize) -> Result<(), Failure> {
        let Some(run) = self.nodes[i].run.as_ref() else {
            return Ok(());
        };
        let stats = run.seq.replica().protocol_stats();
        self.report
            .protocol
            .add(&super::super::ProtocolCounters::of(&stats));
        if stats.violations > 0 {
            let what = stats.last_violation.unwrap_or("?");
            return Err(self.fail(format!("server {}: protocol violation: {what}", i + 1)));
        }
        Ok(())
    }

    pub(super) fn restart(&mut self, i: usize) -> Result<(), Failure> {
        if self.nodes[i].run.is_some() {
            return Ok(());
        }
        self.start_node(i)
    }

    pub(super) fn repartition(&mut self) -> Result<(), Failure> {
        if !self.faulty() {
            return Ok(());
        }
        let old = self.group.clone();
        if self.rng.chance(3) {
            self.group.iter_mut().for_each(|g| *g = 0);
        } else {
            for g in self.group.iter_mut() {
                *g = self.rng.below(2) as u8;
            }
        }
        self.break_cut_links(&old)?;
        let d = self.mean_delay(self.o.partition_every_ms);
        self.schedule(d, Ev::Repartition)
    }

    /// Links that a partition change cuts break.
    fn break_cut_links(&mut self, old: &[u8]) -> Result<(), Failure> {
        let n = self.nodes.len();
        for a in 0..n {
            for b in a + 1..n {
                let was = old[a] == old[b];
                let is = self.group[a] == self.group[b];
                if was && !is {
                    self.break_link(a, b)?;
                }
            }
        }
        Ok(())
    }

    /// One server's clock jumps forward: sessions there may expire.
    pub(super) fn clock_jump(&mut self) -> Result<(), Failure> {
        if !self.faulty() {
            return Ok(());
        }
        let i = self.rng.below(self.nodes.len() as u64) as usize;
        let jump = self.between(100, 3 * config::SESSION_TIMEOUT_MS as u64);
        self.nodes[i].skew_ms += jump as i64;
        let d = self.mean_delay(self.o.clock_jump_every_ms);
        self.schedule(d, Ev::ClockJump)
    }

    /// A client's connection breaks (the client hangs up): what it had in flight stays
    /// unanswered, and it resumes its session, perhaps on another member.
    pub(super) fn conn_break(&mut self) -> Result<(), Failure> {
        if !self.faulty() {
            return Ok(());
        }
        let c = self.rng.below(self.clients.len() as u64) as usize;
        self.hang_up(c)?;
        let d = self.mean_delay(self.o.conn_break_every_ms);
        self.schedule(d, Ev::ConnBreak)
    }

    /// The faults end: the network heals and every server is up.
    pub(super) fn heal(&mut self) -> Result<(), Failure> {
        self.phase = Phase::Calm;
        self.group.iter_mut().for_each(|g| *g = 0);
        for i in 0..self.nodes.len() {
            if self.nodes[i].run.is_none() {
                self.start_node(i)?;
            }
        }
        self.schedule(CALM_MS, Ev::StopClients)
    }
}
