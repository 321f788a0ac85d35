//! Transactions: the deterministic outcome of a write, decided once by request preparation
//! and then applied by every copy of the data tree.
//!
//! A txn records decisions, never inputs that need deciding again: the final sequential
//! name, the new version, the owner of an ephemeral node, the paths a closing session
//! loses. Applying one needs no clock, no randomness and no look at anything but the tree.
//!
//! The encoding is ringkeeper's own (log and replication), documented byte by byte in
//! docs/data-model.md. It starts with [`TXN_FORMAT_VERSION`] so that a later change of
//! layout can still read old logs.

use crate::jute::{decode_acl_list, encode_acl_list};
use crate::jute::{Decode, DecodeError, Encode, Reader, Writer};
use crate::types::{Acl, ErrorCode, SessionId, Zxid};

/// The first byte of every encoded txn.
pub const TXN_FORMAT_VERSION: u8 = 1;

/// The largest TTL a node may have (Apache's `EphemeralType.TTL.maxValue()`: 40 bits of
/// milliseconds, about 34 years).
pub const TTL_MAX_MS: i64 = 0x0000_00ff_ffff_ffff;

/// What kind of znode a create makes. Apache folds this into `ephemeralOwner` with magic
/// values; we keep it apart so that the owner clients see is simply 0 for the other kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    Persistent,
    /// Deleted when the owning session closes.
    Ephemeral(SessionId),
    /// Deleted by the reaper once empty after having had a child.
    Container,
    /// Deleted by the reaper once empty and unmodified for this many milliseconds.
    Ttl(i64),
}

impl NodeKind {
    /// The owner a Stat shows: the session for ephemeral nodes, 0 for every other kind.
    pub fn ephemeral_owner(self) -> SessionId {
        match self {
            NodeKind::Ephemeral(owner) => owner,
            _ => 0,
        }
    }
}

/// One transaction: who asked, when (leader time), at which zxid, and what changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub zxid: Zxid,
    pub time_ms: i64,
    pub session: SessionId,
    pub cxid: i32,
    pub body: TxnBody,
}

/// What a transaction does to the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnBody {
    /// A session was opened; the tree has nothing to do.
    CreateSession { timeout_ms: i32 },
    /// A session closed or expired: its ephemeral nodes, as prep saw them, are deleted (and
    /// any others the applying tree still holds for the session, as Apache does).
    CloseSession { ephemerals: Vec<String> },
    /// `parent_cversion` is the parent's creation count after this create (-1: "one more
    /// than now", which Apache's old txns use). `path` is final, suffix included. `data`
    /// is `None` when the client sent null, which Apache keeps apart from empty.
    Create {
        path: String,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        kind: NodeKind,
        parent_cversion: i32,
    },
    /// A delete or deleteContainer.
    Delete { path: String },
    /// `version` is the node's new data version; `data` is `None` for null, as in `Create`.
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    /// `version` is the node's new ACL version.
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    /// A check inside a multi; it changes nothing.
    Check { path: String, version: i32 },
    /// A multi: either every op succeeds or every op is `Error` (earlier ones `Ok`, the
    /// failing one its code, later ones `RuntimeInconsistency`). Never nested.
    Multi(Vec<TxnBody>),
    /// A write that failed in prep; it still takes a zxid, as in Apache.
    Error(ErrorCode),
    /// A reconfiguration: the whole new member list as Apache's dynamic config lines
    /// (`server.N=host:quorum:election:role;client`), without the version, which is the
    /// txn's own zxid. Applying it sets `/zookeeper/config` (see [`config_node_text`]);
    /// the replication protocol reads the same lines to change the ensemble. Never inside
    /// a multi.
    Reconfig { servers: Vec<String> },
}

/// `/zookeeper/config`'s data once the reconfiguration `servers` made at `zxid` applies:
/// the lines, one per line, then `version=<zxid in lower-case hex>` without a newline, as
/// Apache's `QuorumVerifier.toString` prints it.
pub fn config_node_text(servers: &[String], zxid: Zxid) -> String {
    let mut out = String::new();
    for line in servers {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&format!("version={zxid:x}"));
    out
}

/// Body tags on disk. They reuse Apache's opcodes where one fits so a hex dump reads
/// naturally; they are ringkeeper's own values nonetheless (see docs/data-model.md).
mod tag {
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const SET_DATA: i32 = 5;
    pub const SET_ACL: i32 = 7;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const RECONFIG: i32 = 16;
    pub const CREATE_SESSION: i32 = -10;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;
}

/// NodeKind tags on disk.
mod kind_tag {
    pub const PERSISTENT: u8 = 0;
    pub const EPHEMERAL: u8 = 1;
    pub const CONTAINER: u8 = 2;
    pub const TTL: u8 = 3;
}

/// Reads one byte through the jute reader (which has no byte accessor): peek, then step
/// over it with `read_bool`, which consumes exactly one byte.
fn read_u8(r: &mut Reader<'_>) -> Result<u8, DecodeError> {
    let b = r.rest().first().copied();
    r.read_bool()?;
    b.ok_or(DecodeError::Invalid("missing byte"))
}

/// Reads a node's data: a jute buffer whose length -1 stands for null. Older logs never
/// wrote -1 for data, so they read exactly as before.
fn read_data(r: &mut Reader<'_>) -> Result<Option<Vec<u8>>, DecodeError> {
    Ok(r.read_opt_buffer()?.map(<[u8]>::to_vec))
}

impl Encode for NodeKind {
    fn encode(&self, w: &mut Writer) {
        match *self {
            NodeKind::Persistent => w.write_raw(&[kind_tag::PERSISTENT]),
            NodeKind::Ephemeral(owner) => {
                w.write_raw(&[kind_tag::EPHEMERAL]);
                w.write_i64(owner);
            }
            NodeKind::Container => w.write_raw(&[kind_tag::CONTAINER]),
            NodeKind::Ttl(ms) => {
                w.write_raw(&[kind_tag::TTL]);
                w.write_i64(ms);
            }
        }
    }
}

impl Decode for NodeKind {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match read_u8(r)? {
            kind_tag::PERSISTENT => NodeKind::Persistent,
            kind_tag::EPHEMERAL => NodeKind::Ephemeral(r.read_i64()?),
            kind_tag::CONTAINER => NodeKind::Container,
            kind_tag::TTL => NodeKind::Ttl(r.read_i64()?),
            _ => return Err(DecodeError::Invalid("unknown node kind")),
        })
    }
}

impl TxnBody {
    fn encode_body(&self, w: &mut Writer) {
        match self {
            TxnBody::CreateSession { timeout_ms } => {
                w.write_i32(tag::CREATE_SESSION);
                w.write_i32(*timeout_ms);
            }
            TxnBody::CloseSession { ephemerals } => {
                w.write_i32(tag::CLOSE_SESSION);
                w.write_vec(ephemerals, |w, p| w.write_str(p));
            }
            TxnBody::Create {
                path,
                data,
                acl,
                kind,
                parent_cversion,
            } => {
                w.write_i32(tag::CREATE);
                w.write_str(path);
                w.write_opt_buffer(data.as_deref());
                encode_acl_list(w, acl);
                kind.encode(w);
                w.write_i32(*parent_cversion);
            }
            TxnBody::Delete { path } => {
                w.write_i32(tag::DELETE);
                w.write_str(path);
            }
            TxnBody::SetData {
                path,
                data,
                version,
            } => {
                w.write_i32(tag::SET_DATA);
                w.write_str(path);
                w.write_opt_buffer(data.as_deref());
                w.write_i32(*version);
            }
            TxnBody::SetAcl { path, acl, version } => {
                w.write_i32(tag::SET_ACL);
                w.write_str(path);
                encode_acl_list(w, acl);
                w.write_i32(*version);
            }
            TxnBody::Check { path, version } => {
                w.write_i32(tag::CHECK);
                w.write_str(path);
                w.write_i32(*version);
            }
            TxnBody::Multi(ops) => {
                w.write_i32(tag::MULTI);
                w.write_vec(ops, |w, op| op.encode_body(w));
            }
            TxnBody::Error(code) => {
                w.write_i32(tag::ERROR);
                w.write_i32(code.code());
            }
            TxnBody::Reconfig { servers } => {
                w.write_i32(tag::RECONFIG);
                w.write_vec(servers, |w, line| w.write_str(line));
            }
        }
    }

    /// Decodes a body; `nested` is true inside a multi, where another multi is refused so
    /// that hostile input cannot recurse.
    fn decode_body(r: &mut Reader<'_>, nested: bool) -> Result<Self, DecodeError> {
        let t = r.read_i32()?;
        Ok(match t {
            tag::CREATE_SESSION => TxnBody::CreateSession {
                timeout_ms: r.read_i32()?,
            },
            tag::CLOSE_SESSION => TxnBody::CloseSession {
                ephemerals: r.read_vec(4, |r| r.read_str())?,
            },
            tag::CREATE => TxnBody::Create {
                path: r.read_str()?,
                data: read_data(r)?,
                acl: decode_acl_list(r)?,
                kind: NodeKind::decode(r)?,
                parent_cversion: r.read_i32()?,
            },
            tag::DELETE => TxnBody::Delete {
                path: r.read_str()?,
            },
            tag::SET_DATA => TxnBody::SetData {
                path: r.read_str()?,
                data: read_data(r)?,
                version: r.read_i32()?,
            },
            tag::SET_ACL => TxnBody::SetAcl {
                path: r.read_str()?,
                acl: decode_acl_list(r)?,
                version: r.read_i32()?,
            },
            tag::CHECK => TxnBody::Check {
                path: r.read_str()?,
                version: r.read_i32()?,
            },
            tag::MULTI if !nested => TxnBody::Multi(r.read_vec(4, |r| Self::decode_body(r, true))?),
            tag::MULTI => return Err(DecodeError::Invalid("nested multi txn")),
            tag::ERROR => {
                let code = r.read_i32()?;
                TxnBody::Error(
                    ErrorCode::from_code(code).ok_or(DecodeError::Invalid("unknown error code"))?,
                )
            }
            tag::RECONFIG if !nested => TxnBody::Reconfig {
                servers: r.read_vec(4, |r| r.read_str())?,
            },
            tag::RECONFIG => return Err(DecodeError::Invalid("reconfig txn inside a multi")),
            _ => return Err(DecodeError::Invalid("unknown txn type")),
        })
    }
}

/// Bytes a string or buffer takes in jute: its length, then its bytes.
fn jute_len(bytes: usize) -> usize {
    4 + bytes
}

impl TxnBody {
    /// About how many bytes [`TxnBody::encode_body`] writes (see [`Encode::size_hint`]).
    fn size_hint(&self) -> usize {
        /// A tag, versions, flags and other small fields.
        const FIXED: usize = 16;
        /// An ACL entry: perms and two short strings.
        const ACL: usize = 32;
        let data = |d: &Option<Vec<u8>>| jute_len(d.as_ref().map_or(0, Vec::len));
        FIXED
            + match self {
                TxnBody::CreateSession { .. } | TxnBody::Error(_) => 0,
                TxnBody::CloseSession { ephemerals } => {
                    ephemerals.iter().map(|p| jute_len(p.len())).sum()
                }
                TxnBody::Create {
                    path, data: d, acl, ..
                } => jute_len(path.len()) + data(d) + 4 + acl.len() * ACL,
                TxnBody::Delete { path } | TxnBody::Check { path, .. } => jute_len(path.len()),
                TxnBody::SetData { path, data: d, .. } => jute_len(path.len()) + data(d),
                TxnBody::SetAcl { path, acl, .. } => jute_len(path.len()) + 4 + acl.len() * ACL,
                TxnBody::Multi(ops) => ops.iter().map(TxnBody::size_hint).sum(),
                TxnBody::Reconfig { servers } => {
                    4 + servers.iter().map(|l| jute_len(l.len())).sum::<usize>()
                }
            }
    }
}

impl Encode for Txn {
    /// The version byte and the fixed fields, then the body.
    fn size_hint(&self) -> usize {
        1 + 8 + 8 + 8 + 4 + self.body.size_hint()
    }

    fn encode(&self, w: &mut Writer) {
        w.write_raw(&[TXN_FORMAT_VERSION]);
        w.write_i64(self.zxid);
        w.write_i64(self.time_ms);
        w.write_i64(self.session);
        w.write_i32(self.cxid);
        self.body.encode_body(w);
    }
}

impl Decode for Txn {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if read_u8(r)? != TXN_FORMAT_VERSION {
            return Err(DecodeError::Invalid("unsupported txn format version"));
        }
        Ok(Txn {
            zxid: r.read_i64()?,
            time_ms: r.read_i64()?,
            session: r.read_i64()?,
            cxid: r.read_i32()?,
            body: TxnBody::decode_body(r, false)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{perms, Id};

    fn samples() -> Vec<Txn> {
        let acl = vec![
            Acl::new(perms::ALL, Id::anyone()),
            Acl::new(perms::READ, Id::new("ip", "10.0.0.0/8")),
        ];
        let bodies = vec![
            TxnBody::CreateSession { timeout_ms: 30_000 },
            TxnBody::CloseSession {
                ephemerals: vec!["/a".into(), "/b/c".into()],
            },
            TxnBody::Create {
                path: "/n0000000001".into(),
                data: Some(b"hello".to_vec()),
                acl: acl.clone(),
                kind: NodeKind::Ephemeral(0x1234_5678_9abc),
                parent_cversion: 2,
            },
            TxnBody::Create {
                path: "/c".into(),
                data: Some(vec![]),
                acl: acl.clone(),
                kind: NodeKind::Container,
                parent_cversion: -1,
            },
            TxnBody::Create {
                path: "/t".into(),
                data: Some(vec![0; 3]),
                acl: acl.clone(),
                kind: NodeKind::Ttl(TTL_MAX_MS),
                parent_cversion: 7,
            },
            TxnBody::Create {
                path: "/null".into(),
                data: None,
                acl: acl.clone(),
                kind: NodeKind::Persistent,
                parent_cversion: 3,
            },
            TxnBody::Delete { path: "/x".into() },
            TxnBody::SetData {
                path: "/x".into(),
                data: Some(vec![1, 2]),
                version: 4,
            },
            TxnBody::SetData {
                path: "/x".into(),
                data: None,
                version: 5,
            },
            TxnBody::SetData {
                path: "/x".into(),
                data: Some(vec![]),
                version: 6,
            },
            TxnBody::SetAcl {
                path: "/x".into(),
                acl,
                version: 1,
            },
            TxnBody::Check {
                path: "/x".into(),
                version: 9,
            },
            TxnBody::Multi(vec![
                TxnBody::Create {
                    path: "/m".into(),
                    data: Some(vec![]),
                    acl: Acl::open_unsafe(),
                    kind: NodeKind::Persistent,
                    parent_cversion: 1,
                },
                TxnBody::Delete { path: "/m".into() },
            ]),
            TxnBody::Multi(vec![
                TxnBody::Error(ErrorCode::Ok),
                TxnBody::Error(ErrorCode::NodeExists),
                TxnBody::Error(ErrorCode::RuntimeInconsistency),
            ]),
            TxnBody::Error(ErrorCode::NoNode),
            TxnBody::Reconfig {
                servers: vec![
                    "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181".into(),
                    "server.3=127.0.0.3:2888:3888:observer;2181".into(),
                ],
            },
        ];
        bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| Txn {
                zxid: (1 << 32) + i as i64,
                time_ms: 1_700_000_000_000,
                session: 42,
                cxid: i as i32,
                body,
            })
            .collect()
    }

    #[test]
    fn every_body_round_trips() {
        for txn in samples() {
            let bytes = txn.to_bytes();
            assert_eq!(bytes[0], TXN_FORMAT_VERSION);
            assert_eq!(Txn::from_bytes(&bytes).unwrap(), txn);
        }
    }

    /// The hint lets `to_bytes` and the log's record encoder allocate once: it covers every
    /// sample's encoding without asking for far more than it needs.
    #[test]
    fn the_size_hint_covers_the_encoding() {
        for txn in samples() {
            let len = txn.to_bytes().len();
            let hint = txn.size_hint();
            assert!(hint >= len, "{:?}: hint {hint} < {len}", txn.body);
            assert!(
                hint <= 2 * len + 64,
                "{:?}: hint {hint} for {len}",
                txn.body
            );
        }
    }

    #[test]
    fn header_layout_is_as_documented() {
        let txn = Txn {
            zxid: 0x0102,
            time_ms: 3,
            session: 4,
            cxid: 5,
            body: TxnBody::Delete { path: "/a".into() },
        };
        let b = txn.to_bytes();
        let mut expected = vec![1u8];
        expected.extend_from_slice(&0x0102i64.to_be_bytes());
        expected.extend_from_slice(&3i64.to_be_bytes());
        expected.extend_from_slice(&4i64.to_be_bytes());
        expected.extend_from_slice(&5i32.to_be_bytes());
        expected.extend_from_slice(&2i32.to_be_bytes());
        expected.extend_from_slice(&2i32.to_be_bytes());
        expected.extend_from_slice(b"/a");
        assert_eq!(b, expected);
    }

    /// The body bytes of a txn, after the fixed 29-byte header.
    fn body_bytes(body: TxnBody) -> Vec<u8> {
        let txn = Txn {
            zxid: 1,
            time_ms: 0,
            session: 0,
            cxid: 0,
            body,
        };
        txn.to_bytes()[29..].to_vec()
    }

    #[test]
    fn data_is_a_buffer_with_minus_one_for_null() {
        let set = |data| TxnBody::SetData {
            path: "/a".into(),
            data,
            version: 3,
        };
        let expected = |len: i32, bytes: &[u8]| {
            let mut e = Vec::new();
            e.extend_from_slice(&5i32.to_be_bytes());
            e.extend_from_slice(&2i32.to_be_bytes());
            e.extend_from_slice(b"/a");
            e.extend_from_slice(&len.to_be_bytes());
            e.extend_from_slice(bytes);
            e.extend_from_slice(&3i32.to_be_bytes());
            e
        };
        // Non-null data keeps the layout older logs have; null is the jute null buffer.
        assert_eq!(body_bytes(set(Some(vec![1, 2]))), expected(2, &[1, 2]));
        assert_eq!(body_bytes(set(Some(vec![]))), expected(0, &[]));
        assert_eq!(body_bytes(set(None)), expected(-1, &[]));
        let create = TxnBody::Create {
            path: "/a".into(),
            data: None,
            acl: vec![],
            kind: NodeKind::Persistent,
            parent_cversion: 1,
        };
        let b = body_bytes(create);
        assert_eq!(&b[10..14], &(-1i32).to_be_bytes());
        // Null and empty stay apart through a round trip.
        for data in [None, Some(vec![])] {
            let txn = Txn {
                zxid: 9,
                time_ms: 0,
                session: 0,
                cxid: 0,
                body: set(data.clone()),
            };
            let back = Txn::from_bytes(&txn.to_bytes()).unwrap();
            assert!(matches!(back.body, TxnBody::SetData { data: d, .. } if d == data));
        }
        // Any other negative length is corrupt, not null.
        let mut bad = Txn {
            zxid: 9,
            time_ms: 0,
            session: 0,
            cxid: 0,
            body: set(None),
        }
        .to_bytes();
        bad[29 + 10..29 + 14].copy_from_slice(&(-2i32).to_be_bytes());
        assert!(Txn::from_bytes(&bad).is_err());
    }

    #[test]
    fn reconfig_layout_is_as_documented() {
        let b = body_bytes(TxnBody::Reconfig {
            servers: vec!["server.1=a".into(), "server.2=b".into()],
        });
        let mut e = Vec::new();
        e.extend_from_slice(&16i32.to_be_bytes());
        e.extend_from_slice(&2i32.to_be_bytes());
        for line in [&b"server.1=a"[..], b"server.2=b"] {
            e.extend_from_slice(&(line.len() as i32).to_be_bytes());
            e.extend_from_slice(line);
        }
        assert_eq!(b, e);
    }

    #[test]
    fn config_node_text_is_apaches() {
        let servers = vec![
            "server.1=a:1:2:participant;3".to_owned(),
            "server.2=b".into(),
        ];
        assert_eq!(
            config_node_text(&servers, 0x1_0000_002a),
            "server.1=a:1:2:participant;3\nserver.2=b\nversion=10000002a"
        );
        assert_eq!(config_node_text(&[], 0), "version=0");
    }

    #[test]
    fn refuses_a_reconfig_inside_a_multi() {
        let multi = Txn {
            zxid: 1,
            time_ms: 0,
            session: 0,
            cxid: 0,
            body: TxnBody::Multi(vec![TxnBody::Reconfig { servers: vec![] }]),
        };
        assert_eq!(
            Txn::from_bytes(&multi.to_bytes()),
            Err(DecodeError::Invalid("reconfig txn inside a multi"))
        );
    }

    #[test]
    fn refuses_other_versions_unknown_tags_and_nested_multis() {
        let mut b = samples()[0].to_bytes();
        b[0] = 2;
        assert!(Txn::from_bytes(&b).is_err());
        let nested = Txn {
            zxid: 1,
            time_ms: 0,
            session: 0,
            cxid: 0,
            body: TxnBody::Multi(vec![TxnBody::Multi(vec![])]),
        };
        assert_eq!(
            Txn::from_bytes(&nested.to_bytes()),
            Err(DecodeError::Invalid("nested multi txn"))
        );
        let mut w = Writer::new();
        w.write_raw(&[TXN_FORMAT_VERSION]);
        w.write_raw(&[0; 28]);
        w.write_i32(99);
        assert!(Txn::from_bytes(w.as_slice()).is_err());
    }

    /// A seeded xorshift64 so that every run, and every failure, is reproducible.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let valid: Vec<Vec<u8>> = samples().iter().map(Encode::to_bytes).collect();
        for round in 0..20_000 {
            let mut bytes = if round % 2 == 0 {
                let len = (rng.next() % 96) as usize;
                let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                if let Some(first) = b.first_mut() {
                    *first = TXN_FORMAT_VERSION;
                }
                b
            } else {
                valid[(rng.next() % valid.len() as u64) as usize].clone()
            };
            // Flip a few bytes and sometimes truncate, so decoding goes deep before failing.
            for _ in 0..(rng.next() % 4) {
                if !bytes.is_empty() {
                    let i = (rng.next() % bytes.len() as u64) as usize;
                    bytes[i] = rng.next() as u8;
                }
            }
            if rng.next().is_multiple_of(3) && !bytes.is_empty() {
                let cut = (rng.next() % bytes.len() as u64) as usize;
                bytes.truncate(cut);
            }
            if let Ok(txn) = Txn::from_bytes(&bytes) {
                // Whatever decodes must survive its own round trip (null strings read as
                // empty ones, so the bytes themselves may differ).
                assert_eq!(Txn::from_bytes(&txn.to_bytes()).as_ref(), Ok(&txn));
            }
        }
    }
}
