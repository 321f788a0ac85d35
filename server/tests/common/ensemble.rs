//! A multi-process ensemble for the replication tests: N `ringkeeper` processes on their own
//! loopback addresses, each with its own zoo.cfg (`server.I=127.0.0.X:QPORT:EPORT` lines and a
//! `myid` file, as an Apache ensemble is configured), and optionally a fault-injecting TCP
//! proxy on every directed peer link so that a test can cut members off from each other.
//!
//! Members are addressed by their index `0..n`; member `i` has `myid` `i + 1`.
//!
//! With proxies, member `i`'s zoo.cfg lists every other member `j` at the address of the proxy
//! for the link `i -> j` (on j's loopback address, other ports), while its own line names its
//! real ports. Cutting a link closes the connections through it and swallows new ones until it
//! is healed, so a cut looks to both servers like a network that stopped delivering.
//!
//! Everything is torn down on drop: processes are killed, proxies stopped, directories removed.

use std::fmt::Write as _;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::server::{apache_classpath, four_letter_word, Flavor};

/// How long a spawned member may take before its client port answers a four-letter word.
const LISTEN_WAIT: Duration = Duration::from_secs(30);
/// How long a member may take to exit after SIGTERM before it is killed.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);
/// How long the client port of an exited member may keep accepting (see `wait_port_closed`).
const PORT_CLOSE_WAIT: Duration = Duration::from_secs(5);
/// How often the proxy threads look at their link's state; a cut takes effect within this.
const PROXY_POLL: Duration = Duration::from_millis(50);
/// Linux's smallest and largest retransmission timeouts (TCP_RTO_MIN, TCP_RTO_MAX): a
/// black-holed connection resumes at its next retransmission, on this doubling schedule.
const RTO_MIN: Duration = Duration::from_millis(200);
const RTO_MAX: Duration = Duration::from_secs(120);
/// How many lines of each member's log a failure message shows.
const LOG_TAIL_LINES: usize = 25;

static ENSEMBLE_COUNTER: AtomicU32 = AtomicU32::new(0);

/// The knobs of an ensemble; everything else is the server's default.
#[derive(Clone, Debug)]
pub struct EnsembleOptions {
    pub tick_time_ms: u32,
    /// Ticks a follower may take to connect and sync to the leader.
    pub init_limit: u32,
    /// Ticks a follower may go without hearing from the leader.
    pub sync_limit: u32,
    /// Put a fault-injecting proxy on every directed peer link (`isolate`, `partition`).
    pub proxies: bool,
    /// With `proxies`: list every other member at two addresses (multiAddress), each a proxy
    /// pair of its own on its own loopback address, so that one can fail
    /// (`black_hole_first_addresses`).
    pub two_addresses: bool,
    /// `ringkeeper.shards` for every member; fewer shards keep 5 processes light on 2 cores.
    pub shards: Option<u32>,
    /// Further `key=value` lines for every member's zoo.cfg; `{ip}` in a line becomes the
    /// member's own loopback address (for ports each member opens, such as metrics), `{id}`
    /// its myid and `{root}` the ensemble's directory (for files `start_with` writes).
    pub extra_config: Vec<String>,
    /// The last this many members are observers: `:observer` on their server.N lines and
    /// `peerType=observer` in their own zoo.cfg, as Apache's manual configures them.
    pub observers: usize,
    /// The last this many members are joiners: not started by `start` (`start_member`
    /// starts one), absent from the other members' zoo.cfg, and their own zoo.cfg lists
    /// every member, themselves included (as Apache's manual says to start a server that a
    /// `reconfig -add` will add).
    pub joiners: usize,
}

impl Default for EnsembleOptions {
    fn default() -> Self {
        EnsembleOptions {
            tick_time_ms: 200,
            init_limit: 10,
            sync_limit: 5,
            proxies: false,
            two_addresses: false,
            shards: Some(1),
            extra_config: Vec::new(),
            observers: 0,
            joiners: 0,
        }
    }
}

/// What a member's `srvr` says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Leader,
    Follower,
    /// `Mode: observer`: serving, never voting.
    Observer,
    /// `Mode: standalone`: the member ignored its server.N lines.
    Standalone,
    /// The member answered that it is not currently serving requests (no quorum).
    NotServing,
    /// The process is not running (killed or stopped by the test).
    Down,
    /// Nothing usable came back: connection refused, timeout, or an unexpected answer.
    Unreachable(String),
}

/// One `srvr` probe.
#[derive(Clone, Debug)]
pub struct Probe {
    pub mode: Mode,
    /// The `Zxid: 0x...` line, when the member serves.
    pub zxid: Option<i64>,
}

struct Member {
    id: u64,
    client: SocketAddr,
    quorum: SocketAddr,
    election: SocketAddr,
    dir: PathBuf,
    child: Option<Child>,
    /// How many times the process was spawned, for log separators.
    spawns: u32,
    /// Which implementation the member runs; a migration test changes it member by member.
    flavor: Flavor,
}

impl Member {
    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
}

/// A running ensemble.
pub struct Ensemble {
    options: EnsembleOptions,
    root: PathBuf,
    members: Vec<Member>,
    /// `links[i][j]`: the proxy member `i` dials to reach member `j` (none on the diagonal).
    links: Vec<Vec<Option<Link>>>,
}

impl Ensemble {
    /// Writes every member's configuration, starts them all and waits until each one's client
    /// port answers (serving or not). It does not wait for a leader: see `wait_for_leader`.
    pub fn start(n: usize, options: EnsembleOptions) -> Ensemble {
        Ensemble::start_as(n, options, Flavor::Ringkeeper)
    }

    /// As `start`, with every member running `flavor` (Apache's QuorumPeerMain, for a
    /// migration test that then replaces the members one by one).
    pub fn start_as(n: usize, options: EnsembleOptions, flavor: Flavor) -> Ensemble {
        Ensemble::start_prepared(n, options, flavor, |_, _| {})
    }

    /// As `start`, calling `prepare(root, ips)` once every member's directory and zoo.cfg
    /// exist and before any member starts, with the member's loopback addresses by index:
    /// for files the configuration names (`{root}` in `extra_config`), such as certificates
    /// that must name a member's address.
    pub fn start_with(
        n: usize,
        options: EnsembleOptions,
        prepare: impl FnOnce(&std::path::Path, &[Ipv4Addr]),
    ) -> Ensemble {
        Ensemble::start_prepared(n, options, Flavor::Ringkeeper, prepare)
    }

    fn start_prepared(
        n: usize,
        options: EnsembleOptions,
        flavor: Flavor,
        prepare: impl FnOnce(&std::path::Path, &[Ipv4Addr]),
    ) -> Ensemble {
        assert!(n >= 1, "an ensemble needs at least one member");
        let instance = ENSEMBLE_COUNTER.fetch_add(1, Ordering::SeqCst);
        let root =
            std::env::temp_dir().join(format!("rk-ensemble-{}-{instance}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).expect("creating the ensemble directory");
        let ips = pick_ips(n, instance);
        let mut members = Vec::with_capacity(n);
        // The members' ports stay bound here until the proxies have theirs: a proxy listens
        // on an ephemeral port of its target member's address and could otherwise be handed
        // a port just picked for that member (which then found its client port in use).
        let mut reserved = Vec::with_capacity(n);
        for (index, ip) in ips.iter().enumerate() {
            let (ports, held) = free_ports(*ip);
            reserved.push(held);
            let [client, quorum, election] = ports;
            let id = index as u64 + 1;
            let dir = root.join(format!("m{id}"));
            fs::create_dir_all(dir.join("data")).expect("creating a member's data directory");
            fs::write(dir.join("data").join("myid"), format!("{id}\n")).expect("writing myid");
            members.push(Member {
                id,
                client,
                quorum,
                election,
                dir,
                child: None,
                spawns: 0,
                flavor,
            });
        }
        let mut links: Vec<Vec<Option<Link>>> =
            (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
        if options.proxies {
            for (from, row) in links.iter_mut().enumerate() {
                for (to, slot) in row.iter_mut().enumerate() {
                    if from != to {
                        *slot = Some(Link::start(
                            format!("{}->{}", from, to),
                            members[to].quorum,
                            members[to].election,
                            options.two_addresses,
                        ));
                    }
                }
            }
        }
        drop(reserved);
        let mut ensemble = Ensemble {
            options,
            root,
            members,
            links,
        };
        for index in 0..n {
            ensemble.write_config(index);
        }
        prepare(&ensemble.root, &ips);
        let started = ensemble.started_members();
        for index in 0..started {
            ensemble.spawn(index);
        }
        for index in 0..started {
            ensemble.wait_listening(index);
        }
        ensemble
    }

    /// The members `start` starts: all but the joiners.
    fn started_members(&self) -> usize {
        self.members.len().saturating_sub(self.options.joiners)
    }

    /// Starts a member that was never started (a joiner) and waits until its client port
    /// answers.
    pub fn start_member(&mut self, index: usize) {
        assert!(!self.is_running(index), "member {index} runs already");
        self.spawn(index);
        self.wait_listening(index);
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// A majority of the configured voters (observers never count).
    pub fn quorum(&self) -> usize {
        self.voters() / 2 + 1
    }

    /// The members that vote: all but the last `observers`.
    pub fn voters(&self) -> usize {
        self.members.len().saturating_sub(self.options.observers)
    }

    fn is_observer(&self, index: usize) -> bool {
        index >= self.voters()
    }

    pub fn client_address(&self, index: usize) -> SocketAddr {
        self.members[index].client
    }

    /// Every member's client address, the string a failing-over client is given.
    pub fn connect_string(&self) -> String {
        let all: Vec<usize> = (0..self.len()).collect();
        self.connect_string_of(&all)
    }

    /// The client addresses of the given members only.
    pub fn connect_string_of(&self, indices: &[usize]) -> String {
        indices
            .iter()
            .map(|&i| self.members[i].client.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The member's own (quorum, election) addresses, where it listens for its peers.
    pub fn peer_addresses(&self, index: usize) -> (SocketAddr, SocketAddr) {
        (self.members[index].quorum, self.members[index].election)
    }

    pub fn data_dir(&self, index: usize) -> PathBuf {
        self.members[index].data_dir()
    }

    /// The directory holding every member's files; removed on drop.
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// The zoo.cfg the harness wrote for a member.
    pub fn config_text(&self, index: usize) -> String {
        fs::read_to_string(self.members[index].dir.join("zoo.cfg")).expect("reading zoo.cfg")
    }

    pub fn is_running(&mut self, index: usize) -> bool {
        match self.members[index].child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills a member abruptly (SIGKILL), as a crash or power loss of the process would.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.members[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.wait_port_closed(index);
        }
    }

    /// Waits (a bounded while) until the member's client port refuses connections. The kernel
    /// tears an exited process's io_uring instance down asynchronously, and the sockets it
    /// holds, the listener included, can outlive the process for a moment: a test must not
    /// take "killed" to mean "unreachable", nor start the member again, before they are gone.
    fn wait_port_closed(&self, index: usize) {
        let deadline = Instant::now() + PORT_CLOSE_WAIT;
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&self.members[index].client, Duration::from_millis(200))
                .is_err()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops a member with SIGTERM and waits for it to exit; panics if it does not exit in time
    /// (a clean shutdown that hangs is a bug the tests must report).
    pub fn stop(&mut self, index: usize) {
        let Some(mut child) = self.members[index].child.take() else {
            return;
        };
        // SAFETY: kill(2) on a pid this harness spawned and has not reaped yet.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + SHUTDOWN_WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                self.wait_port_closed(index);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "member {index} (myid {}) did not exit within {SHUTDOWN_WAIT:?} of SIGTERM; its log:\n{}",
            self.members[index].id,
            self.log_tail(index, LOG_TAIL_LINES)
        );
    }

    /// Starts a member that is down, with its existing data directory, and waits until its
    /// client port answers. A running member is stopped (SIGTERM) first.
    pub fn restart(&mut self, index: usize) {
        self.stop(index);
        self.spawn(index);
        self.wait_listening(index);
    }

    /// Stops a member (SIGTERM) and starts `flavor` on the same zoo.cfg and data directory,
    /// as an operator replacing an Apache member by a ringkeeper one does.
    pub fn replace(&mut self, index: usize, flavor: Flavor) {
        self.stop(index);
        self.members[index].flavor = flavor;
        self.spawn(index);
        self.wait_listening(index);
    }

    /// The member's log (stdout and stderr of every run, separated by a marker line).
    pub fn log(&self, index: usize) -> String {
        fs::read_to_string(self.members[index].dir.join("server.log")).unwrap_or_default()
    }

    pub fn log_tail(&self, index: usize, lines: usize) -> String {
        let log = self.log(index);
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Sends a four-letter word to a member.
    pub fn four_letter_word(&self, index: usize, word: &str) -> std::io::Result<String> {
        four_letter_word(self.members[index].client, word)
    }

    /// Asks a member `srvr` and classifies the answer.
    pub fn probe(&mut self, index: usize) -> Probe {
        if !self.is_running(index) {
            return Probe {
                mode: Mode::Down,
                zxid: None,
            };
        }
        let answer = match self.four_letter_word(index, "srvr") {
            Ok(answer) => answer,
            Err(err) => {
                return Probe {
                    mode: Mode::Unreachable(err.to_string()),
                    zxid: None,
                }
            }
        };
        parse_srvr(&answer)
    }

    pub fn mode(&mut self, index: usize) -> Mode {
        self.probe(index).mode
    }

    /// The member's `Zxid:` as `srvr` reports it; panics if it does not serve.
    pub fn zxid(&mut self, index: usize) -> i64 {
        let probe = self.probe(index);
        probe.zxid.unwrap_or_else(|| {
            panic!(
                "member {index} reports no zxid (mode {:?});\n{}",
                probe.mode,
                self.describe()
            )
        })
    }

    /// A `mntr` value of a member, e.g. `zk_global_sessions`.
    pub fn mntr_value(&self, index: usize, key: &str) -> Option<String> {
        let answer = self.four_letter_word(index, "mntr").ok()?;
        answer.lines().find_map(|line| {
            let (name, value) = line.split_once('\t')?;
            (name == key).then(|| value.trim().to_string())
        })
    }

    /// Waits until exactly one running member says it leads and a quorum of the configured
    /// members (the leader included) serve as leader or follower; returns the leader's index.
    /// Panics with every member's state and log tail if that does not happen in time.
    pub fn wait_for_leader(&mut self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let modes: Vec<Mode> = (0..self.len()).map(|i| self.mode(i)).collect();
            let leaders: Vec<usize> = (0..self.len())
                .filter(|&i| modes[i] == Mode::Leader)
                .collect();
            let serving = modes
                .iter()
                .filter(|m| matches!(m, Mode::Leader | Mode::Follower))
                .count();
            if leaders.len() == 1 && serving >= self.quorum() {
                return leaders[0];
            }
            if Instant::now() >= deadline {
                let why = if leaders.len() > 1 {
                    format!("{} members say they lead: {leaders:?}", leaders.len())
                } else if leaders.is_empty() {
                    "no leader".to_string()
                } else {
                    format!(
                        "a leader but only {serving} serving members, quorum is {}",
                        self.quorum()
                    )
                };
                panic!(
                    "{why} after {timeout:?} (members {modes:?});\n{}",
                    self.describe()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until a member serves (leader or follower); returns its mode.
    pub fn wait_serving(&mut self, index: usize, timeout: Duration) -> Mode {
        let deadline = Instant::now() + timeout;
        loop {
            let mode = self.mode(index);
            if matches!(mode, Mode::Leader | Mode::Follower | Mode::Observer) {
                return mode;
            }
            if Instant::now() >= deadline {
                panic!(
                    "member {index} does not serve after {timeout:?} (last answer {mode:?});\n{}",
                    self.describe()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until a member says it does not serve (no quorum) or refuses probes.
    pub fn wait_not_serving(&mut self, index: usize, timeout: Duration) -> Mode {
        let deadline = Instant::now() + timeout;
        loop {
            let mode = self.mode(index);
            if matches!(mode, Mode::NotServing | Mode::Unreachable(_)) {
                return mode;
            }
            if Instant::now() >= deadline {
                panic!(
                    "member {index} still answers {mode:?} {timeout:?} after it lost its quorum;\n{}",
                    self.describe()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every member's state and the tail of its log, for failure messages.
    pub fn describe(&mut self) -> String {
        let mut out = String::new();
        for index in 0..self.len() {
            let probe = self.probe(index);
            let member = &self.members[index];
            let _ = writeln!(
                out,
                "== member {index} (myid {}, client {}, quorum {}, election {}): {:?}, zxid {}",
                member.id,
                member.client,
                member.quorum,
                member.election,
                probe.mode,
                probe
                    .zxid
                    .map(|z| format!("0x{z:x}"))
                    .unwrap_or_else(|| "-".to_string())
            );
            let _ = writeln!(out, "{}", self.log_tail(index, LOG_TAIL_LINES));
        }
        let cut: Vec<String> = self
            .links
            .iter()
            .flatten()
            .flatten()
            .filter(|link| link.is_cut())
            .map(|link| link.name.clone())
            .collect();
        if !cut.is_empty() {
            let _ = writeln!(out, "== cut links: {}", cut.join(" "));
        }
        out
    }

    /// Cuts member `index` off from every other member, in both directions. Needs proxies.
    pub fn isolate(&self, index: usize) {
        let others: Vec<usize> = (0..self.len()).filter(|&i| i != index).collect();
        self.partition(&[index], &others);
    }

    /// Cuts every link between a member of `a` and a member of `b`, both directions.
    pub fn partition(&self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                self.link(x, y).cut();
                self.link(y, x).cut();
            }
        }
    }

    /// Black-holes every link between a member of `a` and a member of `b`, both directions:
    /// the connections stay open but carry nothing until healed, as behind an iptables DROP
    /// (see [`Proxy::black_hole`]).
    pub fn black_hole(&self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                self.link(x, y).black_hole();
                self.link(y, x).black_hole();
            }
        }
    }

    /// Black-holes the first address of every member in every other member's server lines
    /// (`two_addresses`): the links must fail over to the second.
    pub fn black_hole_first_addresses(&self) {
        for link in self.links.iter().flatten().flatten() {
            link.quorum.black_hole();
            link.election.black_hole();
        }
    }

    /// Restores every link.
    pub fn heal_all(&self) {
        for link in self.links.iter().flatten().flatten() {
            link.heal();
        }
    }

    /// The proxy addresses (quorum, election) member `from` dials to reach member `to`.
    pub fn link_addresses(&self, from: usize, to: usize) -> (SocketAddr, SocketAddr) {
        let link = self.link(from, to);
        (link.quorum.address(), link.election.address())
    }

    fn link(&self, from: usize, to: usize) -> &Link {
        self.links[from][to].as_ref().expect(
            "partitions need EnsembleOptions { proxies: true, .. } and two distinct members",
        )
    }

    /// `line` with `{ip}`, `{id}` and `{root}` replaced for member `index`.
    fn substitute(&self, index: usize, line: &str) -> String {
        let member = &self.members[index];
        line.replace("{ip}", &member.client.ip().to_string())
            .replace("{id}", &member.id.to_string())
            .replace("{root}", &self.root.display().to_string())
    }

    /// Appends `lines` (with the substitutions of `extra_config`) to a member's zoo.cfg; they
    /// take effect at its next start. Later lines win, so this also changes a key.
    pub fn append_config(&self, index: usize, lines: &[&str]) {
        let path = self.members[index].dir.join("zoo.cfg");
        let mut config = fs::read_to_string(&path).expect("reading zoo.cfg");
        for line in lines {
            config.push_str(&self.substitute(index, line));
            config.push('\n');
        }
        fs::write(path, config).expect("writing zoo.cfg");
    }

    fn write_config(&self, index: usize) {
        let options = &self.options;
        let member = &self.members[index];
        let mut config = format!(
            "tickTime={}\ninitLimit={}\nsyncLimit={}\ndataDir={}\nclientPort={}\n\
             clientPortAddress={}\n4lw.commands.whitelist=*\nadmin.enableServer=false\n\
             maxClientCnxns=0\n",
            options.tick_time_ms,
            options.init_limit,
            options.sync_limit,
            member.data_dir().display(),
            member.client.port(),
            member.client.ip(),
        );
        if let Some(shards) = options.shards {
            let _ = writeln!(config, "ringkeeper.shards={shards}");
        }
        let listed = if index < self.started_members() {
            self.started_members()
        } else {
            self.members.len()
        };
        for (other, peer) in self.members.iter().enumerate().take(listed) {
            // A member listens on its own line's ports and dials the others' lines, so the
            // others are listed at the proxy of the link this member dials through.
            let (quorum, election) = match &self.links[index][other] {
                Some(link) => (link.quorum.address(), link.election.address()),
                None => (peer.quorum, peer.election),
            };
            let mut line = format!("{}:{}:{}", quorum.ip(), quorum.port(), election.port());
            debug_assert_eq!(quorum.ip(), election.ip(), "one host per server line");
            if let Some((q, e)) = self.links[index][other]
                .as_ref()
                .and_then(|link| link.second.as_ref())
            {
                let _ = write!(
                    line,
                    "|{}:{}:{}",
                    q.address().ip(),
                    q.address().port(),
                    e.address().port()
                );
            }
            if self.is_observer(other) {
                line.push_str(":observer");
            }
            let _ = writeln!(config, "server.{}={line}", peer.id);
        }
        if self.is_observer(index) {
            config.push_str("peerType=observer\n");
        }
        if options.two_addresses {
            config.push_str("multiAddress.enabled=true\n");
        }
        for line in &options.extra_config {
            config.push_str(&self.substitute(index, line));
            config.push('\n');
        }
        fs::write(member.dir.join("zoo.cfg"), config).expect("writing zoo.cfg");
    }

    fn spawn(&mut self, index: usize) {
        let member = &mut self.members[index];
        member.spawns += 1;
        let log_path = member.dir.join("server.log");
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("opening the member log");
        let _ = writeln!(
            log,
            "----- harness: start #{} of myid {} -----",
            member.spawns, member.id
        );
        let log_err = log.try_clone().expect("cloning the member log handle");
        let mut command = match member.flavor {
            Flavor::Ringkeeper => Command::new(server_binary()),
            Flavor::Apache => {
                let mut java = Command::new("java");
                java.args(["-Xmx256m", "-XX:+UseSerialGC", "-cp"])
                    .arg(apache_classpath())
                    .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain");
                java
            }
        };
        let child = command
            .arg(member.dir.join("zoo.cfg"))
            // Plain text logs: they are read by people and quoted in failure messages.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|err| panic!("spawning member {index}: {err}"));
        member.child = Some(child);
    }

    /// Waits until the member's client port answers `srvr` at all (serving or not).
    fn wait_listening(&mut self, index: usize) {
        let deadline = Instant::now() + LISTEN_WAIT;
        loop {
            if let Some(child) = self.members[index].child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "member {index} (myid {}) exited with {status} at start-up; its log:\n{}",
                        self.members[index].id,
                        self.log_tail(index, 60)
                    );
                }
            }
            if let Ok(answer) = self.four_letter_word(index, "srvr") {
                if !answer.is_empty() {
                    return;
                }
            }
            if Instant::now() >= deadline {
                let tail = self.log_tail(index, 60);
                self.kill(index);
                panic!(
                    "member {index} did not answer srvr on {} within {LISTEN_WAIT:?}; its log:\n{tail}",
                    self.members[index].client
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for index in 0..self.len() {
            self.kill(index);
        }
        // Dropping the proxies stops their threads.
        self.links.clear();
        if std::env::var_os("RK_KEEP_ENSEMBLE").is_some() {
            eprintln!("RK_KEEP_ENSEMBLE: kept {}", self.root.display());
        } else {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

/// The server binary: this build's `ringkeeper`, or `RK_ENSEMBLE_BIN` (e.g. a release build,
/// or another revision's binary to check the harness against).
fn server_binary() -> PathBuf {
    std::env::var_os("RK_ENSEMBLE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ringkeeper")))
}

/// Classifies a `srvr` answer.
pub fn parse_srvr(answer: &str) -> Probe {
    if answer.contains("not currently serving requests") {
        return Probe {
            mode: Mode::NotServing,
            zxid: None,
        };
    }
    let field = |name: &str| {
        answer
            .lines()
            .find_map(|line| line.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    let zxid =
        field("Zxid:").and_then(|z| i64::from_str_radix(z.trim_start_matches("0x"), 16).ok());
    let mode = match field("Mode:").as_deref() {
        Some("leader") => Mode::Leader,
        Some("follower") => Mode::Follower,
        Some("observer") => Mode::Observer,
        Some("standalone") => Mode::Standalone,
        _ => Mode::Unreachable(format!("unexpected srvr answer {answer:?}")),
    };
    Probe { mode, zxid }
}

/// Distinct loopback addresses for the members, from the pid and the ensemble's instance so
/// that concurrent test processes rarely share one (ports are checked free anyway).
fn pick_ips(n: usize, instance: u32) -> Vec<Ipv4Addr> {
    let base = std::process::id()
        .wrapping_mul(31)
        .wrapping_add(instance * 17);
    (0..n as u32)
        .map(|k| {
            let octet = 2 + (base.wrapping_add(k)) % 250;
            Ipv4Addr::new(127, 0, 0, octet as u8)
        })
        .collect()
}

/// Three free ports on `ip`, all bound at once so they differ, with the listeners that hold
/// them: the caller drops those when nothing else of the harness will bind on `ip`.
fn free_ports(ip: Ipv4Addr) -> ([SocketAddr; 3], Vec<TcpListener>) {
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind((ip, 0)).unwrap_or_else(|err| panic!("binding {ip}:0: {err}")))
        .collect();
    let addresses: Vec<SocketAddr> = listeners
        .iter()
        .map(|l| l.local_addr().expect("a bound listener has an address"))
        .collect();
    ([addresses[0], addresses[1], addresses[2]], listeners)
}

/// The state of one proxy, shared by its threads.
struct LinkState {
    cut: AtomicBool,
    /// Black-holed: nothing is forwarded and new connections are held unanswered, but no
    /// connection is closed; healing resumes them all.
    holding: AtomicBool,
    /// Bumped by every cut and heal: a connection accepted under another generation ends.
    generation: AtomicU64,
    stop: AtomicBool,
}

/// A fault-injecting TCP proxy to one target address (std threads). While cut, it closes the
/// connections it carries and swallows new ones (accepted, read, never answered) until it is
/// healed, when the swallowed ones are closed so that their dialers reconnect.
pub struct Proxy {
    listen: SocketAddr,
    state: Arc<LinkState>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on an ephemeral port of `ip` and forwards every connection to `target`.
    pub fn start(ip: Ipv4Addr, target: SocketAddr) -> Proxy {
        let state = Arc::new(LinkState {
            cut: AtomicBool::new(false),
            holding: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        // Listening before the member configs are written means the port cannot be taken by
        // someone else in between.
        let listener = TcpListener::bind((ip, 0))
            .unwrap_or_else(|err| panic!("binding a proxy to {target} on {ip}: {err}"));
        listener
            .set_nonblocking(true)
            .expect("a nonblocking proxy listener");
        let listen = listener.local_addr().expect("proxy address");
        let shared = Arc::clone(&state);
        let acceptor = std::thread::spawn(move || accept_loop(listener, target, shared));
        Proxy {
            listen,
            state,
            acceptor: Some(acceptor),
        }
    }

    /// The address dialers connect to.
    pub fn address(&self) -> SocketAddr {
        self.listen
    }

    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        self.state.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Stops forwarding without closing anything, as an iptables DROP between the members
    /// would. The dialer's kernel still sees its data accepted (by the proxy's), so only the
    /// silence of the other side can tell it the link is dead. TCP's retransmission backoff
    /// is modelled: after the heal, a connection that carried data into the black hole
    /// resumes only at its next retransmission (RTO_MIN, doubling, from when it stalled), as
    /// it would behind a real DROP; connections made after the heal flow at once.
    pub fn black_hole(&self) {
        self.state.holding.store(true, Ordering::SeqCst);
    }

    pub fn heal(&self) {
        self.state.holding.store(false, Ordering::SeqCst);
        if self.state.cut.swap(false, Ordering::SeqCst) {
            self.state.generation.fetch_add(1, Ordering::SeqCst);
        }
    }

    pub fn is_cut(&self) -> bool {
        self.state.cut.load(Ordering::SeqCst) || self.state.holding.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// The proxies of one directed peer link: the dialing member connects to them instead of the
/// target member's quorum and election ports.
struct Link {
    name: String,
    quorum: Proxy,
    election: Proxy,
    /// The (quorum, election) proxies of the target's second address (`two_addresses`).
    second: Option<(Proxy, Proxy)>,
}

impl Link {
    fn start(name: String, quorum: SocketAddr, election: SocketAddr, two: bool) -> Link {
        let ip = match quorum.ip() {
            std::net::IpAddr::V4(ip) => ip,
            other => panic!("members listen on IPv4 loopback, not {other}"),
        };
        // The second address: the same last octets on 127.1.x.x, also loopback.
        let [_, _, c, d] = ip.octets();
        let second_ip = Ipv4Addr::new(127, 1, c, d);
        // Both on the target's address: a server line has one host for both ports.
        Link {
            name,
            quorum: Proxy::start(ip, quorum),
            election: Proxy::start(ip, election),
            second: two.then(|| {
                (
                    Proxy::start(second_ip, quorum),
                    Proxy::start(second_ip, election),
                )
            }),
        }
    }

    fn proxies(&self) -> impl Iterator<Item = &Proxy> {
        let second = self.second.iter().flat_map(|(q, e)| [q, e]);
        [&self.quorum, &self.election].into_iter().chain(second)
    }

    fn cut(&self) {
        self.proxies().for_each(Proxy::cut);
    }

    fn black_hole(&self) {
        self.proxies().for_each(Proxy::black_hole);
    }

    fn heal(&self) {
        self.proxies().for_each(Proxy::heal);
    }

    fn is_cut(&self) -> bool {
        self.quorum.is_cut()
    }
}

fn accept_loop(listener: TcpListener, target: SocketAddr, state: Arc<LinkState>) {
    while !state.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((inbound, _)) => {
                let _ = inbound.set_nonblocking(false);
                let generation = state.generation.load(Ordering::SeqCst);
                let state = Arc::clone(&state);
                if state.holding.load(Ordering::SeqCst) {
                    // Behind a DROP a dial never completes; the dialer gives up after its
                    // connect timeout and dials again. Here the listener's kernel has already
                    // completed it, so it is closed: the dialer sees the failure at once.
                    let _ = inbound.shutdown(Shutdown::Both);
                } else if state.cut.load(Ordering::SeqCst) {
                    // A cut link accepts and swallows: the dialer sees a connection that never
                    // answers, as behind a dropped route, until the link heals.
                    std::thread::spawn(move || swallow(inbound, generation, state));
                } else {
                    std::thread::spawn(move || forward(inbound, target, generation, state));
                }
            }
            Err(err) if err.kind() == ErrorKind::WouldBlock => std::thread::sleep(PROXY_POLL),
            Err(_) => std::thread::sleep(PROXY_POLL),
        }
    }
}

/// Waits while the link is black-holed, then until the next retransmission of a connection
/// that stalled at `stalled` (see [`Proxy::black_hole`]); false if the proxy stops meanwhile.
fn wait_resumed(state: &LinkState, stalled: Instant) -> bool {
    while state.holding.load(Ordering::SeqCst) {
        if state.stop.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(PROXY_POLL);
    }
    let mut retransmit = stalled + RTO_MIN;
    let mut rto = RTO_MIN;
    while retransmit < Instant::now() {
        rto = (rto * 2).min(RTO_MAX);
        retransmit += rto;
    }
    while Instant::now() < retransmit {
        if state.stop.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(PROXY_POLL.min(retransmit - Instant::now()));
    }
    true
}

fn link_changed(state: &LinkState, generation: u64) -> bool {
    state.stop.load(Ordering::SeqCst) || state.generation.load(Ordering::SeqCst) != generation
}

/// Reads and drops whatever a connection accepted on a cut link sends, then closes it once the
/// link changes (healed), so that the dialer reconnects through the healed link.
fn swallow(mut inbound: TcpStream, generation: u64, state: Arc<LinkState>) {
    let _ = inbound.set_read_timeout(Some(PROXY_POLL));
    let mut buffer = [0u8; 16 * 1024];
    while !link_changed(&state, generation) {
        match inbound.read(&mut buffer) {
            Ok(0) => return,
            Ok(_) => {}
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
    let _ = inbound.shutdown(Shutdown::Both);
}

/// Connects to the target and pumps bytes both ways until either side closes or the link is
/// cut, in which case both sides are closed.
fn forward(inbound: TcpStream, target: SocketAddr, generation: u64, state: Arc<LinkState>) {
    let Ok(outbound) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) else {
        // The target is down: refuse the way a closed port would, by closing.
        let _ = inbound.shutdown(Shutdown::Both);
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (Ok(inbound2), Ok(outbound2)) = (inbound.try_clone(), outbound.try_clone()) else {
        return;
    };
    let state2 = Arc::clone(&state);
    let reverse = std::thread::spawn(move || pump(outbound2, inbound2, generation, state2));
    pump(inbound, outbound, generation, state);
    let _ = reverse.join();
}

fn pump(mut from: TcpStream, mut to: TcpStream, generation: u64, state: Arc<LinkState>) {
    let _ = from.set_read_timeout(Some(PROXY_POLL));
    let mut buffer = [0u8; 64 * 1024];
    loop {
        if link_changed(&state, generation) {
            break;
        }
        if state.holding.load(Ordering::SeqCst) {
            if !wait_resumed(&state, Instant::now()) {
                break;
            }
            continue;
        }
        match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => {
                if to.write_all(&buffer[..count]).is_err() {
                    break;
                }
            }
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    // Closing both directions of both sockets ends the other pump too.
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
