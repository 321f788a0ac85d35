//! Log segments: naming, the roll policy, and the scan that reads a segment back and
//! classifies how its written data ends.
//!
//! # How a segment's data may end
//!
//! The writer appends whole batches (one write, then one fdatasync, then the next batch),
//! into a preallocated file whose unwritten part is zeros. So after a crash the only
//! write that may be incomplete is the last batch, whose records were never acknowledged.
//! The scan reads records until the first one that does not check out, then looks at
//! everything after it:
//!
//! - nothing but zeros after a zero header: a clean end ([`SegmentTail::Clean`]);
//! - no valid record after it (garbage, a partial record, zeros): a torn tail
//!   ([`SegmentTail::Torn`]), which recovery truncates;
//! - valid records after it that all belong to the same batch as the first missing zxid
//!   (their `batch_first_zxid` is at or before it): the disk persisted the sectors of the
//!   last, unsynced write out of order. Still a torn tail: none of it was acknowledged;
//! - any valid record of a later batch after it, a zxid that does not follow the one
//!   before, or a record whose checksum holds but whose content is wrong: corruption
//!   ([`SegmentTail::Corrupt`]). Data that had been made durable is damaged and recovery
//!   refuses to start rather than lose it silently.

use crate::txn::Txn;
use crate::types::Zxid;

use super::record::{decode_record, RecordError, RECORD_HEADER_LEN, RECORD_MAGIC};

/// Segment files are `log.` followed by the first zxid they hold as 16 lowercase hex
/// digits, so that names sort as zxids do.
pub const SEGMENT_PREFIX: &str = "log.";

/// The file name of a segment whose first record has `first_zxid`.
pub fn segment_name(first_zxid: Zxid) -> String {
    format!("{SEGMENT_PREFIX}{:016x}", first_zxid as u64)
}

/// The first zxid of a segment, if `name` is a segment name.
pub fn parse_segment_name(name: &str) -> Option<Zxid> {
    parse_hex_suffix(name, SEGMENT_PREFIX)
}

/// Parses `<prefix><16 lowercase hex digits>` exactly.
pub(crate) fn parse_hex_suffix(name: &str, prefix: &str) -> Option<Zxid> {
    let hex = name.strip_prefix(prefix)?;
    let lower_hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
    if hex.len() != 16 || !hex.chars().all(lower_hex) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(|z| z as Zxid)
}

/// Whether `next` may directly follow `prev` in the log: the next counter in the same
/// epoch, or the first txn (counter 0 or 1) of a later epoch. `prev == 0` stands for an
/// empty history, which the first txn of any epoch may follow.
pub fn zxid_follows(prev: Zxid, next: Zxid) -> bool {
    let epoch = |z: Zxid| (z as u64) >> 32;
    let counter = |z: Zxid| (z as u64) & 0xffff_ffff;
    next == prev.wrapping_add(1) || (epoch(next) > epoch(prev) && counter(next) <= 1)
}

/// When to start a new segment. The unit is last, as everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentPolicy {
    /// A segment is closed once the next batch would take it past this size. A single
    /// batch larger than this still goes into one (fresh) segment.
    pub segment_bytes_max: u64,
    /// How much a new segment is preallocated (filled with zeros or fallocated), so that
    /// appends do not change the file size and fdatasync need not write metadata.
    pub preallocate_bytes: u64,
}

impl Default for SegmentPolicy {
    /// 64 MiB, as Apache's `zookeeper.preAllocSize`.
    fn default() -> Self {
        SegmentPolicy {
            segment_bytes_max: 64 << 20,
            preallocate_bytes: 64 << 20,
        }
    }
}

impl SegmentPolicy {
    /// Whether a batch of `batch_bytes` must go into a new segment rather than the current
    /// one, which holds `segment_len` bytes of records.
    pub fn should_roll(&self, segment_len: u64, batch_bytes: u64) -> bool {
        segment_len > 0 && segment_len.saturating_add(batch_bytes) > self.segment_bytes_max
    }

    /// How many bytes to preallocate for a segment that will start with `batch_bytes`.
    pub fn preallocation_for(&self, batch_bytes: u64) -> u64 {
        self.preallocate_bytes.max(batch_bytes)
    }
}

/// One valid record found by a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedRecord {
    /// Where the record's header starts in the segment.
    pub offset: u64,
    /// Header plus payload bytes.
    pub len: u64,
    pub batch_first_zxid: Zxid,
    pub txn: Txn,
}

/// How a segment's written data ends. See the module documentation for the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentTail {
    Clean,
    /// The last write is incomplete from `offset` on; truncating there loses nothing that
    /// was acknowledged.
    Torn {
        offset: u64,
        why: String,
    },
    /// Durable data is damaged at `offset`.
    Corrupt {
        offset: u64,
        why: String,
    },
}

/// What [`scan_segment`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOutcome {
    /// The valid records before the first bad one, in order.
    pub records: Vec<ScannedRecord>,
    /// The bytes those records span: where the next write goes.
    pub valid_len: u64,
    pub tail: SegmentTail,
}

impl ScanOutcome {
    /// The zxid of the last valid record.
    pub fn last_zxid(&self) -> Option<Zxid> {
        self.records.last().map(|r| r.txn.zxid)
    }
}

/// Reads a whole segment. `first_zxid` is the zxid its name promises for the first
/// record (`None` when unknown, e.g. a file given to a tool under another name; a torn
/// first batch is then reported as corruption, since nothing says where it began).
/// Never panics, whatever the bytes.
pub fn scan_segment(bytes: &[u8], first_zxid: Option<Zxid>) -> ScanOutcome {
    let mut records: Vec<ScannedRecord> = Vec::new();
    let mut offset = 0usize;
    let corrupt = |records, offset: usize, why: String| ScanOutcome {
        records,
        valid_len: offset as u64,
        tail: SegmentTail::Corrupt {
            offset: offset as u64,
            why,
        },
    };
    loop {
        if offset >= bytes.len() {
            return ScanOutcome {
                records,
                valid_len: offset as u64,
                tail: SegmentTail::Clean,
            };
        }
        let err = match decode_record(&bytes[offset..]) {
            Ok((record, len)) => {
                let zxid = record.txn.zxid;
                let in_order = match (records.last(), first_zxid) {
                    (Some(prev), _) => zxid_follows(prev.txn.zxid, zxid),
                    (None, Some(first)) => zxid == first,
                    (None, None) => true,
                };
                if !in_order {
                    let expected = match records.last() {
                        Some(prev) => format!("one following {:#x}", prev.txn.zxid),
                        None => format!("{:#x} as the segment name says", first_zxid.unwrap_or(0)),
                    };
                    return corrupt(
                        records,
                        offset,
                        format!("zxid {zxid:#x} where {expected} was expected"),
                    );
                }
                records.push(ScannedRecord {
                    offset: offset as u64,
                    len: len as u64,
                    batch_first_zxid: record.batch_first_zxid,
                    txn: record.txn,
                });
                offset += len;
                continue;
            }
            Err(err) => err,
        };
        return classify_end(bytes, offset, err, records, first_zxid);
    }
}

/// Decides whether the data ending at `offset` (where `err` stopped the scan) ends
/// cleanly, with a torn last write, or in corruption.
fn classify_end(
    bytes: &[u8],
    offset: usize,
    err: RecordError,
    records: Vec<ScannedRecord>,
    first_zxid: Option<Zxid>,
) -> ScanOutcome {
    if let RecordError::Invalid(why) = &err {
        let why = format!("checksummed record does not check out: {why}");
        return ScanOutcome {
            records,
            valid_len: offset as u64,
            tail: SegmentTail::Corrupt {
                offset: offset as u64,
                why,
            },
        };
    }
    let rest = &bytes[offset..];
    if matches!(err, RecordError::Zero) && rest.iter().all(|b| *b == 0) {
        return ScanOutcome {
            records,
            valid_len: offset as u64,
            tail: SegmentTail::Clean,
        };
    }
    // A record of the torn batch must have been in the batch that held the first missing
    // zxid: its batch began at or before that zxid.
    let prev = records.last().map(|r| r.txn.zxid);
    let in_torn_batch = |batch_first: Zxid, zxid: Zxid| match prev {
        Some(p) => (batch_first <= p.wrapping_add(1) || zxid_follows(p, batch_first)) && zxid > p,
        None => first_zxid.is_some_and(|f| batch_first <= f && zxid >= f),
    };
    let magic = RECORD_MAGIC.to_le_bytes();
    let mut at = offset + 1;
    let mut torn_records = 0usize;
    while at + RECORD_HEADER_LEN <= bytes.len() {
        let Some(found) = bytes[at..].windows(4).position(|w| w == magic) else {
            break;
        };
        at += found;
        match decode_record(&bytes[at..]) {
            Ok((record, len)) => {
                if !in_torn_batch(record.batch_first_zxid, record.txn.zxid) {
                    return ScanOutcome {
                        valid_len: offset as u64,
                        tail: SegmentTail::Corrupt {
                            offset: offset as u64,
                            why: format!(
                                "{err}, yet a valid record of a later batch (zxid {:#x}, batch {:#x}) follows at offset {at}",
                                record.txn.zxid, record.batch_first_zxid
                            ),
                        },
                        records,
                    };
                }
                torn_records += 1;
                at += len;
            }
            Err(_) => at += 1,
        }
    }
    let why = if torn_records > 0 {
        format!("{err}; {torn_records} records of the same unsynced batch follow out of order")
    } else {
        err.to_string()
    };
    ScanOutcome {
        records,
        valid_len: offset as u64,
        tail: SegmentTail::Torn {
            offset: offset as u64,
            why,
        },
    }
}
