//! The one commit path of the transaction log: append a batch with one write, make it
//! durable with one sync, and only then report it committed. Every decision lives here —
//! when to start a segment, what it is named, how much to preallocate, when to sync — and
//! every file operation goes through a [`LogDir`]: io_uring files in the server, a
//! [`super::SimDir`] in the power-loss tests, a [`super::FsDir`] in the tools.

use super::error::StorageError;
use super::log_dir::LogDir;
use super::record::{encode_batch, read_header};
use super::recover::SegmentPosition;
use super::replica;
use super::segment::{parse_segment_name, segment_name, SegmentPolicy};
use crate::txn::Txn;
use crate::types::Zxid;

/// Where a batch goes, as [`LogWriter`] decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Append to the open segment at this offset.
    Append { name: String, offset: u64 },
    /// Start segment `name`, preallocated to `preallocate_bytes`, and write at its start.
    Roll {
        name: String,
        preallocate_bytes: u64,
    },
}

/// A log appender. After any error it is poisoned: every later call fails, because after
/// a failed write or sync nothing is known about what reached the disk (the fsyncgate
/// lesson), and retrying could acknowledge data that is not there.
#[derive(Debug, Clone)]
pub struct LogWriter {
    policy: SegmentPolicy,
    /// Whether each batch is fdatasynced (zoo.cfg `forceSync`). Off, a power failure can
    /// lose acknowledged writes; segment creation is synced either way.
    force_sync: bool,
    /// The segment being appended to and the bytes of records in it.
    current: Option<SegmentPosition>,
    poisoned: bool,
}

impl LogWriter {
    /// Continues after recovery: `position` is `Recovered::next_segment`.
    pub fn new(
        policy: SegmentPolicy,
        force_sync: bool,
        position: Option<SegmentPosition>,
    ) -> LogWriter {
        LogWriter {
            policy,
            force_sync,
            current: position,
            poisoned: false,
        }
    }

    /// Where the next batch would go, if into an existing segment.
    pub fn position(&self) -> Option<&SegmentPosition> {
        self.current.as_ref()
    }

    /// Where a batch of `batch_bytes` whose first record is `first_zxid` goes. A segment's
    /// name promises its first zxid (recovery checks the first record against it), so an
    /// empty segment named for another zxid — e.g. the first txn of a new epoch comes
    /// instead — is not continued; recovery removes it at the next start.
    pub fn placement(&self, first_zxid: Zxid, batch_bytes: u64) -> Placement {
        let roll = match &self.current {
            None => true,
            Some(pos) if pos.offset == 0 => parse_segment_name(&pos.name) != Some(first_zxid),
            Some(pos) => self.policy.should_roll(pos.offset, batch_bytes),
        };
        match &self.current {
            Some(pos) if !roll => Placement::Append {
                name: pos.name.clone(),
                offset: pos.offset,
            },
            _ => Placement::Roll {
                name: segment_name(first_zxid),
                preallocate_bytes: self.policy.preallocation_for(batch_bytes),
            },
        }
    }

    /// Frames `txns` (consecutive zxids) as one batch and appends it durably.
    pub async fn append_txns(
        &mut self,
        dir: &mut impl LogDir,
        txns: &[Txn],
    ) -> Result<(), StorageError> {
        let Some(first) = txns.first() else {
            return Ok(());
        };
        let mut batch = Vec::new();
        encode_batch(txns, &mut batch);
        self.append(dir, batch, first.zxid).await
    }

    /// Appends one framed batch (see [`encode_batch`]) whose first record is `first_zxid`
    /// and, with `force_sync`, makes it durable. When this returns `Ok`, the batch may be
    /// acknowledged.
    pub async fn append(
        &mut self,
        dir: &mut impl LogDir,
        batch: Vec<u8>,
        first_zxid: Zxid,
    ) -> Result<(), StorageError> {
        self.check_usable()?;
        if batch.is_empty() {
            return Ok(());
        }
        // The segment name is derived from `first_zxid`; a batch that starts elsewhere
        // would make the name lie, and recovery would refuse the segment.
        let starts = read_header(&batch).map(|h| h.zxid.get());
        if starts.as_ref().ok() != Some(&first_zxid) {
            return Err(StorageError::BadBatch {
                why: format!("batch said to start at zxid {first_zxid:#x} starts with {starts:?}"),
            });
        }
        let result = self.write_batch(dir, batch, first_zxid).await;
        self.poison_on_error(result)
    }

    async fn write_batch(
        &mut self,
        dir: &mut impl LogDir,
        batch: Vec<u8>,
        first_zxid: Zxid,
    ) -> Result<(), StorageError> {
        let batch_bytes = batch.len() as u64;
        let (name, offset) = match self.placement(first_zxid, batch_bytes) {
            Placement::Append { name, offset } => (name, offset),
            Placement::Roll {
                name,
                preallocate_bytes,
            } => {
                // A new segment is preallocated and its name made durable before any
                // record in it can be acknowledged; its predecessor's last batch was
                // already synced.
                dir.create_segment(&name, preallocate_bytes).await?;
                dir.sync_names().await?;
                self.current = Some(SegmentPosition {
                    name: name.clone(),
                    offset: 0,
                });
                (name, 0)
            }
        };
        dir.write_segment(&name, offset, batch).await?;
        if self.force_sync {
            dir.sync_segment(&name).await?;
        }
        self.current = Some(SegmentPosition {
            name,
            offset: offset + batch_bytes,
        });
        Ok(())
    }

    /// Cuts every record after `after`, durably (replication: the leader's TRUNC).
    pub async fn truncate_after(
        &mut self,
        dir: &mut impl LogDir,
        after: Zxid,
    ) -> Result<(), StorageError> {
        self.check_usable()?;
        let result = async {
            dir.close().await?;
            replica::truncate_after(dir.blocking(), after)
        }
        .await;
        self.current = self.poison_on_error(result)?;
        Ok(())
    }

    /// Replaces the whole log with a leader's snapshot (replication: SNAP); the next
    /// append starts a new segment.
    pub async fn replace_with_snapshot(
        &mut self,
        dir: &mut impl LogDir,
        zxid: Zxid,
        bytes: &[u8],
    ) -> Result<(), StorageError> {
        self.check_usable()?;
        let result = async {
            dir.close().await?;
            replica::replace_with_snapshot(dir.blocking(), zxid, bytes)
        }
        .await;
        self.current = None;
        self.poison_on_error(result)
    }

    fn check_usable(&self) -> Result<(), StorageError> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        Ok(())
    }

    fn poison_on_error<T>(&mut self, result: Result<T, StorageError>) -> Result<T, StorageError> {
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }
}
