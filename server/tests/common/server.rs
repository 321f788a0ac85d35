//! Starting and stopping the server under test, either ringkeeper or Apache ZooKeeper.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Which implementation the suite runs against, chosen by `RK_TEST_SERVER`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Ringkeeper,
    Apache,
}

impl Flavor {
    /// Reads `RK_TEST_SERVER`: `apache` selects Apache ZooKeeper, anything else ringkeeper.
    pub fn from_env() -> Flavor {
        match std::env::var("RK_TEST_SERVER") {
            Ok(value) if value.eq_ignore_ascii_case("apache") => Flavor::Apache,
            _ => Flavor::Ringkeeper,
        }
    }
}

/// The knobs a test may turn; everything else is the server's default.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub tick_time_ms: u32,
    pub min_session_timeout_ms: Option<u32>,
    pub max_session_timeout_ms: Option<u32>,
    /// `user:base64(sha1(user:password))`, the value of
    /// `zookeeper.DigestAuthenticationProvider.superDigest`.
    pub super_digest: Option<String>,
    /// Enables TTL nodes (`zookeeper.extendedTypesEnabled`).
    pub extended_types: bool,
    /// The `4lw.commands.whitelist` value; `*` allows every word. Empty writes no
    /// whitelist line, which leaves the default (`srvr` only).
    pub four_letter_words: String,
    /// `maxClientCnxns`: connections per client address (0: no limit).
    pub max_client_cnxns: u32,
    /// `globalOutstandingLimit`, when set.
    pub global_outstanding_limit: Option<u32>,
    /// Further `key=value` lines for zoo.cfg.
    pub extra_config: Vec<String>,
    /// Further Java system properties (`-Dkey=value`; ringkeeper takes them as `-D` too),
    /// for settings Apache reads only that way, such as `znode.container.*`.
    pub extra_properties: Vec<(String, String)>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            tick_time_ms: 500,
            min_session_timeout_ms: None,
            max_session_timeout_ms: None,
            super_digest: None,
            extended_types: false,
            four_letter_words: "*".to_string(),
            max_client_cnxns: 0,
            global_outstanding_limit: None,
            extra_config: Vec::new(),
            extra_properties: Vec::new(),
        }
    }
}

impl ServerOptions {
    /// A short tick so that session expiry tests finish quickly.
    pub fn fast_expiry() -> Self {
        ServerOptions {
            tick_time_ms: 200,
            ..Default::default()
        }
    }
}

/// The digest of `super:test`, ZooKeeper's documented example super user.
pub const SUPER_DIGEST: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";
/// The credentials matching `SUPER_DIGEST`.
pub const SUPER_CREDENTIALS: &str = "super:test";

/// How long a server may take to answer `ruok` after it was spawned. The JVM on a busy two-core
/// machine is the slow case.
const STARTUP_WAIT: Duration = Duration::from_secs(60);
/// How long a server may take to exit after SIGTERM before it is killed.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

static INSTANCE_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A running server with its own loopback address, port and data directory.
pub struct TestServer {
    flavor: Flavor,
    options: ServerOptions,
    address: SocketAddr,
    dir: PathBuf,
    child: Option<Child>,
}

impl TestServer {
    /// Starts a server with the given options and waits until it answers `ruok`.
    pub fn start(options: ServerOptions) -> TestServer {
        TestServer::start_as(Flavor::from_env(), options)
    }

    /// Starts the given implementation whatever `RK_TEST_SERVER` says (migration tests
    /// start Apache first and then the server under test on its data).
    pub fn start_as(flavor: Flavor, options: ServerOptions) -> TestServer {
        let instance = INSTANCE_COUNTER.fetch_add(1, Ordering::SeqCst);
        let address = pick_address(instance);
        let dir = std::env::temp_dir().join(format!("rk-test-{}-{instance}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("data")).expect("creating the test data directory");
        let mut server = TestServer {
            flavor,
            options,
            address,
            dir,
            child: None,
        };
        server.spawn();
        server
    }

    /// Starts a server with default options.
    pub fn start_default() -> TestServer {
        TestServer::start(ServerOptions::default())
    }

    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    pub fn options(&self) -> &ServerOptions {
        &self.options
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The `host:port` string clients connect to.
    pub fn connect_string(&self) -> String {
        self.address.to_string()
    }

    /// The server process's id while it runs, e.g. to count its descriptors in /proc.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Stops the server (SIGTERM) and starts it again on the same address with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Stops the server (SIGTERM) and starts `flavor` on the same address, zoo.cfg and
    /// data directory, as an operator moving from Apache to ringkeeper does.
    pub fn restart_as(&mut self, flavor: Flavor) {
        self.stop();
        self.flavor = flavor;
        self.spawn();
    }

    /// Kills the server abruptly (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server politely, killing it if it does not exit in time.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: kill(2) with a pid we spawned and still own; no memory is involved.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + SHUTDOWN_WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The server's stderr so far, for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Sends a four-letter word on a fresh connection and returns the whole answer.
    pub fn four_letter_word(&self, word: &str) -> String {
        four_letter_word(self.address, word).unwrap_or_else(|err| panic!("4lw {word}: {err}"))
    }

    fn spawn(&mut self) {
        let config_path = self.write_config();
        let log_path = self.dir.join("server.log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("opening the server log");
        let log_err = log.try_clone().expect("cloning the server log handle");
        let properties = self.system_properties();
        let mut command = match self.flavor {
            Flavor::Apache => {
                let mut command = Command::new("java");
                command
                    .arg("-Xmx256m")
                    .arg("-XX:+UseSerialGC")
                    .arg("-Xshare:auto");
                for (key, value) in &properties {
                    command.arg(format!("-D{key}={value}"));
                }
                command
                    .arg("-cp")
                    .arg(apache_classpath())
                    .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
                    .arg(&config_path);
                command
            }
            Flavor::Ringkeeper => {
                let mut command = Command::new(env!("CARGO_BIN_EXE_ringkeeper"));
                command.arg(&config_path);
                for (key, value) in &properties {
                    command.arg("-D").arg(format!("{key}={value}"));
                }
                command
            }
        };
        command.stdin(Stdio::null()).stdout(log).stderr(log_err);
        let child = command
            .spawn()
            .unwrap_or_else(|err| panic!("spawning the {:?} server: {err}", self.flavor));
        self.child = Some(child);
        self.wait_until_ready();
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + STARTUP_WAIT;
        loop {
            // Apache answers ruok before its database is loaded and refuses sessions until then;
            // srvr says so, which tells "listening" apart from "serving".
            // Under a whitelist without ruok the refusal still shows the port is listening.
            let ruok = four_letter_word(self.address, "ruok").unwrap_or_default();
            if ruok == "imok" || ruok.starts_with("ruok is not executed") {
                let srvr = four_letter_word(self.address, "srvr").unwrap_or_default();
                if !srvr.contains("not currently serving requests") {
                    return;
                }
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "the {:?} server exited with {status} before answering ruok; its log:\n{}",
                        self.flavor,
                        self.log()
                    );
                }
            }
            if Instant::now() >= deadline {
                let log = self.log();
                self.kill();
                panic!(
                    "the {:?} server did not answer ruok on {} within {STARTUP_WAIT:?}; its log:\n{log}",
                    self.flavor, self.address
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn write_config(&self) -> PathBuf {
        let options = &self.options;
        let mut config = format!(
            "tickTime={}\ndataDir={}\nclientPort={}\nclientPortAddress={}\n\
             admin.enableServer=false\nmaxClientCnxns={}\n",
            options.tick_time_ms,
            self.data_dir().display(),
            self.address.port(),
            self.address.ip(),
            options.max_client_cnxns,
        );
        if !options.four_letter_words.is_empty() {
            config.push_str(&format!(
                "4lw.commands.whitelist={}\n",
                options.four_letter_words
            ));
        }
        for line in &options.extra_config {
            config.push_str(line);
            config.push('\n');
        }
        if let Some(limit) = options.global_outstanding_limit {
            config.push_str(&format!("globalOutstandingLimit={limit}\n"));
        }
        if let Some(min) = options.min_session_timeout_ms {
            config.push_str(&format!("minSessionTimeout={min}\n"));
        }
        if let Some(max) = options.max_session_timeout_ms {
            config.push_str(&format!("maxSessionTimeout={max}\n"));
        }
        let path = self.dir.join("zoo.cfg");
        fs::write(&path, config).expect("writing zoo.cfg");
        path
    }

    /// Settings that Apache takes as Java system properties rather than zoo.cfg keys.
    fn system_properties(&self) -> Vec<(String, String)> {
        let mut properties = self.options.extra_properties.clone();
        if let Some(digest) = &self.options.super_digest {
            properties.push((
                "zookeeper.DigestAuthenticationProvider.superDigest".to_string(),
                digest.clone(),
            ));
        }
        if self.options.extended_types {
            properties.push((
                "zookeeper.extendedTypesEnabled".to_string(),
                "true".to_string(),
            ));
        }
        properties
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Whether Debian's Apache ZooKeeper is installed (CI installs it; tests that need it say
/// so and skip without it).
pub fn apache_installed() -> bool {
    std::env::var_os("RK_APACHE_CLASSPATH").is_some()
        || std::path::Path::new("/usr/share/java/zookeeper.jar").exists()
}

/// The classpath of the Debian `zookeeper` package: its jar's manifest names its dependencies
/// but for netty's codec and resolver, which the Netty connection factory (needed for TLS)
/// loads; slf4j-simple sends the log to stderr. `RK_APACHE_CLASSPATH` overrides it.
pub fn apache_classpath() -> String {
    std::env::var("RK_APACHE_CLASSPATH").unwrap_or_else(|_| {
        "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar:/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar".to_string()
    })
}

/// Picks a loopback address unlikely to be used by a concurrent test process (the last octet
/// comes from the pid and a per-process counter) and a port that was free a moment ago.
fn pick_address(instance: u32) -> SocketAddr {
    for attempt in 0..64u32 {
        let octet = 2
            + (std::process::id()
                .wrapping_mul(7)
                .wrapping_add(instance * 13 + attempt))
                % 248;
        let ip = Ipv4Addr::new(127, 0, 0, octet as u8);
        if let Ok(listener) = TcpListener::bind((ip, 0)) {
            if let Ok(address) = listener.local_addr() {
                return address;
            }
        }
    }
    panic!("no free loopback address and port found");
}

/// Sends a four-letter word and reads the answer until the server closes the connection.
pub fn four_letter_word(address: SocketAddr, word: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(word.as_bytes())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}
