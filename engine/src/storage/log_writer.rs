//! The reference commit path over a [`StorageDir`]: append a batch with one write, make
//! it durable with one sync, and only then report it committed. The server does the same
//! steps with io_uring; the crash tests and tools use this one, so the protocol that the
//! recovery rules assume is written down in code once.

use super::dir::StorageDir;
use super::error::StorageError;
use super::record::encode_batch;
use super::recover::SegmentPosition;
use super::segment::{parse_segment_name, segment_name, SegmentPolicy};
use crate::txn::Txn;

/// A log appender. After any error it is poisoned: every later call fails, because after
/// a failed write or sync nothing is known about what reached the disk (the fsyncgate
/// lesson), and retrying could acknowledge data that is not there.
#[derive(Debug, Clone)]
pub struct SyncLog {
    policy: SegmentPolicy,
    /// The segment being appended to and the bytes of records in it.
    current: Option<SegmentPosition>,
    poisoned: bool,
    buf: Vec<u8>,
}

impl SyncLog {
    /// Continues after recovery: `position` is `Recovered::next_segment`.
    pub fn new(policy: SegmentPolicy, position: Option<SegmentPosition>) -> SyncLog {
        SyncLog {
            policy,
            current: position,
            poisoned: false,
            buf: Vec::new(),
        }
    }

    /// Where the next batch would go, if into an existing segment.
    pub fn position(&self) -> Option<&SegmentPosition> {
        self.current.as_ref()
    }

    /// Appends `txns` (consecutive zxids) as one batch and makes it durable. When this
    /// returns `Ok`, the batch may be acknowledged.
    pub fn append(&mut self, dir: &mut dyn StorageDir, txns: &[Txn]) -> Result<(), StorageError> {
        if self.poisoned {
            return Err(StorageError::io(
                "append to",
                "log",
                std::io::Error::other("log poisoned by an earlier I/O error"),
            ));
        }
        let Some(first) = txns.first() else {
            return Ok(());
        };
        self.buf.clear();
        encode_batch(txns, &mut self.buf);
        let result = self.write_batch(dir, first.zxid);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn write_batch(
        &mut self,
        dir: &mut dyn StorageDir,
        first_zxid: i64,
    ) -> Result<(), StorageError> {
        let batch_len = self.buf.len() as u64;
        // A segment's name promises its first zxid, so an empty one named for another
        // zxid (e.g. the first txn of a new epoch comes instead) is left for purge.
        let roll = match &self.current {
            None => true,
            Some(pos) if pos.offset == 0 => parse_segment_name(&pos.name) != Some(first_zxid),
            Some(pos) => self.policy.should_roll(pos.offset, batch_len),
        };
        if roll {
            // A new segment is preallocated and its name made durable before any record
            // in it can be acknowledged; its predecessor's last batch was already synced.
            let name = segment_name(first_zxid);
            dir.set_len(&name, self.policy.preallocation_for(batch_len))?;
            dir.sync(&name)?;
            dir.sync_dir()?;
            self.current = Some(SegmentPosition { name, offset: 0 });
        }
        let Some(pos) = self.current.as_mut() else {
            return Ok(());
        };
        dir.write_at(&pos.name, pos.offset, &self.buf)?;
        dir.sync(&pos.name)?;
        pos.offset += batch_len;
        Ok(())
    }
}
