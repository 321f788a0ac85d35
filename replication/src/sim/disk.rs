//! A simulated data directory: the epoch file and snapshots are written synchronously, the
//! log has a written image and a durable prefix, and a crash keeps only the durable prefix.
//! An fsync covers what was written when it started, as a real group commit does.

use crate::command::EpochState;
use crate::config::Membership;
use crate::message::Entry;
use crate::zxid::Zxid;

#[derive(Debug, Clone, Default)]
pub struct Disk {
    pub epochs: EpochState,
    /// The active configuration, saved synchronously (the server's dynamic config file).
    pub membership: Membership,
    pub snapshot: Vec<Entry>,
    pub snapshot_zxid: Zxid,
    pub written: Vec<Entry>,
    pub durable_len: usize,
    /// How many written entries the fsync in flight will make durable.
    pub fsync_covers: Option<usize>,
}

impl Disk {
    pub fn last_written(&self) -> Zxid {
        self.written.last().map_or(self.snapshot_zxid, |e| e.zxid)
    }

    pub fn last_durable(&self) -> Zxid {
        match self.durable_len {
            0 => self.snapshot_zxid,
            n => self.written[n - 1].zxid,
        }
    }

    pub fn truncate_after(&mut self, zxid: Zxid) {
        while self.written.last().is_some_and(|e| e.zxid > zxid) {
            self.written.pop();
        }
        let len = self.written.len();
        self.durable_len = self.durable_len.min(len);
        self.fsync_covers = self.fsync_covers.map(|c| c.min(len));
    }

    /// Power loss: whatever was not fsynced is gone.
    pub fn crash(&mut self) {
        self.written.truncate(self.durable_len);
        self.fsync_covers = None;
    }

    /// Saves `state` as the snapshot and drops the log entries it covers.
    pub fn take_snapshot(&mut self, state: &[Entry]) {
        let zxid = state.last().map_or(0, |e| e.zxid);
        if zxid <= self.snapshot_zxid {
            return;
        }
        let covered = self.written.iter().take_while(|e| e.zxid <= zxid).count();
        self.written.drain(..covered);
        self.durable_len = self.durable_len.saturating_sub(covered);
        self.fsync_covers = self.fsync_covers.map(|c| c.saturating_sub(covered));
        self.snapshot = state.to_vec();
        self.snapshot_zxid = zxid;
    }

    pub fn install_snapshot(&mut self, zxid: Zxid, state: Vec<Entry>) {
        self.snapshot = state;
        self.snapshot_zxid = zxid;
        self.written.clear();
        self.durable_len = 0;
        self.fsync_covers = self.fsync_covers.map(|_| 0);
    }
}
