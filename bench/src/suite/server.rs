//! Starting and stopping the servers the suite measures: ringkeeper's release binary or
//! Apache ZooKeeper 3.8 from Debian's package, each on its own 127.0.0.x address with a
//! zoo.cfg written here (forceSync on for both), the same way ci/server.sh does.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Debian classpath ci/lib.sh uses for Apache ZooKeeper 3.8.
pub const APACHE_CLASSPATH: &str = "/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar";
/// How long a server may take to answer `ruok` and serve.
pub const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a server may take to exit after SIGTERM before SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Which implementation a server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerKind {
    /// ringkeeper, from this binary.
    Ringkeeper(PathBuf),
    /// Apache ZooKeeper via `java`, with this classpath.
    Apache(String),
    /// A server already running at this `host:port`, which the suite neither starts nor
    /// restarts (`--compare HOST:PORT`): only the latency scenarios run against it.
    External(String),
}

impl ServerKind {
    /// `ringkeeper` or `apache`.
    pub fn name(&self) -> &'static str {
        match self {
            ServerKind::Ringkeeper(_) => "ringkeeper",
            ServerKind::Apache(_) => "apache",
            ServerKind::External(_) => "other",
        }
    }

    /// Whether the suite starts (and may restart) this server itself.
    pub fn managed(&self) -> bool {
        !matches!(self, ServerKind::External(_))
    }
}

/// A running server.
pub struct Server {
    /// What it is.
    pub kind: ServerKind,
    /// Its directory: zoo.cfg, data/, server.log.
    pub dir: PathBuf,
    /// `host:port` of the client port.
    pub addr: String,
    /// Ensemble member id, if it is one.
    pub myid: Option<u32>,
    /// Command-line arguments beyond the defaults ([`Launch::args`]).
    pub args: Vec<String>,
    child: Option<Child>,
}

/// Picks a free port on a random-ish 127.0.0.x, so that runs do not collide with each
/// other or with CI stages using 127.0.0.1.
pub fn pick_addr(salt: u32) -> std::io::Result<String> {
    let x = 2 + (std::process::id().wrapping_add(salt.wrapping_mul(7919)) % 250);
    let ip = format!("127.0.0.{x}");
    let l = TcpListener::bind((ip.as_str(), 0))?;
    Ok(format!("{ip}:{}", l.local_addr()?.port()))
}

/// How a server is configured beyond its client address: extra zoo.cfg lines, extra
/// command-line arguments and, for an ensemble member, its id (written to `dataDir/myid`;
/// Apache then runs `QuorumPeerMain`).
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// Lines appended to zoo.cfg, each ending in a newline.
    pub extra_cfg: String,
    /// This member's id, for an ensemble.
    pub myid: Option<u32>,
    /// For ringkeeper, flags after the zoo.cfg path (`--shards=8`); for Apache, JVM
    /// options before the main class (`-Xmx2g`).
    pub args: Vec<String>,
}

/// The program and arguments that start a server of `kind` with the zoo.cfg at `cfg`.
/// `log4j` is the log4j.properties Apache is pointed at. Also what the report shows as the
/// server's command line.
pub fn command_line(
    kind: &ServerKind,
    launch: &Launch,
    cfg: &Path,
    log4j: &Path,
) -> Option<(String, Vec<String>)> {
    match kind {
        ServerKind::External(_) => None,
        ServerKind::Ringkeeper(bin) => {
            let mut args = vec![cfg.display().to_string()];
            args.extend(launch.args.iter().cloned());
            Some((bin.display().to_string(), args))
        }
        ServerKind::Apache(cp) => {
            let main = if launch.myid.is_some() {
                "org.apache.zookeeper.server.quorum.QuorumPeerMain"
            } else {
                "org.apache.zookeeper.server.ZooKeeperServerMain"
            };
            let mut args = vec!["-cp".to_string(), cp.clone()];
            args.extend(launch.args.iter().cloned());
            args.push(format!("-Dlog4j.configuration=file:{}", log4j.display()));
            args.push("-Dzookeeper.forceSync=yes".to_string());
            args.push(main.to_string());
            args.push(cfg.display().to_string());
            Some(("java".to_string(), args))
        }
    }
}

impl Server {
    /// Writes zoo.cfg into `dir` (keeping an existing data directory) and starts the
    /// server on `addr`; returns once it serves.
    pub fn start(kind: ServerKind, dir: &Path, addr: &str) -> Result<Server, String> {
        if let ServerKind::External(external) = &kind {
            return Server::attach(external, dir);
        }
        Server::start_with(kind, dir, addr, &Launch::default())
    }

    /// A server someone else runs: checked to answer, never started or stopped.
    pub fn attach(addr: &str, dir: &Path) -> Result<Server, String> {
        let mut server = Server {
            kind: ServerKind::External(addr.to_owned()),
            dir: dir.to_owned(),
            addr: addr.to_owned(),
            myid: None,
            args: Vec::new(),
            child: None,
        };
        server.wait_serving().map_err(|e| format!("{addr}: {e}"))?;
        Ok(server)
    }

    /// [`Server::start`] with extra configuration.
    pub fn start_with(
        kind: ServerKind,
        dir: &Path,
        addr: &str,
        launch: &Launch,
    ) -> Result<Server, String> {
        let mut server = Server::spawn(kind, dir, addr, launch)?;
        server.wait_serving()?;
        Ok(server)
    }

    /// Writes the configuration and starts the process without waiting for it to serve:
    /// an ensemble member cannot serve before a quorum of its peers runs too.
    pub fn spawn(
        kind: ServerKind,
        dir: &Path,
        addr: &str,
        launch: &Launch,
    ) -> Result<Server, String> {
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("bad address {addr}"))?;
        let data = dir.join("data");
        std::fs::create_dir_all(&data).map_err(|e| format!("create {}: {e}", data.display()))?;
        if let Some(id) = launch.myid {
            std::fs::write(data.join("myid"), format!("{id}\n"))
                .map_err(|e| format!("write myid: {e}"))?;
        }
        let cfg = format!(
            "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={port}\n\
             clientPortAddress={host}\nmaxClientCnxns=0\nadmin.enableServer=false\n\
             4lw.commands.whitelist=*\nforceSync=yes\n{}",
            data.display(),
            launch.extra_cfg
        );
        let cfg_path = dir.join("zoo.cfg");
        std::fs::write(&cfg_path, cfg).map_err(|e| format!("write zoo.cfg: {e}"))?;
        let mut server = Server {
            kind,
            dir: dir.to_path_buf(),
            addr: addr.to_string(),
            myid: launch.myid,
            args: launch.args.clone(),
            child: None,
        };
        server.respawn()?;
        Ok(server)
    }

    /// Starts the process again from the zoo.cfg already in its directory (after
    /// [`Server::stop`] or [`Server::kill`]); does not wait for it to serve. The log is
    /// appended to, so lines of earlier runs stay readable.
    pub fn respawn(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Err(format!("{} is still running", self.kind.name()));
        }
        let cfg_path = self.dir.join("zoo.cfg");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .map_err(|e| format!("open server.log: {e}"))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let props = self.dir.join("log4j.properties");
        if let ServerKind::Apache(_) = &self.kind {
            // ZooKeeperServer at INFO for its "Snapshot taken in N ms" line, which the
            // snapshot scenario reads as Apache's own account of a snapshot.
            std::fs::write(
                &props,
                format!(
                    "log4j.rootLogger=WARN, FILE\nlog4j.logger.org.apache.zookeeper.server.ZooKeeperServer=INFO\n\
                     log4j.appender.FILE=org.apache.log4j.FileAppender\n\
                     log4j.appender.FILE.File={}\nlog4j.appender.FILE.layout=org.apache.log4j.PatternLayout\n\
                     log4j.appender.FILE.layout.ConversionPattern=%d %-5p %m%n\n",
                    self.dir.join("server.log").display()
                ),
            )
            .map_err(|e| format!("write log4j.properties: {e}"))?;
        }
        let launch = Launch {
            extra_cfg: String::new(),
            myid: self.myid,
            args: self.args.clone(),
        };
        let (program, args) = command_line(&self.kind, &launch, &cfg_path, &props)
            .ok_or_else(|| format!("{} is not started by the suite", self.addr))?;
        let mut cmd = Command::new(program);
        cmd.args(args).env("NO_COLOR", "1");
        // Its own process group keeps a Ctrl-C of the suite from reaching the server
        // before the suite has stopped it itself.
        cmd.stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| format!("start {}: {e}", self.kind.name()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Whether the process has been started and has not exited.
    pub fn running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL and reap: a crash, as the failover scenario needs it. Idempotent.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// User plus system CPU seconds the server has used, from /proc/PID/stat.
    pub fn cpu_seconds(&self) -> Option<f64> {
        crate::proc_stat::cpu_seconds(self.pid()?)
    }

    /// Resident set size in bytes, from /proc/PID/status.
    pub fn rss_bytes(&self) -> Option<u64> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// Waits until the server answers `ruok` and serves, or fails after [`START_TIMEOUT`].
    pub fn wait_serving(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!(
                        "{} exited during start-up ({status}); see {}",
                        self.kind.name(),
                        self.dir.join("server.log").display()
                    ));
                }
            }
            // Apache answers ruok while its database is still loading, so srvr must also
            // stop saying it is not serving.
            if four_letter(&self.addr, "ruok").as_deref() == Some("imok")
                && !four_letter(&self.addr, "srvr")
                    .unwrap_or_default()
                    .contains("not currently serving")
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        Err(format!(
            "{} did not serve on {} within {:?}",
            self.kind.name(),
            self.addr,
            START_TIMEOUT
        ))
    }

    /// SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]. Idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id() as libc::pid_t;
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Picks a free port on `ip` (bound and released: another process could take it in
/// between, which on a loopback address of its own is unlikely).
pub fn free_port(ip: &str) -> std::io::Result<u16> {
    let l = TcpListener::bind((ip, 0))?;
    Ok(l.local_addr()?.port())
}

/// The `Mode:` line of a `srvr` answer: `leader`, `follower`, `standalone`, ..., or
/// `not serving` when the server says it is not serving requests.
pub fn srvr_mode(srvr: &str) -> Option<String> {
    if srvr.contains("not currently serving") {
        return Some("not serving".to_string());
    }
    srvr.lines()
        .find_map(|l| l.strip_prefix("Mode:"))
        .map(|m| m.trim().to_string())
}

/// Sends a four-letter word and returns the trimmed answer, or `None` on any failure.
pub fn four_letter(addr: &str, word: &str) -> Option<String> {
    let sock: std::net::SocketAddr = addr.parse().ok()?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out.trim().to_string())
}
