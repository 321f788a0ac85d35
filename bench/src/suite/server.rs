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
}

impl ServerKind {
    /// `ringkeeper` or `apache`.
    pub fn name(&self) -> &'static str {
        match self {
            ServerKind::Ringkeeper(_) => "ringkeeper",
            ServerKind::Apache(_) => "apache",
        }
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

impl Server {
    /// Writes zoo.cfg into `dir` (keeping an existing data directory) and starts the
    /// server on `addr`; returns once it serves.
    pub fn start(kind: ServerKind, dir: &Path, addr: &str) -> Result<Server, String> {
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("bad address {addr}"))?;
        let data = dir.join("data");
        std::fs::create_dir_all(&data).map_err(|e| format!("create {}: {e}", data.display()))?;
        let cfg = format!(
            "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={port}\n\
             clientPortAddress={host}\nmaxClientCnxns=0\nadmin.enableServer=false\n\
             4lw.commands.whitelist=*\nforceSync=yes\n",
            data.display()
        );
        let cfg_path = dir.join("zoo.cfg");
        std::fs::write(&cfg_path, cfg).map_err(|e| format!("write zoo.cfg: {e}"))?;
        let log = std::fs::File::create(dir.join("server.log"))
            .map_err(|e| format!("create server.log: {e}"))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = match &kind {
            ServerKind::Ringkeeper(bin) => {
                let mut c = Command::new(bin);
                c.arg(&cfg_path).env("NO_COLOR", "1");
                c
            }
            ServerKind::Apache(cp) => {
                let props = dir.join("log4j.properties");
                std::fs::write(
                    &props,
                    format!(
                        "log4j.rootLogger=WARN, FILE\nlog4j.appender.FILE=org.apache.log4j.FileAppender\n\
                         log4j.appender.FILE.File={}\nlog4j.appender.FILE.layout=org.apache.log4j.PatternLayout\n\
                         log4j.appender.FILE.layout.ConversionPattern=%d %-5p %m%n\n",
                        dir.join("server.log").display()
                    ),
                )
                .map_err(|e| format!("write log4j.properties: {e}"))?;
                let mut c = Command::new("java");
                c.arg("-cp")
                    .arg(cp)
                    .arg(format!("-Dlog4j.configuration=file:{}", props.display()))
                    .arg("-Dzookeeper.forceSync=yes")
                    .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
                    .arg(&cfg_path);
                c
            }
        };
        // Its own process group keeps a Ctrl-C of the suite from reaching the server
        // before the suite has stopped it itself.
        cmd.stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| format!("start {}: {e}", kind.name()))?;
        let mut server = Server {
            kind,
            dir: dir.to_path_buf(),
            addr: addr.to_string(),
            child: Some(child),
        };
        server.wait_serving()?;
        Ok(server)
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Resident set size in bytes, from /proc/PID/status.
    pub fn rss_bytes(&self) -> Option<u64> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    fn wait_serving(&mut self) -> Result<(), String> {
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
