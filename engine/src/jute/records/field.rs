//! One module per jute field kind, each with a `put` and a `get`, used by the `record!` macro.
//!
//! The module names are the jute type names where one exists (`int`, `long`, `boolean`,
//! `ustring`, `buffer`), so a record declaration reads like the `.jute` file it mirrors.

/// A 4-byte big-endian signed integer.
pub mod int {
    use crate::jute::{DecodeError, Reader, Writer};

    pub fn put(w: &mut Writer, v: &i32) {
        w.write_i32(*v);
    }

    pub fn get(r: &mut Reader<'_>) -> Result<i32, DecodeError> {
        r.read_i32()
    }
}

/// An 8-byte big-endian signed integer.
pub mod long {
    use crate::jute::{DecodeError, Reader, Writer};

    pub fn put(w: &mut Writer, v: &i64) {
        w.write_i64(*v);
    }

    pub fn get(r: &mut Reader<'_>) -> Result<i64, DecodeError> {
        r.read_i64()
    }
}

/// A single byte, non-zero meaning true.
pub mod boolean {
    use crate::jute::{DecodeError, Reader, Writer};

    pub fn put(w: &mut Writer, v: &bool) {
        w.write_bool(*v);
    }

    pub fn get(r: &mut Reader<'_>) -> Result<bool, DecodeError> {
        r.read_bool()
    }
}

/// A UTF-8 string; a null string (-1) reads as empty, because no client-visible record
/// gives null a meaning different from "" and the server validates paths afterwards anyway.
pub mod ustring {
    use crate::jute::{DecodeError, Reader, Writer};

    pub fn put(w: &mut Writer, v: &str) {
        w.write_str(v);
    }

    pub fn get(r: &mut Reader<'_>) -> Result<String, DecodeError> {
        r.read_str()
    }
}

/// A byte buffer that keeps null apart from empty. Node data needs this: a Java client that
/// creates a node with `null` data reads `null` back, and kazoo reads `None`, so the server
/// must be able to store and return a null buffer unchanged.
pub mod buffer {
    use crate::jute::{DecodeError, Reader, Writer};

    pub fn put(w: &mut Writer, v: &Option<Vec<u8>>) {
        w.write_opt_buffer(v.as_deref());
    }

    pub fn get(r: &mut Reader<'_>) -> Result<Option<Vec<u8>>, DecodeError> {
        Ok(r.read_opt_buffer()?.map(<[u8]>::to_vec))
    }
}

/// A byte buffer where null and empty mean the same (passwords, auth payloads).
pub mod bytes {
    use crate::jute::{DecodeError, Reader, Writer};

    pub fn put(w: &mut Writer, v: &[u8]) {
        w.write_buffer(v);
    }

    pub fn get(r: &mut Reader<'_>) -> Result<Vec<u8>, DecodeError> {
        r.read_buffer()
    }
}

/// `vector<ustring>`; null reads as empty. Each item takes at least its 4-byte length.
pub mod strings {
    use crate::jute::{DecodeError, Reader, Writer};

    pub fn put(w: &mut Writer, v: &[String]) {
        w.write_vec(v, |w, s| w.write_str(s));
    }

    pub fn get(r: &mut Reader<'_>) -> Result<Vec<String>, DecodeError> {
        r.read_vec(4, |r| r.read_str())
    }
}

/// `vector<org.apache.zookeeper.data.ACL>`; null reads as empty (both are InvalidACL later).
pub mod acls {
    use crate::jute::{decode_acl_list, encode_acl_list};
    use crate::jute::{DecodeError, Reader, Writer};
    use crate::types::Acl;

    pub fn put(w: &mut Writer, v: &[Acl]) {
        encode_acl_list(w, v);
    }

    pub fn get(r: &mut Reader<'_>) -> Result<Vec<Acl>, DecodeError> {
        decode_acl_list(r)
    }
}

/// The 68-byte `org.apache.zookeeper.data.Stat`.
pub mod stat {
    use crate::jute::{Decode, DecodeError, Encode, Reader, Writer};
    use crate::types::Stat;

    pub fn put(w: &mut Writer, v: &Stat) {
        v.encode(w);
    }

    pub fn get(r: &mut Reader<'_>) -> Result<Stat, DecodeError> {
        Stat::decode(r)
    }
}

/// `vector<org.apache.zookeeper.data.ClientInfo>`; each item is two strings, so at least 8 bytes.
pub mod client_infos {
    use crate::jute::records::ClientInfo;
    use crate::jute::{Decode, DecodeError, Encode, Reader, Writer};

    pub fn put(w: &mut Writer, v: &[ClientInfo]) {
        w.write_vec(v, |w, c| c.encode(w));
    }

    pub fn get(r: &mut Reader<'_>) -> Result<Vec<ClientInfo>, DecodeError> {
        r.read_vec(8, ClientInfo::decode)
    }
}
