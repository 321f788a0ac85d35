//! Driving the clients: connecting (to any member, any shard), sending one request at a
//! time, reading replies into the history, and reconnecting after a break.

use ringkeeper_engine::history::Action;
use ringkeeper_engine::jute::records::Response;
use ringkeeper_engine::ErrorCode;

use super::super::client::{self, Link, Pending, Step};
use super::super::node::Node;
use super::{record, Ev, Failure, Phase, World, HISTORY_MAX, REQUEST_TIMEOUT_MS};

/// A client's pause between requests, at most.
const THINK_MS_MAX: u64 = 20;

impl World {
    pub(super) fn client_act(&mut self, c: usize) -> Result<(), Failure> {
        let client = &self.clients[c];
        // The setup and the final reader wait for each answer; the others pipeline.
        let depth =
            if self.phase == Phase::Setup || client.script.is_some() || client.operator.is_some() {
                1
            } else {
                self.o.pipeline_max
            };
        if client.pending.len() >= depth || client.closing {
            return Ok(());
        }
        if client.script.as_ref().is_some_and(|s| s.is_empty()) {
            // The final reader is done; `converge` takes it from here.
            return Ok(());
        }
        match client.link {
            None => self.connect(c),
            Some(link) if link.established => self.send_next(c, link),
            Some(_) => Ok(()),
        }
    }

    /// Whether client `c` sends requests in the current phase.
    fn active(&self, c: usize) -> bool {
        let client = &self.clients[c];
        if let Some(op) = &client.operator {
            // Reconfigures under the faults, then adds back whatever is still missing.
            return match self.phase {
                Phase::Faults => true,
                Phase::Calm => op.unfinished(),
                _ => false,
            };
        }
        match self.phase {
            Phase::Setup => c == 0,
            Phase::Faults | Phase::Calm => {
                client.script.is_none() && self.history.len() < HISTORY_MAX
            }
            Phase::Final => client.script.is_some(),
            Phase::Done => false,
        }
    }

    fn connect(&mut self, c: usize) -> Result<(), Failure> {
        if !self.active(c) {
            return Ok(());
        }
        let node = self.rng.below(self.nodes.len() as u64) as usize;
        let shard = self.rng.below(super::config::SHARDS as u64) as usize;
        if self.nodes[node].run.is_none() {
            let retry = self.between(10, 100);
            return self.schedule(retry, Ev::ClientAct(c));
        }
        let frame = self.clients[c].handshake();
        let now_ms = self.nodes[node].clock_ms(self.now);
        let mut out = Vec::new();
        let opened = self.nodes[node].open_conn(shard, &frame, now_ms, &mut out);
        if let Some(conn) = opened {
            let inc = self.nodes[node].incarnation;
            self.owners.insert((node, inc, shard, conn), c);
            let link = Link {
                node,
                shard,
                conn,
                established: false,
            };
            self.clients[c].link = Some(link);
            self.schedule(REQUEST_TIMEOUT_MS, Ev::ClientTimeout(c, link, 0))?;
        } else {
            let retry = self.between(10, 100);
            self.schedule(retry, Ev::ClientAct(c))?;
        }
        self.after(node, out)
    }

    fn send_next(&mut self, c: usize, link: Link) -> Result<(), Failure> {
        if !self.active(c) {
            return Ok(());
        }
        let token = self.next_token;
        self.next_token += 1;
        let outgoing = if self.phase == Phase::Setup {
            match self.setup_left.first() {
                Some(path) => self.clients[c].setup(path),
                None => return Ok(()),
            }
        } else {
            self.clients[c].next(&mut self.rng, token)
        };
        if outgoing.xid < 0 {
            // The operator's auth packet: no reply to wait for (it comes as xid -4).
            self.schedule(1, Ev::ClientAct(c))?;
            let mut out = Vec::new();
            let now = Node::instant(self.base, self.now);
            self.nodes[link.node].request(link.shard, link.conn, &outgoing.frame, now, &mut out);
            return self.after(link.node, out);
        }
        let invoke = self.stamp();
        let history_id = self.clients[c].history_id;
        let linearizable = self.o.servers == 1;
        let index = outgoing.action.map(|mut action| {
            if let Action::Read {
                synced_from_ns: s @ None,
                ..
            } = &mut action
            {
                // A standalone server's read fence makes every read linearizable.
                if linearizable {
                    *s = Some(invoke);
                }
            }
            record(&mut self.history, history_id, invoke, action)
        });
        let xid = outgoing.xid;
        self.clients[c].pending.push_back(Pending {
            xid,
            op: outgoing.op,
            history: index,
            sync_of: outgoing.sync_of,
            sent_ns: invoke,
        });
        self.schedule(REQUEST_TIMEOUT_MS, Ev::ClientTimeout(c, link, xid))?;
        // The next request of a pipeline follows at once, or nearly.
        let next = self.between(0, 2);
        self.schedule(next, Ev::ClientAct(c))?;
        let mut out = Vec::new();
        let now = Node::instant(self.base, self.now);
        self.nodes[link.node].request(link.shard, link.conn, &outgoing.frame, now, &mut out);
        self.after(link.node, out)
    }

    fn same_conn(&self, c: usize, link: Link, inc: u64) -> bool {
        let current = self.clients[c].link;
        current.is_some_and(|l| l.node == link.node && l.shard == link.shard && l.conn == link.conn)
            && self.nodes[link.node].incarnation == inc
    }

    pub(super) fn frame_to_client(
        &mut self,
        c: usize,
        link: Link,
        inc: u64,
        frame: Vec<u8>,
    ) -> Result<(), Failure> {
        if !self.same_conn(c, link, inc) {
            return Ok(());
        }
        let body = frame.get(4..).unwrap_or_default();
        let established = self.clients[c].link.is_some_and(|l| l.established);
        if !established {
            let resumed = self.clients[c].session.is_some();
            let mut next_id = self.next_history_id;
            let accepted = self.clients[c].on_connected(body, &mut next_id);
            self.next_history_id = next_id;
            self.count_session(c, link.node, resumed, accepted);
            if !accepted {
                // Expired or refused: the server closes the connection; a new session next.
                return Ok(());
            }
            return self.schedule(0, Ev::ClientAct(c));
        }
        match self.clients[c].on_reply(body) {
            Ok(Some((result, pending))) => self.answered(c, result, pending),
            Ok(None) => Ok(()),
            Err(e) => Err(self.fail(format!("client {c}: {e}"))),
        }
    }

    fn count_session(&mut self, c: usize, node: usize, resumed: bool, accepted: bool) {
        if resumed && !accepted {
            self.report.lost_sessions += 1;
        }
        let last = self.clients[c].last_node.replace(node);
        if resumed && accepted && last.is_some_and(|n| n != node) {
            self.report.moved_sessions += 1;
        }
    }

    fn answered(
        &mut self,
        c: usize,
        result: Result<Response, ErrorCode>,
        pending: Pending,
    ) -> Result<(), Failure> {
        let complete = self.stamp();
        if let Some(i) = pending.history {
            let action = client::answered(&self.history[i].action, &result);
            self.history[i].action = action;
            self.history[i].complete_ns = Some(complete);
            if matches!(
                self.history[i].action,
                Action::Write {
                    outcome: ringkeeper_engine::history::WriteOutcome::Applied { .. },
                    ..
                }
            ) {
                self.report.acknowledged_writes += 1;
            }
        }
        if let (Some(key), Ok(_)) = (&pending.sync_of, &result) {
            self.clients[c].synced = Some((key.clone(), pending.sent_ns));
        }
        self.after_answer(c, &result, &pending);
        if self.clients[c].closing {
            return Ok(());
        }
        if let Some(op) = self.clients[c].operator.as_mut() {
            if op.saw(&result) {
                self.report.reconfigs += 1;
            }
            let every = self.o.reconfig_every_ms;
            let think = self.between(every / 2, every + every / 2);
            return self.schedule(think, Ev::ClientAct(c));
        }
        let think = self.between(0, THINK_MS_MAX);
        self.schedule(think, Ev::ClientAct(c))
    }

    /// Setup progress, the final reader's script, and a session's end.
    fn after_answer(&mut self, c: usize, result: &Result<Response, ErrorCode>, pending: &Pending) {
        if self.phase == Phase::Setup && c == 0 {
            if matches!(result, Ok(_) | Err(ErrorCode::NodeExists)) {
                self.setup_left.remove(0);
            }
            if self.setup_left.is_empty() {
                self.begin_faults();
            }
        }
        if let Some(script) = self.clients[c].script.as_mut() {
            let step_done = match (script.front(), result) {
                // A key's step is done once the read after its sync is answered.
                (Some(Step::Sync(_)), Ok(Response::GetData(_))) => pending.sync_of.is_none(),
                (Some(Step::List), Ok(Response::GetChildren(list))) => {
                    self.final_children = Some(list.children.clone());
                    true
                }
                _ => false,
            };
            if step_done {
                script.pop_front();
            }
        }
        if matches!(result, Err(ErrorCode::SessionExpired)) {
            self.clients[c].session = None;
        }
    }

    pub(super) fn client_closed(&mut self, c: usize, link: Link, inc: u64) -> Result<(), Failure> {
        if !self.same_conn(c, link, inc) {
            return Ok(());
        }
        self.drop_link(c);
        let retry = self.between(1, 50);
        self.schedule(retry, Ev::ClientAct(c))
    }

    /// The client forgets its connection; a request in flight stays unanswered.
    pub(super) fn drop_link(&mut self, c: usize) {
        let client = &mut self.clients[c];
        client.link = None;
        client.pending.clear();
        if let Some(op) = client.operator.as_mut() {
            // Auth belongs to a connection: a new one authenticates again.
            op.authed = false;
        }
        client.synced = None;
        if std::mem::take(&mut client.closing) {
            client.session = None;
        }
        if client.session.is_none() {
            self.new_session_id(c);
        }
    }

    fn new_session_id(&mut self, c: usize) {
        self.clients[c].history_id = self.next_history_id;
        self.next_history_id += 1;
    }

    /// No answer in time: the client hangs up (its server sees the socket close) and
    /// tries again, perhaps elsewhere.
    pub(super) fn client_timeout(&mut self, c: usize, link: Link, xid: i32) -> Result<(), Failure> {
        let client = &self.clients[c];
        let Some(current) = client.link else {
            return Ok(());
        };
        if current.node != link.node || current.conn != link.conn || current.shard != link.shard {
            return Ok(());
        }
        let waiting = if xid == 0 {
            !current.established
        } else {
            client.pending.iter().any(|p| p.xid == xid)
        };
        if !waiting {
            return Ok(());
        }
        self.hang_up(c)
    }

    /// The client closes its connection itself.
    pub(super) fn hang_up(&mut self, c: usize) -> Result<(), Failure> {
        let Some(link) = self.clients[c].link else {
            return Ok(());
        };
        let inc = self.nodes[link.node].incarnation;
        self.owners.remove(&(link.node, inc, link.shard, link.conn));
        self.drop_link(c);
        let mut out = Vec::new();
        self.nodes[link.node].forget_conn(link.shard, link.conn, &mut out);
        self.after(link.node, out)?;
        let retry = self.between(1, 50);
        self.schedule(retry, Ev::ClientAct(c))
    }
}
