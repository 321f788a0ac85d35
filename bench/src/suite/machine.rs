//! What the report says about the machine: CPU, cores, kernel, the disk under the data
//! directory, and two measured baselines the targets are stated against: the disk's
//! fdatasync latency and a bare loopback TCP round trip.

use crate::stats::{new_histogram, summarize, OpStats, Summary};
use serde::Serialize;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Instant;

/// Bytes written before each fdatasync: one small group-commit batch.
pub const FSYNC_WRITE_BYTES: usize = 4096;
/// Bytes sent each way per loopback round trip: about a getData request.
pub const RTT_MESSAGE_BYTES: usize = 48;

/// The machine a report was measured on.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct MachineInfo {
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// Online CPUs.
    pub cores: usize,
    /// `uname -r`.
    pub kernel: String,
    /// Block device, filesystem and rotational flag under the data directory.
    pub disk: String,
    /// Load average (1, 5, 15 min) when the suite started.
    pub loadavg_start: String,
    /// Load average when the suite ended.
    pub loadavg_end: String,
    /// Total memory from /proc/meminfo.
    pub mem_total: String,
    /// Latency of write(4 KiB) + fdatasync in the data directory.
    pub fdatasync: Summary,
    /// Latency of a 48-byte request/response over loopback TCP with TCP_NODELAY.
    pub loopback_rtt: Summary,
}

/// Gathers the static facts; the measured ones are filled by [`measure_fdatasync`] and
/// [`measure_loopback_rtt`].
pub fn describe(
    data_dir: &Path,
    fsync_rounds: u32,
    rtt_rounds: u32,
) -> std::io::Result<MachineInfo> {
    Ok(MachineInfo {
        cpu_model: read_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into()),
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into()),
        disk: describe_disk(data_dir),
        loadavg_start: loadavg(),
        loadavg_end: String::new(),
        mem_total: read_field("/proc/meminfo", "MemTotal").unwrap_or_else(|| "unknown".into()),
        fdatasync: measure_fdatasync(data_dir, fsync_rounds)?,
        loopback_rtt: measure_loopback_rtt(rtt_rounds)?,
    })
}

/// The first `key: value` line of a /proc file.
fn read_field(file: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// The current /proc/loadavg, first three fields.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Finds the mount holding `dir` in /proc/self/mounts (longest prefix) and describes its
/// device, filesystem type and whether the kernel thinks it rotates.
fn describe_disk(dir: &Path) -> String {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let best = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && dir.starts_with(f[1])).then(|| (f[0], f[1], f[2]))
        })
        .max_by_key(|(_, mount, _)| mount.len());
    let Some((dev, mount, fs)) = best else {
        return "unknown".into();
    };
    let name = dev.trim_start_matches("/dev/");
    let base: String = name
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .trim_end_matches('p')
        .to_string();
    let rotational = std::fs::read_to_string(format!("/sys/block/{base}/queue/rotational"))
        .map(|s| s.trim() == "1")
        .ok();
    let model = std::fs::read_to_string(format!("/sys/block/{base}/device/model"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    format!(
        "{dev} ({fs} on {mount}{}{})",
        if model.is_empty() {
            String::new()
        } else {
            format!(", model {model}")
        },
        match rotational {
            Some(true) => ", rotational per kernel (virtual disks often report this)",
            Some(false) => ", non-rotational",
            None => "",
        }
    )
}

/// Appends 4 KiB and calls fdatasync, `rounds` times, in a scratch file inside `dir`.
pub fn measure_fdatasync(dir: &Path, rounds: u32) -> std::io::Result<Summary> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("fdatasync-probe");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    let block = vec![0x5au8; FSYNC_WRITE_BYTES];
    let mut stats = OpStats {
        latency: new_histogram(),
        ..OpStats::default()
    };
    let started = Instant::now();
    for _ in 0..rounds {
        let t = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        stats.record(t.elapsed().as_nanos() as u64, 0);
    }
    let secs = started.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(summarize(&stats, secs))
}

/// Ping-pong over loopback TCP between two threads, `rounds` times.
pub fn measure_loopback_rtt(rounds: u32) -> std::io::Result<Summary> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; RTT_MESSAGE_BYTES];
        loop {
            match s.read_exact(&mut buf) {
                Ok(()) => s.write_all(&buf)?,
                Err(_) => return Ok(()),
            }
        }
    });
    let mut client = TcpStream::connect(addr)?;
    client.set_nodelay(true)?;
    let mut stats = OpStats::default();
    let msg = [7u8; RTT_MESSAGE_BYTES];
    let mut buf = [0u8; RTT_MESSAGE_BYTES];
    let started = Instant::now();
    for _ in 0..rounds {
        let t = Instant::now();
        client.write_all(&msg)?;
        client.read_exact(&mut buf)?;
        stats.record(t.elapsed().as_nanos() as u64, 0);
    }
    let secs = started.elapsed().as_secs_f64();
    drop(client);
    let _ = echo.join();
    Ok(summarize(&stats, secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_rtt_measures_every_round() {
        let s = measure_loopback_rtt(50).unwrap();
        assert_eq!(s.count, 50);
        assert!(s.percentiles_us["p50"] > 0.0);
    }

    #[test]
    fn fdatasync_probe_cleans_up() {
        let dir = std::env::temp_dir().join(format!("rk-fsync-probe-{}", std::process::id()));
        let s = measure_fdatasync(&dir, 3).unwrap();
        assert_eq!(s.count, 3);
        assert!(!dir.join("fdatasync-probe").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
