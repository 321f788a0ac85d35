//! `srvr`, `stat`, `cons` and `mntr`: server and connection statistics in
//! the layouts of Apache's `StatCommand`, `ServerStats.toString`,
//! `ServerCnxn.dumpConnectionInfo` and `MonitorCommand`.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ringkeeper_engine::types::{SessionId, Zxid};

use super::java;

/// The server-wide numbers the statistics words print. The caller fills it
/// from its counters; every field is plain data.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerStats {
    /// The full version string, e.g. `3.8.4-ringkeeper-0.1.0`.
    pub version: String,
    /// `standalone`, `leader`, `follower`, `observer` or `read-only`.
    pub server_state: String,
    /// Serving read-only clients only (adds a line to `srvr`/`stat`).
    pub read_only: bool,
    /// Request latency in milliseconds since the last reset.
    pub latency_min_ms: i64,
    /// Mean latency; printed rounded to four decimals, as Apache does.
    pub latency_avg_ms: f64,
    pub latency_max_ms: i64,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub alive_connections: u64,
    pub outstanding_requests: u64,
    pub last_processed_zxid: Zxid,
    pub node_count: u64,
    pub watch_count: u64,
    pub ephemerals_count: u64,
    /// Sum of path lengths and data sizes, Apache's `approximate_data_size`.
    pub approximate_data_size: u64,
    pub global_sessions: u64,
    pub local_sessions: u64,
    pub uptime_ms: u64,
    /// `None` where the platform cannot tell; `mntr` then omits the line.
    pub open_file_descriptor_count: Option<u64>,
    pub max_file_descriptor_count: Option<u64>,
    pub connection_drop_probability: f64,
    /// Response sizes in bytes; -1 until a response has been sent.
    pub last_client_response_size: i64,
    pub min_client_response_size: i64,
    pub max_client_response_size: i64,
    pub outstanding_tls_handshake: u64,
    pub auth_failed_count: u64,
    pub non_mtls_remote_conn_count: u64,
    pub non_mtls_local_conn_count: u64,
    /// A leader's proposal sizes in bytes; `Some` adds the line to `srvr`.
    pub proposal_sizes: Option<ProposalSizes>,
    /// Apache's quorum gauges (`metrics::quorum::mntr_values`), printed after the
    /// standard lines: empty on a standalone server.
    pub quorum: Vec<(&'static str, u64)>,
    /// Further `mntr` lines, printed after the standard ones, in order,
    /// each as `zk_<name>\t<value>`.
    pub extra_metrics: Vec<(String, MetricValue)>,
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats {
            version: String::new(),
            server_state: "standalone".to_owned(),
            read_only: false,
            latency_min_ms: 0,
            latency_avg_ms: 0.0,
            latency_max_ms: 0,
            packets_received: 0,
            packets_sent: 0,
            alive_connections: 0,
            outstanding_requests: 0,
            last_processed_zxid: 0,
            node_count: 0,
            watch_count: 0,
            ephemerals_count: 0,
            approximate_data_size: 0,
            global_sessions: 0,
            local_sessions: 0,
            uptime_ms: 0,
            open_file_descriptor_count: None,
            max_file_descriptor_count: None,
            connection_drop_probability: 0.0,
            last_client_response_size: -1,
            min_client_response_size: -1,
            max_client_response_size: -1,
            outstanding_tls_handshake: 0,
            auth_failed_count: 0,
            non_mtls_remote_conn_count: 0,
            non_mtls_local_conn_count: 0,
            proposal_sizes: None,
            quorum: Vec::new(),
            extra_metrics: Vec::new(),
        }
    }
}

/// Apache's `BufferStats`: last, min and max proposal size, -1 when none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProposalSizes {
    pub last: i64,
    pub min: i64,
    pub max: i64,
}

/// A metric value as `mntr` prints it: integers in decimal, floating point
/// the way Java's `Double.toString` does, text as is.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricValue {
    Int(i64),
    Float(f64),
    Text(String),
}

impl MetricValue {
    fn render(&self) -> String {
        match self {
            MetricValue::Int(v) => v.to_string(),
            MetricValue::Float(v) => java::double(*v),
            MetricValue::Text(v) => v.clone(),
        }
    }
}

/// One client connection as `cons` and `stat` show it.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionInfo {
    pub remote: SocketAddr,
    /// Apache prints the selector interest set: 1 (read) while it accepts
    /// requests, 0 while throttled, 5 when it also waits to write.
    pub interest_ops: u32,
    /// Requests received and not yet answered.
    pub queued: u64,
    pub received: u64,
    pub sent: u64,
    /// 0 until the session is established; then the session details print.
    pub session_id: SessionId,
    /// The last operation's short name (`NA`, `PING`, `GETD`, `SESS`, ...).
    pub last_op: String,
    /// When the connection was established, in ms since the Unix epoch.
    pub established_ms: i64,
    pub session_timeout_ms: i32,
    /// Negative until a request with a cxid was answered (then omitted).
    pub last_cxid: i64,
    pub last_zxid: Zxid,
    /// When the last response was sent, in ms since the Unix epoch.
    pub last_response_ms: i64,
    pub last_latency_ms: i64,
    pub min_latency_ms: i64,
    pub avg_latency_ms: i64,
    pub max_latency_ms: i64,
}

impl Default for ConnectionInfo {
    /// A fresh connection, with Apache's reset values.
    fn default() -> Self {
        ConnectionInfo {
            remote: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            interest_ops: 1,
            queued: 0,
            received: 0,
            sent: 0,
            session_id: 0,
            last_op: "NA".to_owned(),
            established_ms: 0,
            session_timeout_ms: 0,
            last_cxid: -1,
            last_zxid: -1,
            last_response_ms: 0,
            last_latency_ms: 0,
            min_latency_ms: 0,
            avg_latency_ms: 0,
            max_latency_ms: 0,
        }
    }
}

/// `ServerCnxn.dumpConnectionInfo`: one line without its newline; `brief`
/// (used by `stat`) stops after the packet counts.
pub fn connection_line(c: &ConnectionInfo, brief: bool) -> String {
    let ops = if c.interest_ops == 0 {
        "0".to_owned()
    } else {
        format!("{:x}", c.interest_ops)
    };
    let mut out = format!(
        " {}[{ops}](queued={},recved={},sent={}",
        java::socket_address(&c.remote),
        c.queued,
        c.received,
        c.sent
    );
    if !brief && c.session_id != 0 {
        let _ = write!(
            out,
            ",sid=0x{},lop={},est={},to={}",
            java::hex(c.session_id),
            c.last_op,
            c.established_ms,
            c.session_timeout_ms
        );
        if c.last_cxid >= 0 {
            let _ = write!(out, ",lcxid=0x{}", java::hex(c.last_cxid));
        }
        let _ = write!(
            out,
            ",lzxid=0x{},lresp={},llat={},minlat={},avglat={},maxlat={}",
            java::hex(c.last_zxid),
            c.last_response_ms,
            c.last_latency_ms,
            c.min_latency_ms,
            c.avg_latency_ms,
            c.max_latency_ms
        );
    }
    out.push(')');
    out
}

/// `srvr`: the version, the statistics and the node count.
pub fn render_srvr(stats: &ServerStats) -> String {
    render_stat_common(stats, None)
}

/// `stat`: like `srvr`, with the client list after the version.
pub fn render_stat(stats: &ServerStats, connections: &[ConnectionInfo]) -> String {
    render_stat_common(stats, Some(connections))
}

fn render_stat_common(stats: &ServerStats, connections: Option<&[ConnectionInfo]>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Zookeeper version: {}", stats.version);
    if stats.read_only {
        out.push_str("READ-ONLY mode; serving only read-only clients\n");
    }
    if let Some(connections) = connections {
        out.push_str("Clients:\n");
        for c in connections {
            out.push_str(&connection_line(c, true));
            out.push('\n');
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "Latency min/avg/max: {}/{}/{}",
        stats.latency_min_ms,
        java::double(java::round4(stats.latency_avg_ms)),
        stats.latency_max_ms
    );
    let _ = writeln!(out, "Received: {}", stats.packets_received);
    let _ = writeln!(out, "Sent: {}", stats.packets_sent);
    let _ = writeln!(out, "Connections: {}", stats.alive_connections);
    let _ = writeln!(out, "Outstanding: {}", stats.outstanding_requests);
    let _ = writeln!(out, "Zxid: 0x{}", java::hex(stats.last_processed_zxid));
    let _ = writeln!(out, "Mode: {}", stats.server_state);
    let _ = writeln!(out, "Node count: {}", stats.node_count);
    if let Some(p) = stats.proposal_sizes {
        let _ = writeln!(
            out,
            "Proposal sizes last/min/max: {}/{}/{}",
            p.last, p.min, p.max
        );
    }
    out
}

/// `cons`: every connection in full, one per line, then an empty line.
pub fn render_cons(connections: &[ConnectionInfo]) -> String {
    let mut out = String::new();
    for c in connections {
        out.push_str(&connection_line(c, false));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// `mntr`: `zk_<key>\t<value>` lines. `zk_version` and `zk_server_state`
/// come first, as in Apache; the gauges follow in the order Apache's
/// `ZooKeeperServer.registerMetrics` registers them (Apache itself prints
/// them in hash-map order, which no client can rely on), then
/// `extra_metrics`.
pub fn render_mntr(stats: &ServerStats) -> String {
    use MetricValue::{Float, Int, Text};
    let n = |v: u64| Int(i64::try_from(v).unwrap_or(i64::MAX));
    let mut lines: Vec<(&str, MetricValue)> = vec![
        ("version", Text(stats.version.clone())),
        ("server_state", Text(stats.server_state.clone())),
        ("avg_latency", Float(java::round4(stats.latency_avg_ms))),
        ("max_latency", Int(stats.latency_max_ms)),
        ("min_latency", Int(stats.latency_min_ms)),
        ("packets_received", n(stats.packets_received)),
        ("packets_sent", n(stats.packets_sent)),
        ("num_alive_connections", n(stats.alive_connections)),
        ("outstanding_requests", n(stats.outstanding_requests)),
        ("uptime", n(stats.uptime_ms)),
        ("znode_count", n(stats.node_count)),
        ("watch_count", n(stats.watch_count)),
        ("ephemerals_count", n(stats.ephemerals_count)),
        ("approximate_data_size", n(stats.approximate_data_size)),
        ("global_sessions", n(stats.global_sessions)),
        ("local_sessions", n(stats.local_sessions)),
    ];
    if let Some(open) = stats.open_file_descriptor_count {
        lines.push(("open_file_descriptor_count", n(open)));
    }
    if let Some(max) = stats.max_file_descriptor_count {
        lines.push(("max_file_descriptor_count", n(max)));
    }
    lines.extend([
        (
            "connection_drop_probability",
            Float(stats.connection_drop_probability),
        ),
        (
            "last_client_response_size",
            Int(stats.last_client_response_size),
        ),
        (
            "max_client_response_size",
            Int(stats.max_client_response_size),
        ),
        (
            "min_client_response_size",
            Int(stats.min_client_response_size),
        ),
        (
            "outstanding_tls_handshake",
            n(stats.outstanding_tls_handshake),
        ),
        ("auth_failed_count", n(stats.auth_failed_count)),
        (
            "non_mtls_remote_conn_count",
            n(stats.non_mtls_remote_conn_count),
        ),
        (
            "non_mtls_local_conn_count",
            n(stats.non_mtls_local_conn_count),
        ),
    ]);
    lines.extend(stats.quorum.iter().map(|(key, value)| (*key, n(*value))));
    let mut out = String::new();
    for (key, value) in &lines {
        let _ = writeln!(out, "zk_{key}\t{}", value.render());
    }
    for (key, value) in &stats.extra_metrics {
        let _ = writeln!(out, "zk_{key}\t{}", value.render());
    }
    out
}
