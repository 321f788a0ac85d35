//! Catching tree copies that diverge. A write is applied independently to the sequencer's
//! tree and to every shard's and the snapshotter's copy; each carries an order-independent
//! digest (`DataTree::digest`). The sequencer sends its digest after each transaction with
//! the commit, and every copy compares its own after applying it. A mismatch means a copy no
//! longer holds what the log says, so the server stops rather than serve it (as ClickHouse
//! Keeper's `assertDigest` does).

use std::fmt;

use ringkeeper_engine::tree::ApplyResult;
use ringkeeper_engine::txn::Txn;
use ringkeeper_engine::Zxid;
use tracing::error;

/// Which copy of the tree is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeCopy {
    Shard(usize),
    Snapshotter,
    /// The sequencer's committed tree.
    Sequencer,
    /// The leader's tree of everything proposed, which prep validates against.
    Proposals,
}

impl fmt::Display for TreeCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TreeCopy::Shard(id) => write!(f, "shard {id}"),
            TreeCopy::Snapshotter => write!(f, "the snapshotter"),
            TreeCopy::Sequencer => write!(f, "the sequencer"),
            TreeCopy::Proposals => write!(f, "the leader's proposals"),
        }
    }
}

/// The log line for a copy whose digest after `zxid` is not the sequencer's, if it is not.
pub fn mismatch(copy: TreeCopy, zxid: Zxid, ours: u64, sequencer: u64) -> Option<String> {
    (ours != sequencer).then(|| {
        format!(
            "tree copies diverged: after zxid 0x{zxid:x} {copy} has digest {ours:#018x}, the sequencer {sequencer:#018x}; stopping"
        )
    })
}

/// The log line for a copy on which a prepared transaction failed where the transaction
/// did not say it would (`ApplyResult::unexpected_error`), if it did.
pub fn failed_apply(copy: TreeCopy, txn: &Txn, result: &ApplyResult) -> Option<String> {
    result.unexpected_error(txn).map(|err| {
        format!(
            "tree copies diverged: zxid 0x{:x} failed with {err:?} on {copy}, which prep expected to apply cleanly; stopping",
            txn.zxid
        )
    })
}

/// Checks a copy after it applied `zxid`; on a mismatch logs it and stops the server.
/// Returns whether the copies agree.
pub fn check_or_stop(copy: TreeCopy, zxid: Zxid, ours: u64, sequencer: u64) -> bool {
    match mismatch(copy, zxid, ours, sequencer) {
        None => true,
        Some(line) => {
            error!("{line}");
            crate::shutdown::request();
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mismatch_names_the_copy_the_zxid_and_both_digests() {
        assert_eq!(mismatch(TreeCopy::Shard(2), 0x1_0000_0005, 7, 7), None);
        let line = mismatch(TreeCopy::Shard(2), 0x1_0000_0005, 0xab, 0xcd).unwrap();
        for part in [
            "shard 2",
            "0x100000005",
            "0x00000000000000ab",
            "0x00000000000000cd",
        ] {
            assert!(line.contains(part), "{line}");
        }
        assert!(mismatch(TreeCopy::Snapshotter, 1, 1, 2)
            .unwrap()
            .contains("the snapshotter"));
    }
}
