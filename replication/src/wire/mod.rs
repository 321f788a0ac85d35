//! The peer wire format: how [`Message`]s, the connection's `Hello` and the server's opaque
//! `App` messages travel between ensemble members. Byte-by-byte description, schema and limits:
//! `docs/peer-protocol.md`; schema of record: `replication/schema/peer.fbs`.
//!
//! ```text
//! offset  size  field
//! 0       4     N, u32 big-endian: the bytes that follow (so the frame is N + 4 bytes)
//! 4       4     crc32c (Castagnoli) of bytes 8 .. 4 + N, u32 big-endian
//! 8       N-4   flatbuffers buffer, file identifier "RKP1", root table Frame { body: Body }
//! ```
//!
//! Like the rest of the crate this module does no I/O: the server's transport feeds bytes
//! into a [`FrameDecoder`] and writes what [`Encoder`] produces. Reading is layered so that
//! nothing untrusted is interpreted before it is checked: the length against
//! `frame_bytes_max` as soon as 4 bytes are in (a huge length is refused before anything is
//! buffered), then the crc over the whole buffer, then the flatbuffers verifier (bounds,
//! alignment, depth, table count and apparent size limits), then the union kind and enum
//! values. Only then is a [`FrameView`] handed out.
//!
//! Copies, honestly: a [`FrameView`] reads every field in place from the receive buffer,
//! including entry payloads and chunk data. Turning it into a [`Message`]
//! ([`FrameView::to_message`]) copies each entry payload once, into the `Arc<[u8]>` that
//! [`crate::Payload`] is; a reassembled snapshot is copied once, chunk by chunk, into its final
//! `Arc<[u8]>`. Encoding copies each payload once into the flatbuffers builder and the finished
//! buffer once into the output (flatbuffers builds back to front, so the frame header cannot be
//! written in place ahead of it).

pub mod fb;
#[cfg(test)]
mod schema_check;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use flatbuffers::{FlatBufferBuilder, VerifierOptions, WIPOffset};
use thiserror::Error;

use crate::message::{Entry, Message, SyncConfig, SyncMode, Vote, VoterState};
use crate::zxid::Zxid;
use crate::ServerId;

/// The version a `Hello` carries; a receiver closes a connection that speaks another one.
pub const PROTOCOL_VERSION: u32 = 1;
/// The length and crc words ahead of the flatbuffers buffer.
pub const FRAME_HEADER_BYTES: usize = 8;
/// The flatbuffers file identifier (bytes 4..8 of the buffer, 12..16 of the frame).
pub const FILE_IDENTIFIER: &str = "RKP1";
/// Default size of the data in one `SnapshotChunk` frame.
pub const SNAPSHOT_CHUNK_BYTES_DEFAULT: usize = 1 << 20;
/// The largest frame [`encode`] and [`decode_frame`] accept when no smaller limit is given.
/// The format's own ceiling is lower than u32::MAX because flatbuffers offsets are 32-bit.
pub const FRAME_BYTES_LIMIT: usize = 1 << 30;
/// The smallest N (crc, root offset, identifier); anything shorter is not a frame.
const FRAME_LEN_MIN: usize = 4 + 8;
/// Nesting of a well-formed frame: Frame, body table, Entry table. One level of slack.
const VERIFY_DEPTH_MAX: usize = 4;

/// Why bytes are not a frame. Every one of them closes the connection they came from.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    #[error("frame of {len} bytes is over the limit of {max}")]
    FrameTooLong { len: usize, max: usize },
    #[error("frame length field {len} is below the minimum of {FRAME_LEN_MIN}")]
    FrameTooShort { len: usize },
    #[error("truncated frame: {have} of {need} bytes")]
    Truncated { have: usize, need: usize },
    #[error("{extra} bytes follow the frame")]
    TrailingBytes { extra: usize },
    #[error("crc32c mismatch: the frame says {expected:#010x}, its bytes give {actual:#010x}")]
    Checksum { expected: u32, actual: u32 },
    #[error("not a ringkeeper peer frame (file identifier {found:?})")]
    BadIdentifier { found: [u8; 4] },
    #[error("flatbuffers verifier: {0}")]
    Verify(#[from] flatbuffers::InvalidFlatbuffer),
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("field {field} has the invalid value {value}")]
    InvalidField { field: &'static str, value: u64 },
}

/// The first frame on every connection: who dials, and where it listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub server_id: ServerId,
    pub protocol_version: u32,
    /// The dialler's quorum and election addresses (host:port, several with multiAddress),
    /// so that a server that does not know it (a joiner) can dial it back. Both empty when
    /// the Hello does not say (an older server, or a malformed field).
    pub quorum: Vec<String>,
    pub election: Vec<String>,
}

/// The most addresses a Hello names per port (multiAddress lists are short).
pub const HELLO_ADDRESSES_MAX: usize = 8;

impl Hello {
    /// A Hello that names no addresses.
    pub fn new(server_id: ServerId, protocol_version: u32) -> Hello {
        Hello {
            server_id,
            protocol_version,
            quorum: Vec::new(),
            election: Vec::new(),
        }
    }

    /// The `addresses` field's bytes: `<quorum>|<election>`, each list joined by commas;
    /// `None` unless both lists are non-empty.
    fn addresses_text(&self) -> Option<String> {
        if self.quorum.is_empty() || self.election.is_empty() {
            return None;
        }
        Some(format!(
            "{}|{}",
            self.quorum.join(","),
            self.election.join(",")
        ))
    }

    /// Reads the `addresses` field; anything malformed (not UTF-8, no `|`, an empty or
    /// over-long list, an address with a separator or blank) reads as no addresses.
    fn parse_addresses(bytes: &[u8]) -> (Vec<String>, Vec<String>) {
        let parsed = (|| {
            let text = std::str::from_utf8(bytes).ok()?;
            let (q, e) = text.split_once('|')?;
            let list = |s: &str| -> Option<Vec<String>> {
                let v: Vec<String> = s.split(',').map(str::to_owned).collect();
                let ok = v.len() <= HELLO_ADDRESSES_MAX
                    && v.iter().all(|a| {
                        !a.is_empty() && !a.contains(|c: char| c == '|' || c.is_whitespace())
                    });
                ok.then_some(v)
            };
            Some((list(q)?, list(e)?))
        })();
        parsed.unwrap_or_default()
    }
}

/// A frame to encode.
#[derive(Debug, Clone, Copy)]
pub enum OutFrame<'a> {
    Hello(&'a Hello),
    /// Any protocol message; a `Message::SnapshotChunk` is a `SnapshotChunk` frame.
    Message(&'a Message),
    App(&'a [u8]),
}

/// A decoded frame, owning its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InFrame {
    Hello(Hello),
    Message(Message),
    App(Vec<u8>),
}

/// The frame kinds: the discriminants of `union Body` in the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameKind {
    Hello = fb::body::HELLO,
    Vote = fb::body::VOTE,
    FollowerInfo = fb::body::FOLLOWER_INFO,
    NewEpoch = fb::body::NEW_EPOCH,
    AckEpoch = fb::body::ACK_EPOCH,
    SnapshotChunk = fb::body::SNAPSHOT_CHUNK,
    Sync = fb::body::SYNC,
    UpToDate = fb::body::UP_TO_DATE,
    Proposal = fb::body::PROPOSAL,
    Ack = fb::body::ACK,
    Commit = fb::body::COMMIT,
    Ping = fb::body::PING,
    Resync = fb::body::RESYNC,
    App = fb::body::APP,
    SnapshotAck = fb::body::SNAPSHOT_ACK,
}

/// A verified frame, read in place from the buffer it was decoded from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FrameView<'a> {
    Hello(fb::Hello<'a>),
    Vote(fb::Vote<'a>),
    FollowerInfo(fb::FollowerInfo<'a>),
    NewEpoch(fb::NewEpoch<'a>),
    AckEpoch(fb::AckEpoch<'a>),
    SnapshotChunk(fb::SnapshotChunk<'a>),
    Sync(fb::Sync<'a>),
    UpToDate(fb::UpToDate<'a>),
    Proposal(fb::Proposal<'a>),
    Ack(fb::Ack<'a>),
    Commit(fb::Commit<'a>),
    Ping(fb::Ping<'a>),
    Resync(fb::Resync<'a>),
    App(fb::App<'a>),
    SnapshotAck(fb::SnapshotAck<'a>),
}

/// The entries of a `Sync` or `Proposal`, in place.
#[derive(Debug, Clone, Copy)]
pub struct EntriesView<'a>(Option<fb::EntryVector<'a>>);

impl<'a> EntriesView<'a> {
    pub fn len(&self) -> usize {
        self.0.map_or(0, |v| v.len())
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `(zxid, payload)` pairs; the payload borrows the receive buffer.
    pub fn iter(&self) -> impl Iterator<Item = (Zxid, &'a [u8])> + 'a {
        self.0
            .into_iter()
            .flat_map(|v| v.iter())
            .map(|e| (e.zxid(), e.payload()))
    }
    /// Copies each payload once into its `Arc<[u8]>`.
    pub fn to_entries(&self) -> Vec<Entry> {
        self.iter()
            .map(|(zxid, payload)| Entry {
                zxid,
                payload: Arc::from(payload),
            })
            .collect()
    }
}

fn voter_state_to_u8(s: VoterState) -> u8 {
    match s {
        VoterState::Looking => 0,
        VoterState::Following => 1,
        VoterState::Leading => 2,
        VoterState::Observing => 3,
    }
}

fn voter_state_from_u8(v: u8) -> Option<VoterState> {
    match v {
        0 => Some(VoterState::Looking),
        1 => Some(VoterState::Following),
        2 => Some(VoterState::Leading),
        3 => Some(VoterState::Observing),
        _ => None,
    }
}

fn sync_mode_to_u8(m: SyncMode) -> u8 {
    match m {
        SyncMode::Diff => 0,
        SyncMode::Trunc => 1,
        SyncMode::Snap => 2,
    }
}

fn sync_mode_from_u8(v: u8) -> Option<SyncMode> {
    match v {
        0 => Some(SyncMode::Diff),
        1 => Some(SyncMode::Trunc),
        2 => Some(SyncMode::Snap),
        _ => None,
    }
}

impl<'a> FrameView<'a> {
    pub fn kind(&self) -> FrameKind {
        match self {
            FrameView::Hello(_) => FrameKind::Hello,
            FrameView::Vote(_) => FrameKind::Vote,
            FrameView::FollowerInfo(_) => FrameKind::FollowerInfo,
            FrameView::NewEpoch(_) => FrameKind::NewEpoch,
            FrameView::AckEpoch(_) => FrameKind::AckEpoch,
            FrameView::SnapshotChunk(_) => FrameKind::SnapshotChunk,
            FrameView::Sync(_) => FrameKind::Sync,
            FrameView::UpToDate(_) => FrameKind::UpToDate,
            FrameView::Proposal(_) => FrameKind::Proposal,
            FrameView::Ack(_) => FrameKind::Ack,
            FrameView::Commit(_) => FrameKind::Commit,
            FrameView::Ping(_) => FrameKind::Ping,
            FrameView::Resync(_) => FrameKind::Resync,
            FrameView::App(_) => FrameKind::App,
            FrameView::SnapshotAck(_) => FrameKind::SnapshotAck,
        }
    }

    pub fn hello(&self) -> Option<Hello> {
        match self {
            FrameView::Hello(h) => {
                let (quorum, election) = Hello::parse_addresses(h.addresses());
                Some(Hello {
                    server_id: h.server_id(),
                    protocol_version: h.protocol_version(),
                    quorum,
                    election,
                })
            }
            _ => None,
        }
    }

    /// An `App` frame's bytes, in place.
    pub fn app_data(&self) -> Option<&'a [u8]> {
        match self {
            FrameView::App(a) => Some(a.data()),
            _ => None,
        }
    }

    /// The entries of a `Sync` or `Proposal`, in place.
    pub fn entries(&self) -> Option<EntriesView<'a>> {
        match self {
            FrameView::Sync(s) => Some(EntriesView(s.entries())),
            FrameView::Proposal(p) => Some(EntriesView(p.entries())),
            _ => None,
        }
    }

    /// The protocol message this frame carries; `None` for Hello and App. Entry payloads and
    /// chunk data are copied once (see the module documentation).
    pub fn to_message(&self) -> Option<Message> {
        Some(match self {
            FrameView::Vote(v) => Message::Vote {
                round: v.round(),
                vote: Vote {
                    epoch: v.epoch(),
                    zxid: v.zxid(),
                    leader: v.leader(),
                },
                // Checked by view_frame; Looking is never reached.
                state: voter_state_from_u8(v.state()).unwrap_or(VoterState::Looking),
            },
            FrameView::FollowerInfo(f) => Message::FollowerInfo {
                attempt: f.attempt(),
                accepted_epoch: f.accepted_epoch(),
                accepted_leader: f.accepted_leader(),
                last_zxid: f.last_zxid(),
            },
            FrameView::NewEpoch(n) => Message::NewEpoch {
                epoch: n.epoch(),
                attempt: n.attempt(),
            },
            FrameView::AckEpoch(a) => Message::AckEpoch {
                epoch: a.epoch(),
                attempt: a.attempt(),
                current_epoch: a.current_epoch(),
                last_zxid: a.last_zxid(),
            },
            FrameView::Sync(s) => Message::Sync {
                epoch: s.epoch(),
                attempt: s.attempt(),
                // Checked by view_frame; Diff is never reached.
                mode: sync_mode_from_u8(s.mode()).unwrap_or(SyncMode::Diff),
                prev: s.prev(),
                entries: EntriesView(s.entries()).to_entries(),
                committed: s.committed(),
                // Checked by view_frame; an absent field is None.
                config: match s.members() {
                    [] => None,
                    bytes => SyncConfig::decode(bytes).ok(),
                },
            },
            FrameView::UpToDate(u) => Message::UpToDate {
                epoch: u.epoch(),
                committed: u.committed(),
            },
            FrameView::Proposal(p) => Message::Proposal {
                epoch: p.epoch(),
                entries: EntriesView(p.entries()).to_entries(),
            },
            FrameView::Ack(a) => Message::Ack {
                epoch: a.epoch(),
                zxid: a.zxid(),
            },
            FrameView::Commit(c) => Message::Commit {
                epoch: c.epoch(),
                zxid: c.zxid(),
            },
            FrameView::Ping(p) => Message::Ping {
                epoch: p.epoch(),
                committed: p.committed(),
                last_zxid: p.last_zxid(),
            },
            FrameView::Resync(r) => Message::Resync { epoch: r.epoch() },
            FrameView::SnapshotChunk(c) => Message::SnapshotChunk {
                epoch: c.epoch(),
                attempt: c.attempt(),
                zxid: c.zxid(),
                offset: c.offset(),
                total: c.total(),
                data: Arc::from(c.data()),
            },
            FrameView::SnapshotAck(a) => Message::SnapshotAck {
                epoch: a.epoch(),
                attempt: a.attempt(),
                zxid: a.zxid(),
                received: a.received(),
            },
            FrameView::Hello(_) | FrameView::App(_) => return None,
        })
    }

    /// Copies the frame out of the receive buffer.
    pub fn to_owned(&self) -> InFrame {
        if let Some(h) = self.hello() {
            return InFrame::Hello(h);
        }
        if let Some(d) = self.app_data() {
            return InFrame::App(d.to_vec());
        }
        match self.to_message() {
            Some(m) => InFrame::Message(m),
            // Every kind is covered above or by to_message.
            None => InFrame::App(Vec::new()),
        }
    }
}

/// Encodes frames, reusing its flatbuffers builder between calls so that a busy link does not
/// allocate per frame.
pub struct Encoder {
    fbb: FlatBufferBuilder<'static>,
    offsets: Vec<WIPOffset<fb::Entry<'static>>>,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

/// Flatbuffers bytes an entry costs beyond its payload, rounded up generously: the table
/// (soffset, zxid, payload offset), the vector length word, padding to 8 and the slot in the
/// entries vector. Used to refuse an oversized frame before building it.
const ENTRY_OVERHEAD_BYTES: usize = 48;
/// Flatbuffers bytes of everything that is not an entry or a byte vector, generously.
const FRAME_OVERHEAD_BYTES: usize = 256;

/// An upper bound on the encoded size of `frame`, header included.
pub fn encoded_len_bound(frame: &OutFrame) -> usize {
    let entries = |es: &[Entry]| {
        es.iter()
            .map(|e| e.payload.len().saturating_add(ENTRY_OVERHEAD_BYTES))
            .fold(0usize, usize::saturating_add)
    };
    let body = match frame {
        OutFrame::Hello(_) => 0,
        OutFrame::App(d) => d.len(),
        OutFrame::Message(Message::SnapshotChunk { data, .. }) => data.len(),
        OutFrame::Message(Message::Sync { entries: es, .. })
        | OutFrame::Message(Message::Proposal { entries: es, .. }) => entries(es),
        OutFrame::Message(_) => 0,
    };
    body.saturating_add(FRAME_OVERHEAD_BYTES + FRAME_HEADER_BYTES)
}

impl Encoder {
    pub fn new() -> Self {
        Encoder {
            fbb: FlatBufferBuilder::with_capacity(1024),
            offsets: Vec::new(),
        }
    }

    /// Appends the encoded `frame` to `out` and returns its length. Refuses (and appends
    /// nothing) a frame larger than `frame_bytes_max` (capped at [`FRAME_BYTES_LIMIT`]),
    /// judged from the payload sizes before anything is built and exactly afterwards.
    pub fn encode_into(
        &mut self,
        frame: &OutFrame,
        frame_bytes_max: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, WireError> {
        let max = frame_bytes_max.min(FRAME_BYTES_LIMIT);
        let bound = encoded_len_bound(frame);
        if bound > max {
            return Err(WireError::FrameTooLong { len: bound, max });
        }
        self.fbb.reset();
        self.build(frame);
        let buf = self.fbb.finished_data();
        let len = buf.len() + FRAME_HEADER_BYTES;
        if len > max {
            return Err(WireError::FrameTooLong { len, max });
        }
        // Bounded by FRAME_BYTES_LIMIT above, so the length fits a u32.
        let n = (buf.len() + 4) as u32;
        out.reserve(len);
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&crc32c::crc32c(buf).to_be_bytes());
        out.extend_from_slice(buf);
        Ok(len)
    }

    fn entries(&mut self, entries: &[Entry]) -> fb::EntriesOffset<'static> {
        self.offsets.clear();
        for e in entries {
            let payload = self.fbb.create_vector(&e.payload[..]);
            self.offsets
                .push(fb::create_entry(&mut self.fbb, e.zxid, Some(payload)));
        }
        self.fbb.create_vector(&self.offsets)
    }

    fn build(&mut self, frame: &OutFrame) {
        use fb::body;
        let (kind, table) = match *frame {
            OutFrame::Hello(h) => {
                let addresses = h
                    .addresses_text()
                    .map(|t| self.fbb.create_vector(t.as_bytes()));
                (
                    body::HELLO,
                    fb::create_hello(&mut self.fbb, h.server_id, h.protocol_version, addresses)
                        .as_union_value(),
                )
            }
            OutFrame::App(d) => {
                let data = self.fbb.create_vector(d);
                (
                    body::APP,
                    fb::create_app(&mut self.fbb, Some(data)).as_union_value(),
                )
            }
            OutFrame::Message(m) => self.message(m),
        };
        let root = fb::create_frame(&mut self.fbb, kind, table);
        self.fbb.finish(root, Some(FILE_IDENTIFIER));
    }

    fn message(&mut self, m: &Message) -> (u8, WIPOffset<flatbuffers::UnionWIPOffset>) {
        use fb::body;
        let fbb = &mut self.fbb;
        match m {
            Message::Vote { round, vote, state } => (
                body::VOTE,
                fb::create_vote(
                    fbb,
                    *round,
                    vote.epoch,
                    vote.zxid,
                    vote.leader,
                    voter_state_to_u8(*state),
                )
                .as_union_value(),
            ),
            Message::FollowerInfo {
                attempt,
                accepted_epoch,
                accepted_leader,
                last_zxid,
            } => (
                body::FOLLOWER_INFO,
                fb::create_follower_info(
                    fbb,
                    *attempt,
                    *accepted_epoch,
                    *last_zxid,
                    *accepted_leader,
                )
                .as_union_value(),
            ),
            Message::NewEpoch { epoch, attempt } => (
                body::NEW_EPOCH,
                fb::create_new_epoch(fbb, *epoch, *attempt).as_union_value(),
            ),
            Message::AckEpoch {
                epoch,
                attempt,
                current_epoch,
                last_zxid,
            } => (
                body::ACK_EPOCH,
                fb::create_ack_epoch(fbb, *epoch, *attempt, *current_epoch, *last_zxid)
                    .as_union_value(),
            ),
            Message::SnapshotChunk {
                epoch,
                attempt,
                zxid,
                offset,
                total,
                data,
            } => {
                let bytes = fbb.create_vector(&data[..]);
                let last = offset.saturating_add(data.len() as u64) == *total;
                (
                    body::SNAPSHOT_CHUNK,
                    fb::create_snapshot_chunk(
                        &mut self.fbb,
                        *epoch,
                        *attempt,
                        *zxid,
                        *offset,
                        *total,
                        last,
                        Some(bytes),
                    )
                    .as_union_value(),
                )
            }
            Message::SnapshotAck {
                epoch,
                attempt,
                zxid,
                received,
            } => (
                body::SNAPSHOT_ACK,
                fb::create_snapshot_ack(fbb, *epoch, *attempt, *zxid, *received).as_union_value(),
            ),
            Message::Sync {
                epoch,
                attempt,
                mode,
                prev,
                entries,
                committed,
                config,
            } => {
                let es = self.entries(entries);
                let members = config.as_ref().map(|c| self.fbb.create_vector(&c.encode()));
                (
                    body::SYNC,
                    fb::create_sync(
                        &mut self.fbb,
                        *epoch,
                        *attempt,
                        sync_mode_to_u8(*mode),
                        *prev,
                        *committed,
                        members,
                        Some(es),
                    )
                    .as_union_value(),
                )
            }
            Message::UpToDate { epoch, committed } => (
                body::UP_TO_DATE,
                fb::create_up_to_date(fbb, *epoch, *committed).as_union_value(),
            ),
            Message::Proposal { epoch, entries } => {
                let es = self.entries(entries);
                (
                    body::PROPOSAL,
                    fb::create_proposal(&mut self.fbb, *epoch, Some(es)).as_union_value(),
                )
            }
            Message::Ack { epoch, zxid } => (
                body::ACK,
                fb::create_ack(fbb, *epoch, *zxid).as_union_value(),
            ),
            Message::Commit { epoch, zxid } => (
                body::COMMIT,
                fb::create_commit(fbb, *epoch, *zxid).as_union_value(),
            ),
            Message::Ping {
                epoch,
                committed,
                last_zxid,
            } => (
                body::PING,
                fb::create_ping(fbb, *epoch, *committed, *last_zxid).as_union_value(),
            ),
            Message::Resync { epoch } => (
                body::RESYNC,
                fb::create_resync(fbb, *epoch).as_union_value(),
            ),
        }
    }
}

/// Encodes one frame into a new vector, with the [`FRAME_BYTES_LIMIT`] ceiling.
pub fn encode(frame: &OutFrame) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    Encoder::new().encode_into(frame, FRAME_BYTES_LIMIT, &mut out)?;
    Ok(out)
}

/// The whole length of the frame that `bytes` starts with, once its 4-byte length word is
/// there (`None` before); refuses a length outside `FRAME_LEN_MIN ..= frame_bytes_max`.
pub fn frame_len(bytes: &[u8], frame_bytes_max: usize) -> Result<Option<usize>, WireError> {
    let Some(word) = bytes.get(..4) else {
        return Ok(None);
    };
    let n = u32::from_be_bytes([word[0], word[1], word[2], word[3]]) as usize;
    if n < FRAME_LEN_MIN {
        return Err(WireError::FrameTooShort { len: n });
    }
    let len = n.saturating_add(4);
    let max = frame_bytes_max.min(FRAME_BYTES_LIMIT);
    if len > max {
        return Err(WireError::FrameTooLong { len, max });
    }
    Ok(Some(len))
}

/// Checks and reads exactly one whole frame (`bytes` is the frame, nothing more).
pub fn view_frame(bytes: &[u8], frame_bytes_max: usize) -> Result<FrameView<'_>, WireError> {
    let len = frame_len(bytes, frame_bytes_max)?.ok_or(WireError::Truncated {
        have: bytes.len(),
        need: 4,
    })?;
    if bytes.len() < len {
        return Err(WireError::Truncated {
            have: bytes.len(),
            need: len,
        });
    }
    if bytes.len() > len {
        return Err(WireError::TrailingBytes {
            extra: bytes.len() - len,
        });
    }
    let expected = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let buf = &bytes[FRAME_HEADER_BYTES..];
    let actual = crc32c::crc32c(buf);
    if expected != actual {
        return Err(WireError::Checksum { expected, actual });
    }
    view_buffer(buf)
}

/// Verifies a flatbuffers buffer (the frame minus its header) and reads its kind.
fn view_buffer(buf: &[u8]) -> Result<FrameView<'_>, WireError> {
    let ident = [buf[4], buf[5], buf[6], buf[7]];
    if ident != *FILE_IDENTIFIER.as_bytes() {
        return Err(WireError::BadIdentifier { found: ident });
    }
    // Limits proportional to the buffer keep verification linear in its size even for a
    // hostile buffer whose offsets all point at the same bytes: every table costs at least 4
    // bytes (its soffset), and a well-formed frame's apparent size exceeds its length only by
    // the shared Entry vtable counted once per entry.
    let opts = VerifierOptions {
        max_depth: VERIFY_DEPTH_MAX,
        max_tables: buf.len() / 4 + 4,
        max_apparent_size: buf.len().saturating_mul(4).saturating_add(4096),
        ignore_missing_null_terminator: true,
    };
    let frame = flatbuffers::root_with_opts::<fb::Frame>(&opts, buf)?;
    let kind = frame.body_type();
    let missing = || {
        WireError::Verify(flatbuffers::InvalidFlatbuffer::MissingRequiredField {
            required: "body".into(),
            error_trace: Default::default(),
        })
    };
    // SAFETY (each body_as): the buffer passed the verifier, which checked the union member
    // as the table type its discriminant names, and each arm asks for exactly that type.
    let view = unsafe {
        match kind {
            fb::body::HELLO => FrameView::Hello(frame.body_as().ok_or_else(missing)?),
            fb::body::VOTE => FrameView::Vote(frame.body_as().ok_or_else(missing)?),
            fb::body::FOLLOWER_INFO => {
                FrameView::FollowerInfo(frame.body_as().ok_or_else(missing)?)
            }
            fb::body::NEW_EPOCH => FrameView::NewEpoch(frame.body_as().ok_or_else(missing)?),
            fb::body::ACK_EPOCH => FrameView::AckEpoch(frame.body_as().ok_or_else(missing)?),
            fb::body::SNAPSHOT_CHUNK => {
                FrameView::SnapshotChunk(frame.body_as().ok_or_else(missing)?)
            }
            fb::body::SYNC => FrameView::Sync(frame.body_as().ok_or_else(missing)?),
            fb::body::UP_TO_DATE => FrameView::UpToDate(frame.body_as().ok_or_else(missing)?),
            fb::body::PROPOSAL => FrameView::Proposal(frame.body_as().ok_or_else(missing)?),
            fb::body::ACK => FrameView::Ack(frame.body_as().ok_or_else(missing)?),
            fb::body::COMMIT => FrameView::Commit(frame.body_as().ok_or_else(missing)?),
            fb::body::PING => FrameView::Ping(frame.body_as().ok_or_else(missing)?),
            fb::body::RESYNC => FrameView::Resync(frame.body_as().ok_or_else(missing)?),
            fb::body::APP => FrameView::App(frame.body_as().ok_or_else(missing)?),
            fb::body::SNAPSHOT_ACK => FrameView::SnapshotAck(frame.body_as().ok_or_else(missing)?),
            other => return Err(WireError::UnknownKind(other)),
        }
    };
    match view {
        FrameView::Vote(v) if voter_state_from_u8(v.state()).is_none() => {
            return Err(WireError::InvalidField {
                field: "Vote.state",
                value: v.state().into(),
            })
        }
        FrameView::Sync(s) if sync_mode_from_u8(s.mode()).is_none() => {
            return Err(WireError::InvalidField {
                field: "Sync.mode",
                value: s.mode().into(),
            })
        }
        FrameView::Sync(s)
            if !s.members().is_empty() && SyncConfig::decode(s.members()).is_err() =>
        {
            return Err(WireError::InvalidField {
                field: "Sync.members",
                value: s.members().len() as u64,
            })
        }
        _ => {}
    }
    Ok(view)
}

/// Decodes exactly one whole frame into owned values, with the [`FRAME_BYTES_LIMIT`] ceiling.
pub fn decode_frame(bytes: &[u8]) -> Result<InFrame, WireError> {
    view_frame(bytes, FRAME_BYTES_LIMIT).map(|v| v.to_owned())
}

/// A stream decoder: bytes go in as they arrive from a socket, whole verified frames come out,
/// read in place from its buffer. Its buffer never holds more than one frame
/// (`frame_bytes_max`) plus one read's worth.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// The first byte not yet handed out as a frame.
    start: usize,
    /// The end of the bytes received.
    end: usize,
    frame_bytes_max: usize,
}

impl FrameDecoder {
    pub fn new(frame_bytes_max: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            end: 0,
            frame_bytes_max: frame_bytes_max.min(FRAME_BYTES_LIMIT),
        }
    }

    /// Bytes received and not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Room for at least `min` more bytes, to read into; follow with [`Self::filled`].
    /// Frames returned earlier are forgotten here (their bytes are moved over).
    pub fn spare(&mut self, min: usize) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < min {
            self.buf.resize(self.end + min, 0);
        }
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were written into the slice [`Self::spare`] returned.
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Copies `bytes` in (for tests and fuzzing; sockets use spare/filled).
    pub fn feed(&mut self, bytes: &[u8]) {
        let room = self.spare(bytes.len());
        room[..bytes.len()].copy_from_slice(bytes);
        self.filled(bytes.len());
    }

    /// The next whole frame, if one is buffered. After an error the stream is out of step and
    /// the connection must be closed; further calls return the same error.
    pub fn next_frame(&mut self) -> Result<Option<FrameView<'_>>, WireError> {
        let pending = &self.buf[self.start..self.end];
        let Some(len) = frame_len(pending, self.frame_bytes_max)? else {
            return Ok(None);
        };
        if pending.len() < len {
            return Ok(None);
        }
        let at = self.start;
        let view = view_frame(&self.buf[at..at + len], self.frame_bytes_max)?;
        self.start = at + len;
        Ok(Some(view))
    }
}
