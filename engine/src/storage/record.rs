//! Log records: a fixed 32-byte header read and written through `zerocopy`, then the
//! encoded [`Txn`]. The layout is documented byte by byte in docs/storage-format.md.
//!
//! The header carries the zxid of the first record of the write batch the record was
//! written in. Recovery uses it to tell a torn last write (records of one unsynced batch
//! that reached the disk out of order) from damage to data that had been made durable.

use zerocopy::byteorder::little_endian::{I64, U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::jute::{Decode, Encode, Reader};
use crate::txn::Txn;
use crate::types::Zxid;

/// "RKL1" read as a little-endian u32: the first four bytes of every record. It is never
/// zero, so the zeros of a preallocated segment can never look like a header.
pub const RECORD_MAGIC: u32 = u32::from_le_bytes(*b"RKL1");
/// The record layout version this code writes and reads.
pub const RECORD_VERSION: u8 = 1;
/// The size of [`RecordHeader`] on disk.
pub const RECORD_HEADER_LEN: usize = 32;
/// The largest payload a record may carry. A txn holds at most one 1 MiB znode value (the
/// default jute.maxbuffer) plus paths and ACLs; anything far beyond that in a header is
/// damage, and refusing it keeps a bad length from making us allocate or skip gigabytes.
pub const RECORD_PAYLOAD_MAX_BYTES: u32 = 64 << 20;

/// The kinds of record. Only transactions exist today; the byte leaves room for others
/// (e.g. an epoch marker) without a version change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordType {
    Txn = 1,
}

/// The on-disk record header. Little-endian, no padding, no alignment requirement.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RecordHeader {
    /// [`RECORD_MAGIC`].
    pub magic: U32,
    /// [`RECORD_VERSION`].
    pub version: u8,
    /// A [`RecordType`] value.
    pub record_type: u8,
    /// Zero; reserved for flags.
    pub flags: U16,
    /// The number of payload bytes that follow the header.
    pub payload_len: U32,
    /// crc32c over the header with this field taken out (bytes 0..12 and 16..32), then
    /// the payload.
    pub crc: U32,
    /// The zxid of the txn in the payload (repeated so tools and scans need not decode).
    pub zxid: I64,
    /// The zxid of the first record of the write batch this record belongs to.
    pub batch_first_zxid: I64,
}

const _: () = assert!(std::mem::size_of::<RecordHeader>() == RECORD_HEADER_LEN);

impl RecordHeader {
    /// The checksum this header and `payload` should carry.
    pub fn compute_crc(&self, payload: &[u8]) -> u32 {
        let bytes = self.as_bytes();
        let crc = crc32c::crc32c(&bytes[..12]);
        let crc = crc32c::crc32c_append(crc, &bytes[16..]);
        crc32c::crc32c_append(crc, payload)
    }
}

/// Appends one record for `txn` to `out`, a batch buffer the server writes with one
/// write. `batch_first_zxid` is the zxid of the first txn of that batch.
pub fn encode_record(txn: &Txn, batch_first_zxid: Zxid, out: &mut Vec<u8>) {
    // The txn is encoded straight into the batch after room for its header, which is
    // filled in once the payload (and so its length and checksum) is known: one copy of
    // the payload, not two.
    let start = out.len();
    out.reserve(RECORD_HEADER_LEN + txn.size_hint());
    out.resize(start + RECORD_HEADER_LEN, 0);
    let mut w = crate::jute::Writer::appending_to(std::mem::take(out));
    txn.encode(&mut w);
    *out = w.into_inner();
    let payload = &out[start + RECORD_HEADER_LEN..];
    let payload_len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut header = RecordHeader {
        magic: RECORD_MAGIC.into(),
        version: RECORD_VERSION,
        record_type: RecordType::Txn as u8,
        flags: 0.into(),
        payload_len: payload_len.into(),
        crc: 0.into(),
        zxid: txn.zxid.into(),
        batch_first_zxid: batch_first_zxid.into(),
    };
    header.crc = header.compute_crc(payload).into();
    out[start..start + RECORD_HEADER_LEN].copy_from_slice(header.as_bytes());
    // The paired assertion: what we are about to hand to the disk reads back as the same
    // txn through the same checks the reader applies.
    debug_assert!(
        matches!(decode_record(&out[start..]), Ok((r, n)) if n == out.len() - start && &r.txn == txn),
        "record for zxid {:#x} does not read back",
        txn.zxid
    );
}

/// Appends records for a whole batch; the first txn's zxid is the batch's.
pub fn encode_batch(txns: &[Txn], out: &mut Vec<u8>) {
    if let Some(first) = txns.first() {
        for txn in txns {
            encode_record(txn, first.zxid, out);
        }
    }
}

/// One record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub txn: Txn,
    pub batch_first_zxid: Zxid,
}

/// Why the bytes at some offset are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// Every byte of the header is zero: the preallocated, never written part of a segment.
    Zero,
    /// Fewer bytes remain than the header or its payload needs.
    Short { needed: usize, left: usize },
    /// The header or the payload is wrong; the string says how.
    Bad(String),
    /// The checksum holds but the content is wrong: not a torn write, since the bytes are
    /// what some writer produced.
    Invalid(String),
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::Zero => write!(f, "zero header (end of written data)"),
            RecordError::Short { needed, left } => {
                write!(f, "record needs {needed} bytes but only {left} remain")
            }
            RecordError::Bad(why) | RecordError::Invalid(why) => f.write_str(why),
        }
    }
}

/// Reads the header at the start of `bytes` and checks everything that can be checked
/// without the payload.
pub fn read_header(bytes: &[u8]) -> Result<RecordHeader, RecordError> {
    let Some(head) = bytes.get(..RECORD_HEADER_LEN) else {
        if bytes.iter().all(|b| *b == 0) {
            return Err(RecordError::Zero);
        }
        return Err(RecordError::Short {
            needed: RECORD_HEADER_LEN,
            left: bytes.len(),
        });
    };
    if head.iter().all(|b| *b == 0) {
        return Err(RecordError::Zero);
    }
    let header = RecordHeader::read_from_bytes(head)
        .map_err(|_| RecordError::Bad("header does not fit".into()))?;
    if header.magic.get() != RECORD_MAGIC {
        return Err(RecordError::Bad(format!(
            "bad magic {:#010x}",
            header.magic.get()
        )));
    }
    if header.version != RECORD_VERSION {
        return Err(RecordError::Bad(format!(
            "unsupported record version {}",
            header.version
        )));
    }
    if header.payload_len.get() > RECORD_PAYLOAD_MAX_BYTES {
        return Err(RecordError::Bad(format!(
            "payload length {} exceeds the limit",
            header.payload_len.get()
        )));
    }
    Ok(header)
}

/// Decodes the record at the start of `bytes`, returning it and the bytes it spans.
/// Checks, in order: header, length, checksum, type, payload decoding, and that the
/// payload's zxid and the batch zxid agree with the header.
pub fn decode_record(bytes: &[u8]) -> Result<(Record, usize), RecordError> {
    let header = read_header(bytes)?;
    let payload_len = header.payload_len.get() as usize;
    let total = RECORD_HEADER_LEN + payload_len;
    let Some(payload) = bytes.get(RECORD_HEADER_LEN..total) else {
        return Err(RecordError::Short {
            needed: total,
            left: bytes.len(),
        });
    };
    let crc = header.compute_crc(payload);
    if crc != header.crc.get() {
        return Err(RecordError::Bad(format!(
            "checksum mismatch: stored {:#010x}, computed {crc:#010x}",
            header.crc.get()
        )));
    }
    // From here on the bytes are exactly what a writer produced, so a failure is a
    // format or software error rather than damage; it is reported the same way.
    if header.record_type != RecordType::Txn as u8 {
        return Err(RecordError::Invalid(format!(
            "unknown record type {}",
            header.record_type
        )));
    }
    let mut reader = Reader::new(payload);
    let txn = Txn::decode(&mut reader)
        .map_err(|e| RecordError::Invalid(format!("payload does not decode: {e}")))?;
    if !reader.is_empty() {
        return Err(RecordError::Invalid(format!(
            "{} bytes after the txn in the payload",
            reader.remaining()
        )));
    }
    if txn.zxid != header.zxid.get() {
        return Err(RecordError::Invalid(format!(
            "header zxid {:#x} differs from payload zxid {:#x}",
            header.zxid.get(),
            txn.zxid
        )));
    }
    let batch_first_zxid = header.batch_first_zxid.get();
    if batch_first_zxid > txn.zxid {
        return Err(RecordError::Invalid(format!(
            "batch zxid {batch_first_zxid:#x} is after the record's zxid {:#x}",
            txn.zxid
        )));
    }
    Ok((
        Record {
            txn,
            batch_first_zxid,
        },
        total,
    ))
}
