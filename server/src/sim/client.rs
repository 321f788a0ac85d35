//! A simulated ZooKeeper client: it speaks the real jute protocol (encoded and decoded with
//! the engine's codec), one request at a time, on a small key space, and says what to
//! record in the history (`engine::history`). It knows nothing of the world: the world
//! carries its frames and tells it when a connection breaks.

use ringkeeper_engine::history::{Action, CreateOutcome, Observed, WriteOutcome};
use ringkeeper_engine::jute::records::{
    self, AuthPacket, ConnectRequest, ConnectResponse, CreateRequest, DeleteRequest, ExistsRequest,
    GetChildrenRequest, GetDataRequest, MultiOp, ReconfigRequest, ReplyHeader, Request, Response,
    SetDataRequest, SyncRequest,
};
use ringkeeper_engine::jute::{Decode, Encode, Reader};
use ringkeeper_engine::storage::SimRng;
use ringkeeper_engine::{Acl, ErrorCode, OpCode, SessionId, Zxid};

use super::config::{self, SESSION_TIMEOUT_MS};

/// The registers of the history: setData and getData go here only.
pub const KEYS: [&str; 3] = ["/k0", "/k1", "/k2"];
/// The parent of the sequential creates the history checks.
pub const SEQ_PARENT: &str = "/seq";
/// The xid Apache's clients send an auth packet with; its answer comes back with it.
const AUTH_XID: i32 = -4;
/// Nodes the other operations (ephemerals, deletes, multis) play with, outside the history.
const SCRATCH: [&str; 2] = ["/s0", "/s1"];
/// Every node the clients need, created before the history starts.
pub const SETUP: [&str; 6] = ["/k0", "/k1", "/k2", "/seq", "/e", "/m"];

/// What the request in flight was, and where its history entry is.
#[derive(Debug, Clone)]
pub struct Pending {
    pub xid: i32,
    pub op: OpCode,
    pub history: Option<usize>,
    /// A sync: the next request reads this key, linearizably from when the sync was sent.
    pub sync_of: Option<String>,
    /// When it was sent, on the history's clock.
    pub sent_ns: u64,
}

/// How the client's current connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub node: usize,
    pub shard: usize,
    pub conn: u64,
    pub established: bool,
}

pub struct Client {
    /// The history's client id of the current session (a new session is a new client).
    pub history_id: u32,
    pub session: Option<(SessionId, Vec<u8>)>,
    pub last_zxid_seen: Zxid,
    pub link: Option<Link>,
    /// Requests sent and not answered, in the order sent (replies must come in it).
    pub pending: std::collections::VecDeque<Pending>,
    /// A sync done on this key, sent at this history time: the next request reads it.
    pub synced: Option<(String, u64)>,
    next_xid: i32,
    /// The client closes its session after this request (a `close`).
    pub closing: bool,
    /// The member the session was last accepted on.
    pub last_node: Option<usize>,
    /// The final reader's fixed requests; a step is dropped once answered.
    pub script: Option<std::collections::VecDeque<Step>>,
    /// The operator, who sends reconfig requests only; its requests are not in the history.
    pub operator: Option<Operator>,
}

/// The operator's view: whether its connection has super's identity, and the members the
/// last committed reconfiguration it saw named.
#[derive(Debug, Clone)]
pub struct Operator {
    pub authed: bool,
    pub members: std::collections::BTreeSet<u64>,
    /// The run's servers: every one of them is a member at the start, and the operator
    /// adds back whichever is missing.
    pub servers: u64,
}

impl Operator {
    /// Reads the members from a committed reconfiguration's reply (the config node's
    /// `server.N=` lines); true if it was one.
    pub fn saw(&mut self, result: &Result<Response, ErrorCode>) -> bool {
        let Ok(Response::GetData(reply)) = result else {
            return false;
        };
        let text = String::from_utf8_lossy(reply.data.as_deref().unwrap_or_default());
        self.members = text
            .lines()
            .filter_map(|l| l.strip_prefix("server.")?.split_once('=')?.0.parse().ok())
            .collect();
        true
    }

    /// Adds back the first missing member, or removes one at random: the ensemble of
    /// three goes to two and back, the leader included.
    fn request(&self, xid: i32, rng: &mut SimRng) -> Outgoing {
        let missing = (1..=self.servers).find(|id| !self.members.contains(id));
        let (joining, leaving) = match missing {
            Some(id) => (config::server_line(id), String::new()),
            None => (String::new(), (1 + rng.below(self.servers)).to_string()),
        };
        plain(
            xid,
            Request::Reconfig(ReconfigRequest {
                joining_servers: joining,
                leaving_servers: leaving,
                new_members: String::new(),
                cur_config_id: -1,
            }),
            None,
        )
    }

    /// Whether it still has a member to add back.
    pub fn unfinished(&self) -> bool {
        (self.members.len() as u64) < self.servers
    }
}

/// A step of the final reader: a sync of a key (then a read of it), or the listing of
/// the sequential parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Sync(&'static str),
    List,
}

/// The final reader's script: every key read linearizably, then the sequential parent.
pub fn final_script() -> std::collections::VecDeque<Step> {
    KEYS.iter()
        .map(|k| Step::Sync(k))
        .chain([Step::List])
        .collect()
}

/// One request to send: its frame (without the length prefix), what it is, and what the
/// history records for it until the reply comes.
pub struct Outgoing {
    pub xid: i32,
    pub frame: Vec<u8>,
    pub op: OpCode,
    pub action: Option<Action>,
    pub sync_of: Option<String>,
}

impl Client {
    pub fn new(history_id: u32) -> Client {
        Client {
            history_id,
            session: None,
            last_zxid_seen: 0,
            link: None,
            pending: Default::default(),
            synced: None,
            next_xid: 1,
            closing: false,
            last_node: None,
            script: None,
            operator: None,
        }
    }

    /// The operator of a run of `servers` servers.
    pub fn operator(history_id: u32, servers: usize) -> Client {
        Client {
            operator: Some(Operator {
                authed: false,
                members: (1..=servers as u64).collect(),
                servers: servers as u64,
            }),
            ..Client::new(history_id)
        }
    }

    /// The ConnectRequest: a new session, or a resume of the one it holds.
    pub fn handshake(&self) -> Vec<u8> {
        let (session_id, passwd) = self.session.clone().unwrap_or((0, vec![0; 16]));
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: self.last_zxid_seen,
            time_out: SESSION_TIMEOUT_MS,
            session_id,
            passwd,
            read_only: None,
        }
        .to_bytes()
    }

    /// Reads the ConnectResponse; false if the session is gone (expired or refused).
    pub fn on_connected(&mut self, body: &[u8], next_history_id: &mut u32) -> bool {
        let Ok(resp) = ConnectResponse::decode(&mut Reader::new(body)) else {
            return false;
        };
        if resp.time_out <= 0 || resp.session_id == 0 {
            self.session = None;
            self.history_id = *next_history_id;
            *next_history_id += 1;
            return false;
        }
        self.session = Some((resp.session_id, resp.passwd));
        if let Some(l) = self.link.as_mut() {
            l.established = true;
        }
        true
    }

    fn xid(&mut self) -> i32 {
        let x = self.next_xid;
        self.next_xid += 1;
        x
    }

    /// Picks the next request; a read of a just-synced key comes first.
    pub fn next(&mut self, rng: &mut SimRng, token: u64) -> Outgoing {
        if let Some(op) = self.operator.as_mut() {
            if !std::mem::replace(&mut op.authed, true) {
                // `addauth digest super:test`: xid -4, answered like a notification.
                let auth = AuthPacket {
                    auth_type: 0,
                    scheme: "digest".to_owned(),
                    auth: config::SUPER_AUTH.to_vec(),
                };
                return plain(AUTH_XID, Request::Auth(auth), None);
            }
            let xid = self.xid();
            return self
                .operator
                .as_ref()
                .map_or_else(|| read(xid, KEYS[0], None), |op| op.request(xid, rng));
        }
        let xid = self.xid();
        if let Some((key, synced_ns)) = self.synced.take() {
            return read(xid, &key, Some(synced_ns));
        }
        if let Some(script) = self.script.as_ref() {
            return match script.front() {
                Some(Step::Sync(key)) => sync(xid, key),
                _ => list(xid, false),
            };
        }
        let key = KEYS[rng.below(KEYS.len() as u64) as usize];
        let scratch = SCRATCH[rng.below(SCRATCH.len() as u64) as usize];
        match rng.below(20) {
            0..=5 => {
                let expected = if rng.chance(2) {
                    None
                } else {
                    Some(rng.below(6) as i32)
                };
                set_data(xid, key, token, expected)
            }
            6..=9 => read(xid, key, None),
            10..=11 => sync(xid, key),
            12..=13 => create(xid, &format!("{SEQ_PARENT}/n-"), 2, true),
            14 => create(xid, &format!("/e{scratch}"), 1, false),
            15 => delete(xid, &format!("/e{scratch}")),
            16 => plain(
                xid,
                Request::Exists(ExistsRequest {
                    path: key.to_owned(),
                    watch: true,
                }),
                None,
            ),
            17 => list(xid, rng.chance(2)),
            18 => multi(xid, scratch, token),
            _ => {
                self.closing = rng.chance(3);
                if self.closing {
                    plain(xid, Request::CloseSession, None)
                } else {
                    read(xid, key, None)
                }
            }
        }
    }

    /// A setup create (before the history).
    pub fn setup(&mut self, path: &str) -> Outgoing {
        let xid = self.xid();
        create(xid, path, 0, false)
    }

    /// Reads a reply frame (without its length prefix). Returns the header and the body
    /// if it answers the oldest request in flight; notifications give `None`. A reply to
    /// anything else breaks ZooKeeper's promise that replies come in request order.
    pub fn on_reply(&mut self, body: &[u8]) -> Result<Option<Answered>, String> {
        let mut r = Reader::new(body);
        let header = ReplyHeader::decode(&mut r).map_err(|e| format!("reply header: {e}"))?;
        if header.zxid > 0 {
            self.last_zxid_seen = self.last_zxid_seen.max(header.zxid);
        }
        if header.xid < 0 {
            return Ok(None);
        }
        let expected = self.pending.front().map(|p| p.xid);
        if expected != Some(header.xid) {
            return Err(format!(
                "reply to xid {} while the oldest request waiting is {expected:?}",
                header.xid
            ));
        }
        let Some(pending) = self.pending.pop_front() else {
            return Ok(None);
        };
        let err = ErrorCode::from_code(header.err).unwrap_or(ErrorCode::SystemError);
        let result = if err == ErrorCode::Ok {
            records::decode_response(pending.op, &mut r).map_err(|_| ErrorCode::MarshallingError)
        } else {
            Err(err)
        };
        Ok(Some((result, pending)))
    }
}

/// A reply's result and the request it answers.
pub type Answered = (Result<Response, ErrorCode>, Pending);

fn frame(xid: i32, request: &Request) -> Vec<u8> {
    // The codec builds a length-prefixed frame; the shard reads the frame's body.
    records::encode_request(xid, request).split_off(4)
}

fn plain(xid: i32, request: Request, sync_of: Option<&str>) -> Outgoing {
    Outgoing {
        xid,
        frame: frame(xid, &request),
        op: request.op_code(),
        action: None,
        sync_of: sync_of.map(str::to_owned),
    }
}

fn sync(xid: i32, key: &str) -> Outgoing {
    let request = Request::Sync(SyncRequest {
        path: key.to_owned(),
    });
    plain(xid, request, Some(key))
}

/// The children of the sequential parent.
fn list(xid: i32, watch: bool) -> Outgoing {
    let request = Request::GetChildren(GetChildrenRequest {
        path: SEQ_PARENT.to_owned(),
        watch,
    });
    plain(xid, request, None)
}

fn set_data(xid: i32, key: &str, token: u64, expected: Option<i32>) -> Outgoing {
    let request = Request::SetData(SetDataRequest {
        path: key.to_owned(),
        data: Some(token.to_le_bytes().to_vec()),
        version: expected.unwrap_or(-1),
    });
    let action = Action::Write {
        key: key.to_owned(),
        expected_version: expected,
        token,
        outcome: WriteOutcome::Unknown,
    };
    Outgoing {
        action: Some(action),
        ..plain(xid, request, None)
    }
}

fn read(xid: i32, key: &str, synced_from_ns: Option<u64>) -> Outgoing {
    let request = Request::GetData(GetDataRequest {
        path: key.to_owned(),
        watch: false,
    });
    let action = Action::Read {
        key: key.to_owned(),
        synced_from_ns,
        observed: None,
    };
    Outgoing {
        action: Some(action),
        ..plain(xid, request, None)
    }
}

fn create(xid: i32, path: &str, flags: i32, recorded: bool) -> Outgoing {
    let request = Request::Create(CreateRequest {
        path: path.to_owned(),
        data: Some(b"c".to_vec()),
        acl: Acl::open_unsafe(),
        flags,
    });
    let action = recorded.then(|| Action::Create {
        parent: SEQ_PARENT.to_owned(),
        outcome: CreateOutcome::Unknown,
    });
    Outgoing {
        action,
        ..plain(xid, request, None)
    }
}

fn delete(xid: i32, path: &str) -> Outgoing {
    plain(
        xid,
        Request::Delete(DeleteRequest {
            path: path.to_owned(),
            version: -1,
        }),
        None,
    )
}

/// A multi on scratch nodes: create a child and set the scratch node, all or nothing.
fn multi(xid: i32, scratch: &str, token: u64) -> Outgoing {
    let child = format!("/m{scratch}-{token}");
    let ops = vec![
        MultiOp::Create(CreateRequest {
            path: child.clone(),
            data: None,
            acl: Acl::open_unsafe(),
            flags: 1,
        }),
        MultiOp::Delete(DeleteRequest {
            path: child,
            version: -1,
        }),
    ];
    plain(xid, Request::Multi(ops), None)
}

/// What the history records for an answered request (`action` as recorded when sent).
pub fn answered(action: &Action, result: &Result<Response, ErrorCode>) -> Action {
    match (action.clone(), result) {
        (
            Action::Write {
                key,
                expected_version,
                token,
                ..
            },
            r,
        ) => Action::Write {
            key,
            expected_version,
            token,
            outcome: match r {
                Ok(Response::SetData(s)) => WriteOutcome::Applied {
                    version: s.stat.version,
                },
                Err(ErrorCode::BadVersion) => WriteOutcome::BadVersion,
                // Other errors (connection loss, a session that moved) may hide a write
                // that happened; only a definite answer is recorded as one.
                _ => WriteOutcome::Unknown,
            },
        },
        (
            Action::Read {
                key,
                synced_from_ns,
                ..
            },
            r,
        ) => Action::Read {
            key,
            synced_from_ns,
            observed: match r {
                Ok(Response::GetData(d)) => Some(Observed {
                    version: d.stat.version,
                    token: d.data.as_deref().and_then(token_of),
                }),
                _ => None,
            },
        },
        (Action::Create { parent, .. }, r) => Action::Create {
            parent,
            outcome: match r {
                Ok(Response::Create(c)) => sequence_of(&c.path)
                    .map_or(CreateOutcome::Unknown, |sequence| CreateOutcome::Created {
                        sequence,
                    }),
                Err(ErrorCode::NoNode | ErrorCode::NodeExists) => CreateOutcome::Rejected,
                _ => CreateOutcome::Unknown,
            },
        },
    }
}

/// The token a value carries (8 bytes); the setup's value is no write's.
fn token_of(data: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(data).ok().map(u64::from_le_bytes)
}

/// The 10-digit suffix of a sequential node's name.
pub fn sequence_of(path: &str) -> Option<i64> {
    let digits = path.get(path.len().checked_sub(10)?..)?;
    digits.parse().ok()
}
