//! `server.N=host:quorumPort:electionPort[:participant|observer][;[clientHost:]clientPort]`
//! lines: the ensemble's members, parsed with Apache's `QuorumServer` rules.

use std::fmt;

/// The role of an ensemble member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PeerType {
    /// Votes in elections and on proposals.
    #[default]
    Participant,
    /// Follows the leader without voting.
    Observer,
}

impl PeerType {
    /// Parses Apache's spelling, case-insensitively and trimmed.
    pub fn parse(text: &str) -> Result<PeerType, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "participant" => Ok(PeerType::Participant),
            "observer" => Ok(PeerType::Observer),
            _ => Err(format!("unrecognised peer type {text:?}")),
        }
    }

    /// Apache's `LearnerType.ordinal()`, printed as `peerType=` by `conf`.
    pub fn ordinal(self) -> u8 {
        match self {
            PeerType::Participant => 0,
            PeerType::Observer => 1,
        }
    }

    fn word(self) -> &'static str {
        match self {
            PeerType::Participant => "participant",
            PeerType::Observer => "observer",
        }
    }
}

/// One host with its quorum (leader-follower) and election ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddress {
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
}

/// Where a member serves clients, when its line says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAddress {
    /// `0.0.0.0` when the line gave only a port, as in Apache.
    pub host: String,
    pub port: u16,
}

/// One `server.N` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerMember {
    pub id: u64,
    /// One address, or several separated by `|` when `multiAddress.enabled`.
    pub addresses: Vec<PeerAddress>,
    pub peer_type: PeerType,
    pub client: Option<ClientAddress>,
}

const WRONG_FORMAT: &str =
    "expected host:quorumPort:electionPort[:participant|observer][;[clientHost:]clientPort]";

/// Parses the `N` of a `server.N` key.
pub fn parse_server_id(key: &str) -> Result<u64, String> {
    let digits = key.strip_prefix("server.").unwrap_or(key);
    digits
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("server id {digits:?} is not a non-negative number"))
}

/// Parses the value of a `server.N` line.
pub fn parse_server_line(
    id: u64,
    value: &str,
    multi_address_enabled: bool,
) -> Result<ServerMember, String> {
    let mut halves = value.split(';');
    let server_part = halves.next().unwrap_or_default();
    let client_part = halves.next();
    if halves.next().is_some() {
        return Err(WRONG_FORMAT.to_owned());
    }
    let client = match client_part {
        Some(text) => Some(parse_client(text)?),
        None => None,
    };
    let pieces: Vec<&str> = server_part.split('|').collect();
    if pieces.len() > 1 && !multi_address_enabled {
        return Err(format!(
            "several addresses are given for server.{id} but multiAddress.enabled is not true"
        ));
    }
    let mut addresses = Vec::with_capacity(pieces.len());
    let mut peer_type: Option<PeerType> = None;
    for piece in pieces {
        let parts = host_and_port_parts(piece)?;
        if !(3..=4).contains(&parts.len()) {
            return Err(WRONG_FORMAT.to_owned());
        }
        let host = parts[0].trim().to_owned();
        if host.is_empty() {
            return Err(format!("empty host in {piece:?}"));
        }
        let quorum_port = parse_port(parts[1])?;
        let election_port = parse_port(parts[2])?;
        if quorum_port == election_port {
            return Err(format!(
                "quorum and election ports of server.{id} must differ (both {quorum_port})"
            ));
        }
        if let Some(word) = parts.get(3) {
            let this = PeerType::parse(word)?;
            if peer_type.is_some_and(|seen| seen != this) {
                return Err(format!("the addresses of server.{id} give different roles"));
            }
            peer_type = Some(this);
        }
        addresses.push(PeerAddress {
            host,
            quorum_port,
            election_port,
        });
    }
    Ok(ServerMember {
        id,
        addresses,
        peer_type: peer_type.unwrap_or_default(),
        client,
    })
}

impl ServerMember {
    /// `host:port` of the quorum port at each address, in the line's order.
    pub fn quorum_addrs(&self) -> Vec<String> {
        self.port_addrs(|a| a.quorum_port)
    }

    /// `host:port` of the election port at each address, in the line's order.
    pub fn election_addrs(&self) -> Vec<String> {
        self.port_addrs(|a| a.election_port)
    }

    fn port_addrs(&self, port: impl Fn(&PeerAddress) -> u16) -> Vec<String> {
        self.addresses
            .iter()
            .map(|a| format!("{}:{}", delimited_host(&a.host), port(a)))
            .collect()
    }
}

fn parse_client(text: &str) -> Result<ClientAddress, String> {
    let parts = host_and_port_parts(text.trim())?;
    match parts.as_slice() {
        [port] => Ok(ClientAddress {
            host: "0.0.0.0".to_owned(),
            port: parse_port(port)?,
        }),
        [host, port] => Ok(ClientAddress {
            host: host.trim().to_owned(),
            port: parse_port(port)?,
        }),
        _ => Err(WRONG_FORMAT.to_owned()),
    }
}

/// Splits `host:port[:...]`, where an IPv6 host is written in brackets, as
/// Apache's `ConfigUtils.getHostAndPort` does.
fn host_and_port_parts(text: &str) -> Result<Vec<&str>, String> {
    if let Some(rest) = text.strip_prefix('[') {
        let close = rest
            .find(']')
            .ok_or_else(|| format!("{text:?} starts with '[' but has no matching ']'"))?;
        let host = &rest[..close];
        let after = &rest[close + 1..];
        if after.is_empty() {
            return Ok(vec![host]);
        }
        let ports = after
            .strip_prefix(':')
            .filter(|p| !p.is_empty())
            .ok_or_else(|| format!("{text:?} has no port after ']:'"))?;
        let mut parts = vec![host];
        parts.extend(ports.split(':'));
        Ok(parts)
    } else {
        Ok(text.split(':').collect())
    }
}

/// A port number: 1 to 65535.
pub fn parse_port(text: &str) -> Result<u16, String> {
    let port: i64 = text
        .trim()
        .parse()
        .map_err(|_| format!("port {text:?} is not a number"))?;
    if (1..=65535).contains(&port) {
        Ok(port as u16)
    } else {
        Err(format!("port {port} is outside 1-65535"))
    }
}

fn delimited_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Apache's `QuorumServer.toString`, used in the `conf` membership list and
/// in reconfig answers: addresses sorted by host, the role, then the client
/// address when the line gave one.
impl fmt::Display for ServerMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut addresses: Vec<&PeerAddress> = self.addresses.iter().collect();
        addresses.sort_by(|a, b| a.host.cmp(&b.host));
        let joined: Vec<String> = addresses
            .iter()
            .map(|a| {
                format!(
                    "{}:{}:{}",
                    delimited_host(&a.host),
                    a.quorum_port,
                    a.election_port
                )
            })
            .collect();
        write!(f, "{}:{}", joined.join("|"), self.peer_type.word())?;
        if let Some(client) = &self.client {
            write!(f, ";{}:{}", delimited_host(&client.host), client.port)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kazoo_harness_line() {
        let m = parse_server_line(2, "localhost:20012:20011:participant", false).unwrap();
        assert_eq!(m.id, 2);
        assert_eq!(
            m.addresses,
            vec![PeerAddress {
                host: "localhost".into(),
                quorum_port: 20012,
                election_port: 20011
            }]
        );
        assert_eq!(m.peer_type, PeerType::Participant);
        assert_eq!(m.client, None);
        assert_eq!(m.to_string(), "localhost:20012:20011:participant");
    }

    #[test]
    fn observer_with_client_port_and_address() {
        let m = parse_server_line(3, "10.0.0.3:2888:3888:observer;2181", false).unwrap();
        assert_eq!(m.peer_type, PeerType::Observer);
        assert_eq!(
            m.client,
            Some(ClientAddress {
                host: "0.0.0.0".into(),
                port: 2181
            })
        );
        assert_eq!(m.to_string(), "10.0.0.3:2888:3888:observer;0.0.0.0:2181");
        let m = parse_server_line(1, "zk1:2888:3888;127.0.0.1:2181", false).unwrap();
        assert_eq!(m.to_string(), "zk1:2888:3888:participant;127.0.0.1:2181");
    }

    #[test]
    fn ipv6_hosts_in_brackets() {
        let m = parse_server_line(1, "[::1]:2888:3888;[::1]:2181", false).unwrap();
        assert_eq!(m.addresses[0].host, "::1");
        assert_eq!(m.to_string(), "[::1]:2888:3888:participant;[::1]:2181");
        assert!(parse_server_line(1, "[::1:2888:3888", false).is_err());
        assert!(parse_server_line(1, "[::1]:", false).is_err());
    }

    #[test]
    fn multiple_addresses_need_the_feature_switch() {
        let line = "b:2888:3888|a:2889:3889";
        assert!(parse_server_line(1, line, false).is_err());
        let m = parse_server_line(1, line, true).unwrap();
        assert_eq!(m.to_string(), "a:2889:3889|b:2888:3888:participant");
        assert!(parse_server_line(1, "a:1:2:observer|b:3:4:participant", true).is_err());
    }

    #[test]
    fn multiple_addresses_each_parsed_and_listed_in_order() {
        let m = parse_server_line(1, "b:2888:3888|[::1]:2889:3889:participant;2181", true).unwrap();
        assert_eq!(m.quorum_addrs(), vec!["b:2888", "[::1]:2889"]);
        assert_eq!(m.election_addrs(), vec!["b:3888", "[::1]:3889"]);
        assert_eq!(m.client.map(|c| c.port), Some(2181));
        for bad in [
            "a:1:2|",
            "|a:1:2",
            "a:1:2||b:3:4",
            "a:1:2|b:3",
            "a:1:2|b:3:x",
            "a:1:2|b:3:3",
            "a:1:2|:3:4",
            "a:1:2|b:3:4:leader",
        ] {
            let err = parse_server_line(1, bad, true).expect_err(bad);
            assert!(!err.is_empty(), "{bad:?}: empty error");
        }
    }

    #[test]
    fn malformed_lines_are_refused() {
        for bad in [
            "",
            "localhost",
            "localhost:2888",
            "localhost:2888:3888:participant:extra",
            "localhost:x:3888",
            "localhost:2888:0",
            "localhost:2888:70000",
            "localhost:2888:2888",
            "localhost:2888:3888:leader",
            "localhost:2888:3888;a:b:c",
            "localhost:2888:3888;port",
            "localhost:2888:3888;1;2",
            ":2888:3888",
        ] {
            assert!(
                parse_server_line(1, bad, false).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn server_ids() {
        assert_eq!(parse_server_id("server.12"), Ok(12));
        assert!(parse_server_id("server.x").is_err());
        assert!(parse_server_id("server.-1").is_err());
        assert!(parse_server_id("server.").is_err());
    }
}
