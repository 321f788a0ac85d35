//! Parsing of the load generator's knobs that are richer than a number: the operation mix,
//! the key distribution, host lists and durations. Kept apart from the binary so that the
//! parsing rules are unit-tested and shared with the benchmark suite.

use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// One kind of operation the generator can issue. Each has its own latency histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum OpKind {
    /// `getData` of a key without a watch.
    GetData,
    /// `exists` of a key without a watch.
    Exists,
    /// `getChildren` of a key (keys are leaves, so the list is short, as most real ones are).
    GetChildren,
    /// `setData` of a key with version -1 and `--value-size` bytes.
    SetData,
    /// `create` of an ephemeral sequential node under `ROOT/seq`.
    Create,
    /// `delete` of a node this connection created earlier (a `create` when it has none).
    Delete,
    /// A `multi` of two `setData` on two keys.
    Multi,
    /// `getData` with a watch, so that writes to hot keys fan out notifications.
    Watch,
    /// `sync` of a key, then `getData` of it on the same session, pipelined: a read that
    /// sees every write acknowledged before the sync was sent. Timed from the sync.
    Sync,
}

impl OpKind {
    /// Every kind, in the order tables list them.
    pub const ALL: [OpKind; 9] = [
        OpKind::GetData,
        OpKind::Exists,
        OpKind::GetChildren,
        OpKind::SetData,
        OpKind::Create,
        OpKind::Delete,
        OpKind::Multi,
        OpKind::Watch,
        OpKind::Sync,
    ];

    /// The name used on the command line and in reports (the Java client's method names).
    pub fn name(self) -> &'static str {
        match self {
            OpKind::GetData => "getData",
            OpKind::Exists => "exists",
            OpKind::GetChildren => "getChildren",
            OpKind::SetData => "setData",
            OpKind::Create => "create",
            OpKind::Delete => "delete",
            OpKind::Multi => "multi",
            OpKind::Watch => "watch",
            OpKind::Sync => "sync",
        }
    }

    /// Parses a name case-insensitively, accepting a few obvious aliases.
    pub fn parse(name: &str) -> Option<OpKind> {
        let lower = name.trim().to_ascii_lowercase();
        Some(match lower.as_str() {
            "getdata" | "get" | "read" => OpKind::GetData,
            "exists" => OpKind::Exists,
            "getchildren" | "children" | "ls" => OpKind::GetChildren,
            "setdata" | "set" | "write" => OpKind::SetData,
            "create" => OpKind::Create,
            "delete" => OpKind::Delete,
            "multi" => OpKind::Multi,
            "watch" => OpKind::Watch,
            "sync" => OpKind::Sync,
            _ => return None,
        })
    }

    /// Whether the operation changes the tree (goes through the write path and the disk).
    pub fn is_write(self) -> bool {
        matches!(
            self,
            OpKind::SetData | OpKind::Create | OpKind::Delete | OpKind::Multi
        )
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A weighted operation mix such as `getData=10,setData=1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mix {
    /// Operation kinds with positive weights, in the order given.
    pub weights: Vec<(OpKind, u32)>,
}

/// Why a knob could not be parsed; the message names the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl Mix {
    /// The default: ten reads to one write, the reads spread over the three read
    /// operations.
    pub fn default_read_heavy() -> Mix {
        Mix {
            weights: vec![
                (OpKind::GetData, 6),
                (OpKind::Exists, 2),
                (OpKind::GetChildren, 2),
                (OpKind::SetData, 1),
            ],
        }
    }

    /// A mix of one operation only.
    pub fn only(op: OpKind) -> Mix {
        Mix {
            weights: vec![(op, 1)],
        }
    }

    /// Parses `op=weight,op=weight`. A bare `op` means weight 1; zero weights are dropped;
    /// a mix must keep at least one operation.
    pub fn parse(text: &str) -> Result<Mix, ParseError> {
        let mut weights: Vec<(OpKind, u32)> = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = match part.split_once('=') {
                Some((n, w)) => {
                    let w: u32 = w
                        .trim()
                        .parse()
                        .map_err(|_| ParseError(format!("bad weight in mix entry '{part}'")))?;
                    (n, w)
                }
                None => (part, 1),
            };
            let op = OpKind::parse(name)
                .ok_or_else(|| ParseError(format!("unknown operation '{name}' in mix")))?;
            if weights.iter().any(|(o, _)| *o == op) {
                return Err(ParseError(format!("operation '{name}' twice in mix")));
            }
            if weight > 0 {
                weights.push((op, weight));
            }
        }
        if weights.is_empty() {
            return Err(ParseError(format!(
                "mix '{text}' has no operation with a positive weight"
            )));
        }
        Ok(Mix { weights })
    }

    /// The sum of the weights, never zero for a parsed mix.
    pub fn total(&self) -> u64 {
        self.weights.iter().map(|(_, w)| u64::from(*w)).sum()
    }

    /// Maps a number uniformly drawn from `0..total()` to an operation.
    pub fn pick(&self, draw: u64) -> OpKind {
        let mut left = draw;
        for (op, w) in &self.weights {
            let w = u64::from(*w);
            if left < w {
                return *op;
            }
            left -= w;
        }
        // Only reachable with a draw outside 0..total(); the last entry is the safe answer.
        self.weights
            .last()
            .map(|(op, _)| *op)
            .unwrap_or(OpKind::GetData)
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .weights
            .iter()
            .map(|(op, w)| format!("{op}={w}"))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// How keys are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Distribution {
    /// Every key equally likely.
    Uniform,
    /// YCSB's zipfian with theta 0.99: key 0 is the hottest.
    Zipfian,
}

impl Distribution {
    /// Parses `uniform` or `zipfian` (also `zipf`).
    pub fn parse(text: &str) -> Result<Distribution, ParseError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "uniform" => Ok(Distribution::Uniform),
            "zipfian" | "zipf" => Ok(Distribution::Zipfian),
            other => Err(ParseError(format!(
                "unknown distribution '{other}' (uniform or zipfian)"
            ))),
        }
    }
}

/// Parses a connect string `host:port,host:port`, ignoring a chroot suffix, which the
/// generator does not support and therefore rejects rather than silently dropping.
pub fn parse_hosts(text: &str) -> Result<Vec<String>, ParseError> {
    if text.contains('/') {
        return Err(ParseError(format!(
            "chroot suffixes are not supported in '{text}'; use --root instead"
        )));
    }
    let mut hosts = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (host, port) = part
            .rsplit_once(':')
            .ok_or_else(|| ParseError(format!("host '{part}' lacks a :port")))?;
        if host.is_empty() {
            return Err(ParseError(format!("host '{part}' lacks a host name")));
        }
        port.parse::<u16>()
            .map_err(|_| ParseError(format!("bad port in host '{part}'")))?;
        hosts.push(part.to_string());
    }
    if hosts.is_empty() {
        return Err(ParseError("empty host list".into()));
    }
    Ok(hosts)
}

/// Parses a duration such as `10s`, `500ms`, `2m`, `1.5s` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, ParseError> {
    let t = text.trim();
    let bad = || ParseError(format!("bad duration '{text}' (e.g. 10s, 500ms, 2m)"));
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix("us") {
        (n, 0.000_001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(value * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_parses_weights_aliases_and_bare_names() {
        let mix = Mix::parse("getData=10, set=1,multi").unwrap();
        assert_eq!(
            mix.weights,
            vec![
                (OpKind::GetData, 10),
                (OpKind::SetData, 1),
                (OpKind::Multi, 1)
            ]
        );
        assert_eq!(mix.total(), 12);
        assert_eq!(mix.to_string(), "getData=10,setData=1,multi=1");
    }

    #[test]
    fn mix_drops_zero_weights_but_needs_one_positive() {
        let mix = Mix::parse("getData=1,setData=0").unwrap();
        assert_eq!(mix.weights, vec![(OpKind::GetData, 1)]);
        assert!(Mix::parse("getData=0").is_err());
        assert!(Mix::parse("").is_err());
    }

    #[test]
    fn mix_rejects_unknown_duplicate_and_bad_weight() {
        assert!(Mix::parse("frobnicate=1").is_err());
        assert!(Mix::parse("getData=1,get=2").is_err());
        assert!(Mix::parse("getData=x").is_err());
        assert!(Mix::parse("getData=-1").is_err());
    }

    #[test]
    fn mix_pick_follows_weights_exactly() {
        let mix = Mix::parse("getData=10,setData=1").unwrap();
        let picks: Vec<OpKind> = (0..mix.total()).map(|d| mix.pick(d)).collect();
        assert_eq!(picks.iter().filter(|o| **o == OpKind::GetData).count(), 10);
        assert_eq!(picks[10], OpKind::SetData);
    }

    #[test]
    fn default_mix_is_ten_reads_to_one_write() {
        let mix = Mix::default_read_heavy();
        let writes: u64 = mix
            .weights
            .iter()
            .filter(|(o, _)| o.is_write())
            .map(|(_, w)| u64::from(*w))
            .sum();
        assert_eq!(mix.total() - writes, 10 * writes);
    }

    #[test]
    fn hosts_parse_and_reject_malformed_entries() {
        assert_eq!(
            parse_hosts("127.0.0.1:2181, localhost:2182").unwrap(),
            vec!["127.0.0.1:2181", "localhost:2182"]
        );
        assert!(parse_hosts("127.0.0.1").is_err());
        assert!(parse_hosts(":2181").is_err());
        assert!(parse_hosts("h:99999").is_err());
        assert!(parse_hosts("h:2181/chroot").is_err());
        assert!(parse_hosts(" , ").is_err());
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn distributions_parse() {
        assert_eq!(Distribution::parse("Zipf").unwrap(), Distribution::Zipfian);
        assert_eq!(
            Distribution::parse("uniform").unwrap(),
            Distribution::Uniform
        );
        assert!(Distribution::parse("normal").is_err());
    }
}
