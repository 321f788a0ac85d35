//! The `/commands/<name>` table: which four-letter word answers each
//! command, and how its text becomes the JSON object Apache's AdminServer
//! (`org.apache.zookeeper.server.admin.Commands`) returns.
//!
//! Every converter is a pure function of the word's text, so each one is
//! tested on the exact text the server renders. Text that does not look as
//! expected never panics: unparsable lines are skipped.

use super::json::Json;
use crate::fourlw::NOT_SERVING;

/// One admin command: its primary name (echoed in `"command"`), every name
/// that selects it, and the word asked of the client port.
#[derive(Clone, Copy, Debug)]
pub struct AdminCommand {
    pub primary: &'static str,
    pub names: &'static [&'static str],
    pub word: &'static str,
    convert: fn(&str) -> Json,
}

impl AdminCommand {
    /// Converts the word's answer to the command's members (without
    /// `command` and `error`, which the caller adds).
    pub fn convert(&self, text: &str) -> Json {
        (self.convert)(text)
    }
}

/// Apache's command names, primary name first, for the words ringkeeper
/// answers. `stmk`/`set_trace_mask` needs a request argument and is left out.
pub const COMMANDS: &[AdminCommand] = &[
    AdminCommand {
        primary: "ruok",
        names: &["ruok"],
        word: "ruok",
        convert: ruok,
    },
    AdminCommand {
        primary: "server_stats",
        names: &["server_stats", "srvr"],
        word: "srvr",
        convert: server_stats,
    },
    AdminCommand {
        primary: "stats",
        names: &["stats", "stat"],
        word: "stat",
        convert: stats,
    },
    AdminCommand {
        primary: "monitor",
        names: &["monitor", "mntr"],
        word: "mntr",
        convert: monitor,
    },
    AdminCommand {
        primary: "configuration",
        names: &["configuration", "conf", "config"],
        word: "conf",
        convert: configuration,
    },
    AdminCommand {
        primary: "connections",
        names: &["connections", "cons"],
        word: "cons",
        convert: connections,
    },
    AdminCommand {
        primary: "environment",
        names: &["environment", "env", "envi"],
        word: "envi",
        convert: environment,
    },
    AdminCommand {
        primary: "watch_summary",
        names: &["watch_summary", "wchs"],
        word: "wchs",
        convert: watch_summary,
    },
    AdminCommand {
        primary: "watches",
        names: &["watches", "wchc"],
        word: "wchc",
        convert: watches,
    },
    AdminCommand {
        primary: "watches_by_path",
        names: &["watches_by_path", "wchp"],
        word: "wchp",
        convert: watches_by_path,
    },
    AdminCommand {
        primary: "dump",
        names: &["dump"],
        word: "dump",
        convert: dump,
    },
    AdminCommand {
        primary: "is_read_only",
        names: &["is_read_only", "isro"],
        word: "isro",
        convert: is_read_only,
    },
    AdminCommand {
        primary: "dirs",
        names: &["dirs"],
        word: "dirs",
        convert: dirs,
    },
    AdminCommand {
        primary: "get_trace_mask",
        names: &["get_trace_mask", "gtmk"],
        word: "gtmk",
        convert: get_trace_mask,
    },
    AdminCommand {
        primary: "hash",
        names: &["hash"],
        word: "hash",
        convert: hash,
    },
    AdminCommand {
        primary: "stat_reset",
        names: &["stat_reset", "srst"],
        word: "srst",
        convert: nothing,
    },
    AdminCommand {
        primary: "connection_stat_reset",
        names: &["connection_stat_reset", "crst"],
        word: "crst",
        convert: nothing,
    },
];

/// Finds a command by any of its names.
pub fn find(name: &str) -> Option<&'static AdminCommand> {
    COMMANDS.iter().find(|c| c.names.contains(&name))
}

/// Why a word's answer is not data: the server refused the word or is not
/// serving yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The word is outside `4lw.commands.whitelist`. This process's own shards
    /// never refuse the probe token, so this means the address answering is
    /// another server's (a stale or shared `clientPortAddress`); kept so that
    /// shows as 403 rather than as a garbled answer.
    NotWhitelisted(String),
    /// The server is starting, or has no quorum.
    NotServing,
}

/// Recognises the answers that are refusals rather than data.
pub fn refusal(cmd: &AdminCommand, text: &str) -> Option<Refused> {
    let trimmed = text.trim_end();
    if trimmed.ends_with("is not executed because it is not in the whitelist.") {
        return Some(Refused::NotWhitelisted(trimmed.to_owned()));
    }
    if trimmed == NOT_SERVING || (cmd.word == "isro" && trimmed == "null") {
        return Some(Refused::NotServing);
    }
    None
}

fn nothing(_: &str) -> Json {
    Json::object()
}

fn ruok(text: &str) -> Json {
    let mut o = Json::object();
    if text.trim() != "imok" {
        o.push("error", Json::Str(format!("unexpected answer {text:?}")));
    }
    o
}

/// Splits `key<sep>value` lines, trimming both sides.
fn pairs<'a>(text: &'a str, sep: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    text.lines()
        .filter_map(move |line| line.split_once(sep))
        .map(|(k, v)| (k.trim(), v.trim()))
}

/// `srvr`'s lines as Apache's `server_stats` JSON: the version, read-only
/// flag and node count at the top, the counters in `server_stats`.
fn server_stats(text: &str) -> Json {
    let mut o = Json::object();
    let mut stats = Json::object();
    let mut version = Json::Null;
    let mut node_count = Json::Null;
    for (key, value) in pairs(text, ": ") {
        match key {
            "Zookeeper version" => version = Json::Str(value.to_owned()),
            "Latency min/avg/max" => {
                let parts: Vec<&str> = value.split('/').collect();
                if let [min, avg, max] = parts[..] {
                    stats.push("min_latency", Json::scalar(min));
                    stats.push("avg_latency", Json::scalar(avg));
                    stats.push("max_latency", Json::scalar(max));
                }
            }
            "Received" => stats.push("packets_received", Json::scalar(value)),
            "Sent" => stats.push("packets_sent", Json::scalar(value)),
            "Connections" => stats.push("num_alive_client_connections", Json::scalar(value)),
            "Outstanding" => stats.push("outstanding_requests", Json::scalar(value)),
            "Zxid" => stats.push("last_processed_zxid", Json::scalar(value)),
            "Mode" => stats.push("server_state", Json::Str(value.to_owned())),
            "Node count" => node_count = Json::scalar(value),
            _ => {}
        }
    }
    o.push("version", version);
    o.push(
        "read_only",
        Json::Bool(text.lines().any(|l| l.starts_with("READ-ONLY mode"))),
    );
    o.push("server_stats", stats);
    o.push("node_count", node_count);
    o
}

/// `stat`: `server_stats` plus the brief connection list.
fn stats(text: &str) -> Json {
    let mut o = server_stats(text);
    let clients: Vec<Json> = text
        .split_once("Clients:\n")
        .map(|(_, rest)| {
            rest.lines()
                .take_while(|l| !l.is_empty())
                .filter_map(connection)
                .collect()
        })
        .unwrap_or_default();
    o.push("connections", Json::Array(clients));
    o
}

/// `cons`: every connection, and (as in Apache) an empty list of TLS ones,
/// which ringkeeper does not serve.
fn connections(text: &str) -> Json {
    let mut o = Json::object();
    let list: Vec<Json> = text.lines().filter_map(connection).collect();
    o.push("connections", Json::Array(list));
    o.push("secure_connections", Json::Array(Vec::new()));
    o
}

/// One `ServerCnxn.dumpConnectionInfo` line,
/// ` /127.0.0.1:5000[1](queued=0,recved=1,sent=1,sid=0x..,...)`, as the
/// object `ServerCnxn.getConnectionInfo` gives.
fn connection(line: &str) -> Option<Json> {
    let line = line.trim();
    let (remote, rest) = line.split_once('[')?;
    let (ops, rest) = rest.split_once("](")?;
    let fields = rest.strip_suffix(')')?;
    let mut o = Json::object();
    o.push(
        "remote_socket_address",
        Json::Str(remote.trim_start_matches('/').to_owned()),
    );
    o.push(
        "interest_ops",
        Json::Int(i64::from_str_radix(ops, 16).unwrap_or(0)),
    );
    for (key, value) in fields.split(',').filter_map(|f| f.split_once('=')) {
        let (name, json) = match key {
            "queued" => ("outstanding_requests", Json::scalar(value)),
            "recved" => ("packets_received", Json::scalar(value)),
            "sent" => ("packets_sent", Json::scalar(value)),
            "sid" => ("session_id", Json::Str(value.to_owned())),
            "lop" => ("last_operation", Json::Str(value.to_owned())),
            "est" => ("established", Json::scalar(value)),
            "to" => ("session_timeout", Json::scalar(value)),
            "lcxid" => ("last_cxid", Json::scalar(value)),
            "lzxid" => ("last_zxid", Json::scalar(value)),
            "lresp" => ("last_response_time", Json::scalar(value)),
            "llat" => ("last_latency", Json::scalar(value)),
            "minlat" => ("min_latency", Json::scalar(value)),
            "avglat" => ("avg_latency", Json::scalar(value)),
            "maxlat" => ("max_latency", Json::scalar(value)),
            _ => continue,
        };
        o.push(name, json);
    }
    Some(o)
}

/// `mntr`: each `zk_<key>` as `<key>`, numbers as numbers.
fn monitor(text: &str) -> Json {
    let mut o = Json::object();
    for (key, value) in pairs(text, "\t") {
        let key = key.strip_prefix("zk_").unwrap_or(key);
        o.push(key, Json::scalar(value));
    }
    o
}

/// `conf`: `key=value` lines under Apache's snake_case names
/// (`clientPort` becomes `client_port`); `server.N` lines keep their names.
fn configuration(text: &str) -> Json {
    let mut o = Json::object();
    for (key, value) in pairs(text, "=") {
        let name = if key.contains('.') {
            key.to_owned()
        } else {
            snake_case(key)
        };
        let json = match Json::scalar(value) {
            Json::Float(_) => Json::Str(value.to_owned()),
            other => other,
        };
        o.push(name, json);
    }
    o
}

fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `envi`: the `key=value` lines after `Environment:`, all strings.
fn environment(text: &str) -> Json {
    let mut o = Json::object();
    for (key, value) in pairs(text, "=") {
        o.push(key, Json::Str(value.to_owned()));
    }
    o
}

/// `wchs`: `N connections watching P paths` / `Total watches:T`, under the
/// names of Apache's `WatchesSummary.toMap`.
fn watch_summary(text: &str) -> Json {
    let mut o = Json::object();
    let mut lines = text.lines();
    if let Some(first) = lines.next() {
        let words: Vec<&str> = first.split_whitespace().collect();
        if let [connections, "connections", "watching", paths, "paths"] = words[..] {
            o.push("num_connections", Json::scalar(connections));
            o.push("num_paths", Json::scalar(paths));
        }
    }
    for line in lines {
        if let Some(total) = line.strip_prefix("Total watches:") {
            o.push("num_total_watches", Json::scalar(total));
        }
    }
    o
}

/// Parses a session id printed as `0x<hex>` into the decimal text Apache's
/// JSON uses for its `Long` map keys (a Java long, so possibly negative).
fn session_key(text: &str) -> Option<String> {
    let hex = text.trim().strip_prefix("0x")?;
    u64::from_str_radix(hex, 16)
        .ok()
        .map(|v| (v as i64).to_string())
}

/// Groups a heading line followed by tab-indented lines, the layout of
/// `wchc`, `wchp` and the two halves of `dump`.
fn groups(text: &str) -> Vec<(&str, Vec<&str>)> {
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in text.lines() {
        if let Some(item) = line.strip_prefix('\t') {
            if let Some((_, items)) = out.last_mut() {
                items.push(item);
            }
        } else if !line.is_empty() {
            out.push((line, Vec::new()));
        }
    }
    out
}

/// `wchc`: `session_id_to_watched_paths`, session id (decimal) to paths.
fn watches(text: &str) -> Json {
    let mut map = Json::object();
    for (head, paths) in groups(text) {
        if let Some(id) = session_key(head) {
            let paths = paths.into_iter().map(|p| Json::Str(p.to_owned())).collect();
            map.push(id, Json::Array(paths));
        }
    }
    let mut o = Json::object();
    o.push("session_id_to_watched_paths", map);
    o
}

/// `wchp`: `path_to_session_ids`, path to session ids (numbers).
fn watches_by_path(text: &str) -> Json {
    let mut map = Json::object();
    for (path, ids) in groups(text) {
        let ids = ids
            .into_iter()
            .filter_map(session_key)
            .filter_map(|id| id.parse::<i64>().ok())
            .map(Json::Int)
            .collect();
        map.push(path, Json::Array(ids));
    }
    let mut o = Json::object();
    o.push("path_to_session_ids", map);
    o
}

/// `dump`: sessions by expiry time and ephemeral paths by session. Apache
/// keys the first map by the expiry time in ms since the epoch; the text
/// carries it as a Java date, to the second, so the key is that second in
/// ms (or the date text itself, should it not parse).
fn dump(text: &str) -> Json {
    let (sessions, ephemerals) = text
        .split_once("ephemeral nodes dump:")
        .unwrap_or((text, ""));
    let mut expiry = Json::object();
    for (head, ids) in groups(sessions) {
        let Some((_, when)) = head.split_once(" expire at ") else {
            continue;
        };
        let ids = ids
            .into_iter()
            .filter_map(session_key)
            .filter_map(|id| id.parse::<i64>().ok())
            .map(Json::Int)
            .collect();
        let when = when.trim_end_matches(':');
        let key = java_date_ms(when).map_or_else(|| when.to_owned(), |ms| ms.to_string());
        expiry.push(key, Json::Array(ids));
    }
    let mut owners = Json::object();
    for (head, paths) in groups(ephemerals) {
        if let Some(id) = session_key(head.trim_end_matches(':')) {
            let paths = paths.into_iter().map(|p| Json::Str(p.to_owned())).collect();
            owners.push(id, Json::Array(paths));
        }
    }
    let mut o = Json::object();
    o.push("expiry_time_to_session_ids", expiry);
    o.push("session_id_to_ephemeral_paths", owners);
    o
}

/// Reads Java's `Date.toString` in UTC (`Thu Jan 01 00:00:00 UTC 1970`, as
/// `dump` prints expiry times) back to ms since the epoch.
fn java_date_ms(text: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let words: Vec<&str> = text.split_whitespace().collect();
    let [_weekday, month, day, time, "UTC", year] = words[..] else {
        return None;
    };
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let day: i64 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (Some(Some(h)), Some(Some(m)), Some(Some(sec)), None) =
        (hms.next(), hms.next(), hms.next(), hms.next())
    else {
        return None;
    };
    if !(1..=31).contains(&day)
        || !(0..24).contains(&h)
        || !(0..60).contains(&m)
        || !(0..61).contains(&sec)
        || !(-100_000..=100_000).contains(&year)
    {
        return None;
    }
    // Howard Hinnant's days_from_civil, the inverse of what `dump` used.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400) + h * 3600 + m * 60 + sec) * 1000)
}

/// `isro`: `read_only`, as Apache's `IsroCommand` names it.
fn is_read_only(text: &str) -> Json {
    let mut o = Json::object();
    o.push("read_only", Json::Bool(text.trim() == "ro"));
    o
}

/// `dirs`: `datadir_size` and `logdir_size` in bytes.
fn dirs(text: &str) -> Json {
    let mut o = Json::object();
    for (key, value) in pairs(text, ": ") {
        o.push(key, Json::scalar(value));
    }
    o
}

fn get_trace_mask(text: &str) -> Json {
    let mut o = Json::object();
    o.push("tracemask", Json::scalar(text));
    o
}

/// `hash`: `<zxid hex>: <digest>` lines as a list of `{zxid, digest}`.
fn hash(text: &str) -> Json {
    let digests = pairs(text, ": ")
        .map(|(zxid, digest)| {
            let mut d = Json::object();
            d.push(
                "zxid",
                Json::Int(u64::from_str_radix(zxid, 16).map_or(-1, |v| v as i64)),
            );
            d.push("digest", Json::scalar(digest));
            d
        })
        .collect();
    let mut o = Json::object();
    o.push("digests", Json::Array(digests));
    o
}

#[cfg(test)]
mod tests;
