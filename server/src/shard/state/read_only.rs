//! Read-only mode (Apache's `ReadOnlyZooKeeperServer`, `readonlymode.enabled`): a member
//! that has lost its quorum keeps serving the clients that said they accept a read-only
//! server (`canBeReadOnly`, the ConnectRequest's trailing `readOnly`), from its own copy of
//! the tree.
//!
//! - Sessions are local. Apache's read-only server creates a session in its own tracker and
//!   never replicates it, so a read-write server does not know it. Here it lives in this
//!   shard and ends with its connection; the sequencer never hears of it.
//! - A client that asks to resume a session has its connection closed unanswered, as
//!   Apache's `ReadOnlyZooKeeperServer.validateSession` refuses a global session: an
//!   "expired" answer would make it give up a session that may well be alive in the
//!   quorum, while a close sends it on to the next server with its session intact.
//! - Writes are refused with `NotReadOnly`, as `ReadOnlyRequestProcessor` refuses them
//!   (its list: sync, create, create2, createTTL, createContainer, delete, deleteContainer,
//!   setData, reconfig, setACL, multi, check). Reads, watches, auth and pings are served;
//!   closeSession is answered and closes the connection.
//! - When the member is back in a quorum (the sequencer's `Resume`, or a `Reset` to the
//!   leader's snapshot) every read-only connection closes, and the clients reconnect to
//!   a read-write server, as Apache's read-only server shuts down with its connections.

use ringkeeper_engine::jute::records::{self, ConnectRequest, Request};
use ringkeeper_engine::{ErrorCode, OpCode, SessionId};
use tracing::debug;

use super::{Conn, Effect, HandshakeOutcome, ShardState};
use crate::messages::{ConnId, ShardId};

/// The operations a read-only server answers with `NotReadOnly`, in the order of Apache's
/// `ReadOnlyRequestProcessor`.
const REFUSED: [OpCode; 12] = [
    OpCode::Sync,
    OpCode::Create,
    OpCode::Create2,
    OpCode::CreateTtl,
    OpCode::CreateContainer,
    OpCode::Delete,
    OpCode::DeleteContainer,
    OpCode::SetData,
    OpCode::Reconfig,
    OpCode::SetAcl,
    OpCode::Multi,
    OpCode::Check,
];

impl Conn {
    /// The ConnectResponse's trailing `readOnly`: only for a client that sent one (an old
    /// client would misread the extra byte), and true on a read-only session.
    pub(super) fn read_only_flag(&self) -> Option<bool> {
        self.sent_read_only.then_some(self.read_only)
    }
}

impl ShardState {
    /// Whether a handshake that arrives while this member has no quorum is served.
    pub(super) fn takes_read_only_client(&self, req: &ConnectRequest) -> bool {
        self.read_only && req.read_only == Some(true)
    }

    /// Answers a read-only client's handshake here: a fresh local session, or a close for
    /// a session it asks to resume.
    pub(super) fn settle_read_only_session(&mut self, conn: ConnId) {
        let shard = self.settings.id;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !c.handshaking {
            return;
        }
        if c.closing {
            // Closed while it waited for its catch-up check (the quorum came back).
            self.close_refusing_handshake(conn);
            return;
        }
        if c.session != 0 {
            debug!(
                conn,
                session = format_args!("0x{:x}", c.session),
                "refusing to resume a session in read-only mode; closing"
            );
            self.close_refusing_handshake(conn);
            return;
        }
        c.session = local_session_id(c.stats.established_ms, shard, conn);
        c.handshaking = false;
        let frame = records::encode_connect_response(&records::ConnectResponse {
            protocol_version: 0,
            time_out: c.timeout_ms,
            session_id: c.session,
            passwd: vec![0; 16],
            read_only: Some(true),
        });
        self.effects
            .push(Effect::Handshake(conn, HandshakeOutcome::Accepted));
        self.send_frame(conn, frame);
    }

    /// Answers what a read-only session may not do. Returns whether the request is done.
    pub(super) fn refused_as_read_only(
        &mut self,
        conn: ConnId,
        xid: i32,
        request: &Request,
    ) -> bool {
        if !self.conns.get(&conn).is_some_and(|c| c.read_only) {
            return false;
        }
        match request {
            Request::CloseSession => {
                // Nothing to replicate: the session was never anyone else's.
                self.answer_error(conn, xid, ErrorCode::Ok, true);
                true
            }
            other if REFUSED.contains(&other.op_code()) => {
                self.answer_error(conn, xid, ErrorCode::NotReadOnly, false);
                true
            }
            _ => false,
        }
    }

    /// The member is back in a quorum: its read-only clients go and find it (or another
    /// member) as read-write clients.
    pub(super) fn close_read_only(&mut self) {
        let ids: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.read_only)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.close_refusing_handshake(id);
        }
    }
}

/// A read-only session's id. Apache's read-only server numbers its sessions as every
/// tracker does, with the time in the middle bits; the shard and connection fill the
/// low bits here so that two shards never hand out the same id.
fn local_session_id(now_ms: i64, shard: ShardId, conn: ConnId) -> SessionId {
    let time = ((now_ms as u64) << 24) & 0x00FF_FFFF_FF00_0000;
    let low = ((shard as u64 & 0xFF) << 16) | (conn & 0xFFFF);
    (time | low).max(1) as SessionId
}
