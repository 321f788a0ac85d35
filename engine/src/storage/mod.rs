//! Durable storage, without the I/O: the log record and snapshot formats, the scan that
//! reads a log segment back and classifies how it ends, recovery, and the purge plan.
//!
//! File access goes through the small synchronous [`StorageDir`] trait, with a std::fs
//! implementation ([`FsDir`], for startup recovery and the tools) and an in-memory one
//! that models power loss ([`SimDir`], for crash tests). The log's commit path is one
//! [`LogWriter`] over the async [`LogDir`] seam: the server implements it with io_uring,
//! and every `StorageDir` implements it too, so the crash tests drive the shipping
//! writer. Formats and the crash analysis are in docs/storage-format.md.

mod dir;
mod error;
mod log_dir;
mod log_writer;
mod purge;
mod record;
mod recover;
mod replica;
mod segment;
mod sim;
mod snapshot;

#[cfg(test)]
mod tests;

pub use dir::{replace_file, FsDir, StorageDir, TEMP_SUFFIX};
pub use error::StorageError;
pub use log_dir::{block_on, LogDir};
pub use log_writer::{LogWriter, Placement};
pub use purge::purge_plan;
pub use record::{
    decode_record, encode_batch, encode_record, read_header, Record, RecordError, RecordHeader,
    RecordType, RECORD_HEADER_LEN, RECORD_MAGIC, RECORD_PAYLOAD_MAX_BYTES, RECORD_VERSION,
};
pub use recover::{inspect, recover, Recovered, SegmentPosition};
pub use replica::{load_for_replication, replace_with_snapshot, truncate_after, ReplicaStart};
pub use segment::{
    parse_segment_name, scan_segment, segment_name, zxid_follows, ScanOutcome, ScannedRecord,
    SegmentPolicy, SegmentTail, SEGMENT_PREFIX,
};
pub use sim::{CrashMode, SimDir, SimRng, INJECTED_FAILURE};
pub use snapshot::{
    decode_snapshot, encode_snapshot, parse_snapshot_name, read_snapshot_header, snapshot_name,
    snapshot_temp_name, write_snapshot, Snapshot, SnapshotHeader, SNAPSHOT_HEADER_LEN,
    SNAPSHOT_MAGIC, SNAPSHOT_PREFIX, SNAPSHOT_TEMP_SUFFIX, SNAPSHOT_VERSION,
};
