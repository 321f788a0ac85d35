//! The jute encodings of the shared types (`crate::types`): ids, ACL entries and lists, and
//! the Stat record. They live here, beside the codec, so that the types know nothing of the
//! wire and the codec's records can use the types: one direction, no circle.

use super::{Decode, DecodeError, Encode, Reader, Writer};
use crate::types::{Acl, Id, Stat};

impl Encode for Id {
    fn encode(&self, w: &mut Writer) {
        w.write_str(&self.scheme);
        w.write_str(&self.id);
    }
}

impl Decode for Id {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let scheme = r.read_str()?;
        // Apache ignores the id of an `auth` ACL entry, so a null one (kazoo writes its
        // `Id("auth", "")` as null) is accepted there; every other scheme dereferences the
        // id, and a null fails as the reader was told.
        let id = if scheme == "auth" {
            r.read_opt_str()?.unwrap_or_default()
        } else {
            r.read_str()?
        };
        Ok(Self { scheme, id })
    }
}

impl Encode for Acl {
    fn encode(&self, w: &mut Writer) {
        w.write_i32(self.perms);
        self.id.encode(w);
    }
}

impl Decode for Acl {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            perms: r.read_i32()?,
            id: Id::decode(r)?,
        })
    }
}

/// Encodes a list of ACL entries as a jute vector.
pub fn encode_acl_list(w: &mut Writer, acl: &[Acl]) {
    w.write_vec(acl, |w, a| a.encode(w));
}

/// Decodes a jute vector of ACL entries (the smallest entry is 12 bytes).
pub fn decode_acl_list(r: &mut Reader<'_>) -> Result<Vec<Acl>, DecodeError> {
    r.read_vec(12, Acl::decode)
}

impl Encode for Stat {
    fn encode(&self, w: &mut Writer) {
        w.write_i64(self.czxid);
        w.write_i64(self.mzxid);
        w.write_i64(self.ctime);
        w.write_i64(self.mtime);
        w.write_i32(self.version);
        w.write_i32(self.cversion);
        w.write_i32(self.aversion);
        w.write_i64(self.ephemeral_owner);
        w.write_i32(self.data_length);
        w.write_i32(self.num_children);
        w.write_i64(self.pzxid);
    }
}

impl Decode for Stat {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            czxid: r.read_i64()?,
            mzxid: r.read_i64()?,
            ctime: r.read_i64()?,
            mtime: r.read_i64()?,
            version: r.read_i32()?,
            cversion: r.read_i32()?,
            aversion: r.read_i32()?,
            ephemeral_owner: r.read_i64()?,
            data_length: r.read_i32()?,
            num_children: r.read_i32()?,
            pzxid: r.read_i64()?,
        })
    }
}
