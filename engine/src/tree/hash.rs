//! The tree digest: an order-independent 64-bit hash of every node, kept up to date on each
//! change so replicas can compare their trees after any zxid (as Apache's `DigestCalculator`
//! and `NodeHashMap` do). We use our own fixed hash rather than `std`'s, whose output may
//! change between Rust releases: digests may be compared across binaries.

use crate::txn::NodeKind;
use crate::types::Acl;

/// FNV-1a over the fields, finished with the SplitMix64 mixer so that summing many node
/// hashes does not cancel structure out.
pub(crate) struct Hasher(u64);

impl Hasher {
    pub(crate) fn new() -> Self {
        Hasher(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        // The length first, so that ("ab", "c") and ("a", "bc") differ.
        self.raw(&(b.len() as u64).to_be_bytes());
        self.raw(b)
    }

    pub(crate) fn i64(&mut self, v: i64) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }

    fn raw(&mut self, b: &[u8]) -> &mut Self {
        for &x in b {
            self.0 ^= u64::from(x);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }

    pub(crate) fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The hash of a node's path and data, cached per node so that a change to its stat alone
/// (a child added, say) does not rehash the data.
///
/// Null data hashes an all-ones length where a buffer's length would go: no real buffer
/// has that length, so null and empty differ, while non-null data hashes exactly as it
/// did before null was kept apart (digests stay comparable with older binaries).
pub(crate) fn path_data_hash(path: &str, data: Option<&[u8]>) -> u64 {
    let mut h = Hasher::new();
    h.bytes(path.as_bytes());
    match data {
        Some(d) => h.bytes(d),
        None => h.raw(&u64::MAX.to_be_bytes()),
    };
    h.finish()
}

pub(crate) fn kind_parts(kind: NodeKind) -> (i64, i64) {
    match kind {
        NodeKind::Persistent => (0, 0),
        NodeKind::Ephemeral(owner) => (1, owner),
        NodeKind::Container => (2, 0),
        NodeKind::Ttl(ms) => (3, ms),
    }
}

pub(crate) fn acl_into(h: &mut Hasher, acl: &[Acl]) {
    h.i64(acl.len() as i64);
    for a in acl {
        h.i64(i64::from(a.perms))
            .bytes(a.id.scheme.as_bytes())
            .bytes(a.id.id.as_bytes());
    }
}
