//! `mntr` in the Prometheus text exposition format (version 0.0.4).

use std::fmt::Write as _;

/// The content type Prometheus expects for the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders every numeric `mntr` value as the gauge `zookeeper_<key>` (the
/// `zk_` prefix dropped), and the text values `version` and `server_state`
/// as labels of `zookeeper_info 1`, the usual way to export strings. Other
/// text values have no numeric meaning and are left out.
pub fn render_mntr(mntr: &str, out: &mut String) {
    let mut info: Vec<(&str, &str)> = Vec::new();
    for line in mntr.lines() {
        let Some((key, value)) = line.split_once('\t') else {
            continue;
        };
        let key = key.trim();
        let key = key.strip_prefix("zk_").unwrap_or(key);
        let value = value.trim();
        if key.is_empty() {
            continue;
        }
        match sample_value(value) {
            Some(number) => {
                let name = format!("zookeeper_{}", metric_name(key));
                let _ = writeln!(out, "# TYPE {name} gauge");
                let _ = writeln!(out, "{name} {number}");
            }
            None if key == "version" || key == "server_state" => info.push((key, value)),
            None => {}
        }
    }
    if !info.is_empty() {
        let labels: Vec<String> = info
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", label_value(v)))
            .collect();
        out.push_str("# HELP zookeeper_info The server's version and state, as labels.\n");
        out.push_str("# TYPE zookeeper_info gauge\n");
        let _ = writeln!(out, "zookeeper_info{{{}}} 1", labels.join(","));
    }
}

/// Appends one gauge with its help text.
pub fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    let _ = writeln!(out, "{name} {value}");
}

/// Appends one counter with its help text.
pub fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    let _ = writeln!(out, "{name} {value}");
}

/// A value Prometheus accepts: an integer or a float as Java prints them
/// (`NaN`, `Infinity` spelt the Prometheus way).
fn sample_value(text: &str) -> Option<String> {
    match text {
        "NaN" => return Some("NaN".to_owned()),
        "Infinity" => return Some("+Inf".to_owned()),
        "-Infinity" => return Some("-Inf".to_owned()),
        _ => {}
    }
    if text.parse::<i64>().is_ok() {
        return Some(text.to_owned());
    }
    let numeric = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
    if numeric && text.parse::<f64>().is_ok() {
        return Some(text.to_owned());
    }
    None
}

/// Metric names allow `[a-zA-Z0-9_:]`; anything else becomes `_`.
fn metric_name(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn label_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_gauges_and_text_becomes_info_labels() {
        let mut out = String::new();
        render_mntr(
            "zk_version\t3.8.4-\"x\"\nzk_server_state\tstandalone\nzk_avg_latency\t0.5\nzk_znode_count\t5\nzk_peer_state\tfollowing - broadcast\nzk_odd.key-x\t-1\nzk_nan\tNaN\nno tab here\n",
            &mut out,
        );
        assert!(
            out.contains("# TYPE zookeeper_znode_count gauge\nzookeeper_znode_count 5\n"),
            "{out}"
        );
        assert!(out.contains("\nzookeeper_avg_latency 0.5\n"), "{out}");
        assert!(out.contains("\nzookeeper_odd_key_x -1\n"), "{out}");
        assert!(out.contains("\nzookeeper_nan NaN\n"), "{out}");
        assert!(
            out.contains(
                "zookeeper_info{version=\"3.8.4-\\\"x\\\"\",server_state=\"standalone\"} 1\n"
            ),
            "{out}"
        );
        assert!(!out.contains("peer_state"), "{out}");
        assert!(!out.contains("no tab"), "{out}");
    }
}
