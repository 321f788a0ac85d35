//! The jute binary encoding that ZooKeeper clients speak.
//!
//! Everything is big-endian. `int` is 4 bytes, `long` 8, `boolean` 1. A `buffer`, `ustring`
//! or `vector` is an `int` count followed by the items, where a count of -1 means null.
//! The codec never panics on input: every read checks the remaining length first and
//! every count is checked against the bytes that are actually left, so a hostile
//! length cannot make us allocate more memory than the frame itself holds.

pub mod records;
mod types_codec;

pub use types_codec::{decode_acl_list, encode_acl_list};

use thiserror::Error;

/// Why a frame could not be decoded. The connection that sent it is closed with this reason.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("frame truncated: needed {needed} more bytes at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    #[error("negative length {len} at offset {offset}")]
    NegativeLength { offset: usize, len: i32 },
    #[error("length {len} at offset {offset} exceeds the {left} bytes left in the frame")]
    LengthTooLarge {
        offset: usize,
        len: i32,
        left: usize,
    },
    #[error("string at offset {offset} is not valid UTF-8")]
    InvalidUtf8 { offset: usize },
    /// A null string (-1) where the reader was told to refuse one.
    #[error("null string at offset {offset}")]
    NullString { offset: usize },
    #[error("unknown opcode {0}")]
    UnknownOpCode(i32),
    #[error("{0}")]
    Invalid(&'static str),
}

/// Appends jute-encoded values to a byte vector.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Self { buf: Vec::new() }
    }

    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// Starts a length-prefixed frame: reserves 4 bytes that [`Writer::finish_frame`] fills in.
    pub fn framed() -> Self {
        let mut w = Self::with_capacity(64);
        w.buf.extend_from_slice(&[0; 4]);
        w
    }

    /// Writes the frame length (everything after the 4-byte prefix) into the prefix.
    pub fn finish_frame(mut self) -> Vec<u8> {
        let len = (self.buf.len() - 4) as i32;
        self.buf[..4].copy_from_slice(&len.to_be_bytes());
        self.buf
    }

    /// Appends to `buf`, which keeps what it holds.
    pub fn appending_to(buf: Vec<u8>) -> Self {
        Self { buf }
    }

    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn write_i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_bool(&mut self, v: bool) {
        self.buf.push(v as u8);
    }

    pub fn write_buffer(&mut self, v: &[u8]) {
        self.write_i32(v.len() as i32);
        self.buf.extend_from_slice(v);
    }

    pub fn write_opt_buffer(&mut self, v: Option<&[u8]>) {
        match v {
            Some(b) => self.write_buffer(b),
            None => self.write_i32(-1),
        }
    }

    pub fn write_str(&mut self, v: &str) {
        self.write_buffer(v.as_bytes());
    }

    pub fn write_opt_str(&mut self, v: Option<&str>) {
        self.write_opt_buffer(v.map(str::as_bytes));
    }

    pub fn write_vec<T>(&mut self, items: &[T], mut each: impl FnMut(&mut Self, &T)) {
        self.write_i32(items.len() as i32);
        for item in items {
            each(self, item);
        }
    }

    pub fn write_raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn put<T: Encode + ?Sized>(&mut self, v: &T) {
        v.encode(self);
    }
}

/// Reads jute-encoded values from a byte slice, tracking the offset for error messages.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Read as Java's `BinaryInputArchive` does: see [`Reader::like_java`].
    like_java: bool,
    /// Whether [`Reader::read_str`] refuses a null string instead of reading it as "".
    refuse_null_strings: bool,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            like_java: false,
            refuse_null_strings: false,
        }
    }

    /// Reads what a client sends the way Apache's `BinaryInputArchive` reads it, so that
    /// a client gets Apache's answer: bytes that are not UTF-8 become U+FFFD (Java's
    /// `new String(bytes, UTF_8)`) instead of failing, and a vector count below -1 reads as
    /// an empty vector (Java's `BinaryIndex.done()` is `count <= 0`). Disk and peer
    /// formats keep the strict reading, where such bytes mean corruption.
    pub fn like_java(mut self) -> Self {
        self.like_java = true;
        self
    }

    /// Makes [`Reader::read_str`] fail with [`DecodeError::NullString`] on a null string,
    /// for the requests whose Apache handler fails on a null field.
    pub fn set_refuse_null_strings(&mut self, refuse: bool) {
        self.refuse_null_strings = refuse;
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                offset: self.pos,
                needed: n - self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn read_i64(&mut self) -> Result<i64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        // Java's DataInput.readBoolean treats any non-zero byte as true; be as lenient.
        Ok(self.take(1)?[0] != 0)
    }

    /// Reads a count for a buffer, string or vector: `None` for -1 (null). `min_item_bytes`
    /// is the smallest encoding of one item, so a count can be checked against what is left.
    pub fn read_len(&mut self, min_item_bytes: usize) -> Result<Option<usize>, DecodeError> {
        let offset = self.pos;
        let len = self.read_i32()?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 {
            return Err(DecodeError::NegativeLength { offset, len });
        }
        let needed = (len as usize).saturating_mul(min_item_bytes.max(1));
        if min_item_bytes > 0 && needed > self.remaining() {
            return Err(DecodeError::LengthTooLarge {
                offset,
                len,
                left: self.remaining(),
            });
        }
        Ok(Some(len as usize))
    }

    pub fn read_opt_buffer(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.read_len(1)? {
            None => Ok(None),
            Some(n) => Ok(Some(self.take(n)?)),
        }
    }

    /// Reads a buffer, mapping null to empty (what Java's records hand the server anyway).
    pub fn read_buffer(&mut self) -> Result<Vec<u8>, DecodeError> {
        Ok(self
            .read_opt_buffer()?
            .map(<[u8]>::to_vec)
            .unwrap_or_default())
    }

    pub fn read_opt_str(&mut self) -> Result<Option<String>, DecodeError> {
        let offset = self.pos;
        match self.read_opt_buffer()? {
            None => Ok(None),
            Some(b) => match std::str::from_utf8(b) {
                Ok(s) => Ok(Some(s.to_owned())),
                Err(_) if self.like_java => Ok(Some(String::from_utf8_lossy(b).into_owned())),
                Err(_) => Err(DecodeError::InvalidUtf8 { offset }),
            },
        }
    }

    /// Reads a ustring, mapping null to the empty string (or refusing it, when told to).
    pub fn read_str(&mut self) -> Result<String, DecodeError> {
        let offset = self.pos;
        match self.read_opt_str()? {
            Some(s) => Ok(s),
            None if self.refuse_null_strings => Err(DecodeError::NullString { offset }),
            None => Ok(String::new()),
        }
    }

    /// Reads a vector whose items each take at least `min_item_bytes`; null reads as empty.
    pub fn read_vec<T>(
        &mut self,
        min_item_bytes: usize,
        mut each: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        if self.like_java {
            let mut peek = self.clone();
            if peek.read_i32().is_ok_and(|count| count < -1) {
                *self = peek;
                return Ok(Vec::new());
            }
        }
        match self.read_len(min_item_bytes)? {
            None => Ok(Vec::new()),
            Some(n) => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(each(self)?);
                }
                Ok(v)
            }
        }
    }

    pub fn get<T: Decode>(&mut self) -> Result<T, DecodeError> {
        T::decode(self)
    }

    /// The bytes not yet read.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }
}

/// A value with a jute encoding.
pub trait Encode {
    fn encode(&self, w: &mut Writer);

    /// About how many bytes [`Encode::encode`] writes, so that [`Encode::to_bytes`] can
    /// allocate once instead of growing its buffer by doubling. Only a hint: 0 is fine.
    fn size_hint(&self) -> usize {
        0
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(self.size_hint());
        self.encode(&mut w);
        w.into_inner()
    }
}

/// A value that can be read back from its jute encoding.
pub trait Decode: Sized {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes a whole buffer; trailing bytes are tolerated, as Java's deserializer does.
    fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        Self::decode(&mut Reader::new(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_round_trip() {
        let mut w = Writer::new();
        w.write_i32(-7);
        w.write_i64(1 << 40);
        w.write_bool(true);
        w.write_str("/a/b");
        w.write_opt_buffer(None);
        w.write_vec(&["x".to_string(), "yz".to_string()], |w, s| w.write_str(s));
        let bytes = w.into_inner();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.read_i32().unwrap(), -7);
        assert_eq!(r.read_i64().unwrap(), 1 << 40);
        assert!(r.read_bool().unwrap());
        assert_eq!(r.read_str().unwrap(), "/a/b");
        assert_eq!(r.read_opt_buffer().unwrap(), None);
        assert_eq!(r.read_vec(4, |r| r.read_str()).unwrap(), vec!["x", "yz"]);
        assert!(r.is_empty());
    }

    #[test]
    fn hostile_lengths_are_refused_without_allocating() {
        let mut w = Writer::new();
        w.write_i32(i32::MAX);
        let bytes = w.into_inner();
        assert!(matches!(
            Reader::new(&bytes).read_buffer(),
            Err(DecodeError::LengthTooLarge { .. })
        ));
        assert!(matches!(
            Reader::new(&bytes).read_vec(4, |r| r.read_i32()),
            Err(DecodeError::LengthTooLarge { .. })
        ));
        let mut w = Writer::new();
        w.write_i32(-5);
        let bytes = w.into_inner();
        assert!(matches!(
            Reader::new(&bytes).read_str(),
            Err(DecodeError::NegativeLength { .. })
        ));
        assert!(matches!(
            Reader::new(&[0, 0]).read_i32(),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn java_reading_replaces_bad_utf8_and_empties_negative_counts() {
        let mut w = Writer::new();
        w.write_buffer(b"/a\xff");
        w.write_i32(-7);
        w.write_i32(-1);
        let bytes = w.into_inner();
        let mut strict = Reader::new(&bytes);
        assert!(matches!(
            strict.read_str(),
            Err(DecodeError::InvalidUtf8 { .. })
        ));
        let mut java = Reader::new(&bytes).like_java();
        assert_eq!(java.read_str().unwrap(), "/a\u{fffd}");
        assert_eq!(
            java.read_vec(4, |r| r.read_i32()).unwrap(),
            Vec::<i32>::new()
        );
        java.set_refuse_null_strings(true);
        assert_eq!(java.read_str(), Err(DecodeError::NullString { offset: 11 }));
        assert!(matches!(
            Reader::new(&bytes[7..]).read_vec(4, |r| r.read_i32()),
            Err(DecodeError::NegativeLength { .. })
        ));
    }

    #[test]
    fn framed_writer_fills_in_length() {
        let mut w = Writer::framed();
        w.write_i32(1);
        w.write_i64(2);
        assert_eq!(&w.finish_frame()[..4], &12i32.to_be_bytes());
    }
}
