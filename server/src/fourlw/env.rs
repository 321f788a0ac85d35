//! `envi`: the server's environment in Apache's `Environment.list` order.

use std::fmt::Write as _;

/// Apache prints this for a property it cannot read.
pub const NOT_AVAILABLE: &str = "<NA>";

/// The environment `envi` reports. Apache's `java.*` lines print `<NA>`:
/// there is no JVM, and a made-up value would mislead whoever reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    /// Printed as `zookeeper.version=`; kazoo parses its leading numbers.
    pub zookeeper_version: String,
    pub host_name: String,
    pub tmp_dir: String,
    /// Java spellings: `Linux`, `amd64`, the kernel release.
    pub os_name: String,
    pub os_arch: String,
    pub os_version: String,
    pub user_name: String,
    pub user_home: String,
    pub user_dir: String,
    /// Memory in MiB: Apache reports the JVM heap (free, max, total); we
    /// report the machine's available, total and total memory.
    pub memory_free_mb: u64,
    pub memory_max_mb: u64,
    pub memory_total_mb: u64,
}

impl Environment {
    /// Gathers the environment of this process from std and `/proc`; any
    /// value that cannot be read becomes `<NA>` (or 0 for memory).
    pub fn collect(zookeeper_version: &str) -> Environment {
        let read_proc = |path: &str| {
            std::fs::read_to_string(path)
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| NOT_AVAILABLE.to_owned())
        };
        let env_or_na =
            |name: &str| std::env::var(name).unwrap_or_else(|_| NOT_AVAILABLE.to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let total = meminfo_kib(&meminfo, "MemTotal:").unwrap_or(0) / 1024;
        let available = meminfo_kib(&meminfo, "MemAvailable:").unwrap_or(0) / 1024;
        Environment {
            zookeeper_version: zookeeper_version.to_owned(),
            host_name: read_proc("/proc/sys/kernel/hostname"),
            tmp_dir: std::env::temp_dir().display().to_string(),
            os_name: java_os_name(std::env::consts::OS),
            os_arch: java_arch(std::env::consts::ARCH).to_owned(),
            os_version: read_proc("/proc/sys/kernel/osrelease"),
            user_name: env_or_na("USER"),
            user_home: env_or_na("HOME"),
            user_dir: std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| NOT_AVAILABLE.to_owned()),
            memory_free_mb: available,
            memory_max_mb: total,
            memory_total_mb: total,
        }
    }
}

fn meminfo_kib(meminfo: &str, field: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Java's `os.name` spelling for Rust's `std::env::consts::OS`.
fn java_os_name(os: &str) -> String {
    match os {
        "linux" => "Linux".to_owned(),
        "macos" => "Mac OS X".to_owned(),
        "freebsd" => "FreeBSD".to_owned(),
        other => other.to_owned(),
    }
}

/// Java's `os.arch` spelling for Rust's `std::env::consts::ARCH`.
fn java_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "x86" => "x86",
        other => other,
    }
}

/// The `envi` answer.
pub fn render_envi(env: &Environment) -> String {
    let memory = |mb: u64| format!("{mb}MB");
    let entries: [(&str, String); 18] = [
        ("zookeeper.version", env.zookeeper_version.clone()),
        ("host.name", env.host_name.clone()),
        ("java.version", NOT_AVAILABLE.to_owned()),
        ("java.vendor", NOT_AVAILABLE.to_owned()),
        ("java.home", NOT_AVAILABLE.to_owned()),
        ("java.class.path", NOT_AVAILABLE.to_owned()),
        ("java.library.path", NOT_AVAILABLE.to_owned()),
        ("java.io.tmpdir", env.tmp_dir.clone()),
        ("java.compiler", NOT_AVAILABLE.to_owned()),
        ("os.name", env.os_name.clone()),
        ("os.arch", env.os_arch.clone()),
        ("os.version", env.os_version.clone()),
        ("user.name", env.user_name.clone()),
        ("user.home", env.user_home.clone()),
        ("user.dir", env.user_dir.clone()),
        ("os.memory.free", memory(env.memory_free_mb)),
        ("os.memory.max", memory(env.memory_max_mb)),
        ("os.memory.total", memory(env.memory_total_mb)),
    ];
    let mut out = String::from("Environment:\n");
    for (key, value) in entries {
        let _ = writeln!(out, "{key}={value}");
    }
    out
}
