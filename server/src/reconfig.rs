//! The reconfig request (opcode 16) up to the point where Apache's leader proposes it: the
//! checks of Apache's `PrepRequestProcessor` in their order, and the member list the
//! request asks for. A request that passes every check goes to the sequencer as
//! `Write::Reconfig` and is proposed as a `Reconfig` txn (docs/compatibility.md); what
//! fails a check gets Apache's error.
//!
//! Pure: the server's view of the ensemble, the request, the config node's ACL and the
//! connection's ids in, the answer out.

use ringkeeper_engine::acl::check_perm;
use ringkeeper_engine::jute::records::ReconfigRequest;
use ringkeeper_engine::types::{perms, Acl, ErrorCode, Id};

use crate::config::{parse_server_id, parse_server_line, PeerType, ServerMember};

/// At most this many members in a requested configuration (the protocol's own limit).
const MEMBERS_MAX: usize = ringkeeper_replication::config::MEMBERS_MAX;

/// The server's [`ringkeeper_replication::MembershipReader`]: a log payload that is an
/// encoded `Reconfig` txn gives the member list its server lines name (the protocol sets
/// the version to the entry's zxid); any other payload, or a reconfig whose lines do not
/// parse, is not a reconfiguration. Only the body tag is looked at before decoding, so
/// ordinary writes cost four byte compares.
pub fn read_membership(payload: &[u8]) -> Option<ringkeeper_replication::Membership> {
    use ringkeeper_engine::jute::Decode;
    use ringkeeper_engine::txn::{Txn, TxnBody};
    // Format version (1 byte), zxid, time, session (8 each), cxid (4), then the body tag.
    const TAG_AT: usize = 29;
    const RECONFIG_TAG: [u8; 4] = 16i32.to_be_bytes();
    if payload.get(TAG_AT..TAG_AT + 4)? != RECONFIG_TAG {
        return None;
    }
    let TxnBody::Reconfig { servers } = Txn::from_bytes(payload).ok()?.body else {
        return None;
    };
    let mut membership = ringkeeper_replication::Membership {
        version: 0,
        voters: Vec::new(),
        observers: Vec::new(),
    };
    for member in members_of(&servers)? {
        match member.peer_type {
            PeerType::Participant => membership.voters.push(member.id),
            PeerType::Observer => membership.observers.push(member.id),
        }
    }
    Some(membership)
}

/// The members a `Reconfig` txn's server lines (`server.N=spec`) name, or `None` if any
/// line does not parse (multiple addresses allowed: the leader checked them already).
fn members_of(servers: &[String]) -> Option<Vec<ServerMember>> {
    servers
        .iter()
        .map(|line| {
            let (key, value) = line.split_once('=')?;
            let id = parse_server_id(key).ok()?;
            parse_server_line(id, value, true).ok()
        })
        .collect()
}

/// What a member knows when it answers a reconfig request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconfigView {
    /// `reconfigEnabled`.
    pub enabled: bool,
    /// A server without `server.N` lines.
    pub standalone: bool,
    /// The newest configuration this member has seen (Apache's last seen verifier).
    pub members: Vec<ServerMember>,
    /// Its version (the zxid that made it; `version=` in the config node).
    pub version: u64,
    /// `multiAddress.enabled`, which lets a spec give several addresses.
    pub multi_address: bool,
}

impl ReconfigView {
    /// What a member started with `config` knows.
    pub fn from_config(config: &crate::config::Config) -> ReconfigView {
        ReconfigView {
            enabled: config.reconfig_enabled,
            standalone: !config.is_ensemble(),
            members: config.servers.clone(),
            version: config.dynamic_config_version,
            multi_address: config.multi_address_enabled,
        }
    }

    /// Follows a committed `Reconfig` txn (its server lines, its zxid the new version), as
    /// Apache's member moves its last seen configuration on commit: later requests are
    /// checked against it (a `curConfigId` must name it) and it is what the config node
    /// shows again after a snapshot. Lines that do not parse (the protocol did not take
    /// such a txn as a reconfiguration either) or a version not newer leave the view as is;
    /// returns whether it moved.
    pub fn follow(&mut self, servers: &[String], zxid: i64) -> bool {
        let Ok(version) = u64::try_from(zxid) else {
            return false;
        };
        match members_of(servers) {
            Some(members) if version > self.version => {
                self.members = members;
                self.version = version;
                true
            }
            _ => false,
        }
    }
}

/// Checks a reconfig request as Apache's leader does before proposing it: `Ok` with the
/// member list it asks for, or the error Apache answers.
///
/// The order is Apache's: reconfig disabled; standalone (`Unimplemented`); a stale
/// `curConfigId` (`BadVersion`); a malformed spec or too few voters (`BadArguments`); the
/// WRITE permission on `/zookeeper/config` (`NoAuth`; `super` passes every ACL). Apache
/// checks, just before the ACL, that a quorum of the new voters is connected and synced
/// (`NewConfigNoQuorum`); that needs the protocol and is not done here.
pub fn check(
    view: &ReconfigView,
    req: &ReconfigRequest,
    config_acl: &[Acl],
    auth: &[Id],
) -> Result<Vec<ServerMember>, ErrorCode> {
    if !view.enabled {
        return Err(ErrorCode::ReconfigDisabled);
    }
    if view.standalone {
        // Apache's standalone server is no LeaderZooKeeperServer: "reconfiguration
        // currently not supported".
        return Err(ErrorCode::Unimplemented);
    }
    if req.cur_config_id != -1 && req.cur_config_id as u64 != view.version {
        return Err(ErrorCode::BadVersion);
    }
    let next = if !req.new_members.is_empty() {
        non_incremental(&req.new_members, view.multi_address)?
    } else {
        incremental(view, &req.joining_servers, &req.leaving_servers)?
    };
    if next.len() > MEMBERS_MAX {
        return Err(ErrorCode::BadArguments);
    }
    // Apache with standaloneEnabled (its default): "new configuration must include at
    // least 2 followers".
    let voters = next
        .iter()
        .filter(|m| m.peer_type == PeerType::Participant)
        .count();
    if voters < 2 {
        return Err(ErrorCode::BadArguments);
    }
    if !check_perm(config_acl, perms::WRITE, auth) {
        return Err(ErrorCode::NoAuth);
    }
    // Whether the new voters hold a quorum connected and synced to the leader (Apache's
    // isQuorumSynced, NewConfigNoQuorum) is the protocol's check when it is proposed: a
    // joiner the ensemble was not started with connects with its Hello (peer transport)
    // and syncs as a learner that does not vote.
    Ok(next)
}

/// `-members`: the whole new list, lines separated by commas or newlines, each
/// `server.N=spec` or `version=...` (Apache refuses any other key).
fn non_incremental(text: &str, multi_address: bool) -> Result<Vec<ServerMember>, ErrorCode> {
    let mut next: Vec<ServerMember> = Vec::new();
    for line in text.split([',', '\n']) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (key, value) = line.split_once(['=', ':']).ok_or(ErrorCode::BadArguments)?;
        let key = key.trim();
        if key == "version" {
            continue;
        }
        if !key.starts_with("server.") {
            return Err(ErrorCode::BadArguments);
        }
        let id = parse_server_id(key).map_err(|_| ErrorCode::BadArguments)?;
        let member = parse_server_line(id, value.trim(), multi_address)
            .map_err(|_| ErrorCode::BadArguments)?;
        next.retain(|m| m.id != id);
        next.push(member);
    }
    next.sort_by_key(|m| m.id);
    Ok(next)
}

/// `-add`/`-remove`: comma-separated `server.N=spec` joiners and ids that leave, applied
/// to the last seen configuration (leavers first, as Apache does).
fn incremental(
    view: &ReconfigView,
    joining: &str,
    leaving: &str,
) -> Result<Vec<ServerMember>, ErrorCode> {
    let mut next = view.members.clone();
    for id in leaving.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let id: u64 = id.parse().map_err(|_| ErrorCode::BadArguments)?;
        next.retain(|m| m.id != id);
    }
    for joiner in joining.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let parts: Vec<&str> = joiner.split('=').filter(|p| !p.is_empty()).collect();
        let [key, spec] = parts[..] else {
            return Err(ErrorCode::BadArguments);
        };
        let id_text = key.rsplit('.').next().unwrap_or(key);
        let id: u64 = id_text
            .trim()
            .parse()
            .map_err(|_| ErrorCode::BadArguments)?;
        let member = parse_server_line(id, spec.trim(), view.multi_address)
            .map_err(|_| ErrorCode::BadArguments)?;
        // "each server should have at least 3 ports specified": a joiner names its client
        // port too.
        if member.client.is_none() {
            return Err(ErrorCode::BadArguments);
        }
        // Apache's checkAddressDuplicate: no two members on one quorum or election address.
        let clash = next.iter().filter(|m| m.id != id).any(|m| {
            m.addresses.iter().any(|a| {
                member.addresses.iter().any(|b| {
                    a.host == b.host
                        && (a.quorum_port == b.quorum_port
                            || a.election_port == b.election_port
                            || a.quorum_port == b.election_port
                            || a.election_port == b.quorum_port)
                })
            })
        });
        if clash {
            return Err(ErrorCode::BadArguments);
        }
        next.retain(|m| m.id != id);
        next.push(member);
    }
    next.sort_by_key(|m| m.id);
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(body: ringkeeper_engine::txn::TxnBody) -> Vec<u8> {
        use ringkeeper_engine::jute::Encode;
        ringkeeper_engine::txn::Txn {
            zxid: 0x3_0000_0001,
            time_ms: 1,
            session: 2,
            cxid: 3,
            body,
        }
        .to_bytes()
    }

    #[test]
    fn the_membership_reader_knows_reconfig_txns_and_nothing_else() {
        use ringkeeper_engine::txn::TxnBody;
        let reconfig = TxnBody::Reconfig {
            servers: vec![
                "server.1=127.0.0.1:2001:3001:participant;4001".into(),
                "server.4=127.0.0.4:2001:3001:observer;4001".into(),
                "server.2=127.0.0.2:2001:3001;4001".into(),
            ],
        };
        assert_eq!(
            read_membership(&encoded(reconfig)),
            Some(ringkeeper_replication::Membership {
                version: 0,
                voters: vec![1, 2],
                observers: vec![4],
            })
        );
        // A write whose data looks like a reconfig is not one.
        let set = TxnBody::SetData {
            path: "/zookeeper/config".into(),
            data: Some(b"server.1=127.0.0.1:2001:3001;4001".to_vec()),
            version: -1,
        };
        assert_eq!(read_membership(&encoded(set)), None);
        // Malformed lines, short or corrupt payloads: not a reconfiguration, no panic.
        for bad in [
            "server.x=127.0.0.1:2001:3001",
            "server.1",
            "server.1=nonsense",
        ] {
            let body = TxnBody::Reconfig {
                servers: vec![bad.into()],
            };
            assert_eq!(read_membership(&encoded(body)), None, "{bad}");
        }
        let whole = encoded(TxnBody::Reconfig {
            servers: vec!["server.1=127.0.0.1:2001:3001".into()],
        });
        for len in 0..whole.len() {
            assert_eq!(read_membership(&whole[..len]), None, "{len} bytes");
        }
    }

    fn member(id: u64, spec: &str) -> ServerMember {
        parse_server_line(id, spec, false).unwrap()
    }

    fn view() -> ReconfigView {
        ReconfigView {
            enabled: true,
            standalone: false,
            members: vec![
                member(1, "127.0.0.1:2001:3001;127.0.0.1:4001"),
                member(2, "127.0.0.1:2002:3002;127.0.0.1:4002"),
                member(3, "127.0.0.1:2003:3003;127.0.0.1:4003"),
            ],
            version: 0x1_0000_0000,
            multi_address: false,
        }
    }

    #[test]
    fn a_joiner_the_ensemble_was_not_started_with_passes_the_checks_after_the_acl() {
        // NoAuth first, as Apache answers; with super it goes on to the protocol, whose
        // synced-quorum check decides (NewConfigNoQuorum there).
        let join = request("server.4=127.0.0.1:2004:3004;4004", "", "", -1);
        assert_eq!(
            check(&view(), &join, &read_only(), &[]),
            Err(ErrorCode::NoAuth)
        );
        assert_eq!(
            check(&view(), &join, &read_only(), &super_ids()).map(|m| m.len()),
            Ok(4)
        );
        // A known member at other peer addresses too (the transport dials it anew there).
        let moved = request("server.3=127.0.0.9:2003:3003;4003", "", "", -1);
        assert_eq!(
            check(&view(), &moved, &read_only(), &super_ids()).map(|m| m.len()),
            Ok(3)
        );
        let remove = request("", "3", "", -1);
        assert_eq!(
            check(&view(), &remove, &read_only(), &super_ids()).map(|m| m.len()),
            Ok(2)
        );
    }

    fn request(joining: &str, leaving: &str, members: &str, id: i64) -> ReconfigRequest {
        ReconfigRequest {
            joining_servers: joining.into(),
            leaving_servers: leaving.into(),
            new_members: members.into(),
            cur_config_id: id,
        }
    }

    fn super_ids() -> Vec<Id> {
        vec![Id::new("super", "")]
    }

    fn read_only() -> Vec<Acl> {
        Acl::read_unsafe()
    }

    #[test]
    fn disabled_then_standalone_come_first() {
        let req = request("some thing", "", "", 7);
        let off = ReconfigView {
            enabled: false,
            ..view()
        };
        assert_eq!(
            check(&off, &req, &read_only(), &super_ids()),
            Err(ErrorCode::ReconfigDisabled)
        );
        let alone = ReconfigView {
            standalone: true,
            ..view()
        };
        assert_eq!(
            check(&alone, &req, &read_only(), &[]),
            Err(ErrorCode::Unimplemented)
        );
    }

    #[test]
    fn the_view_follows_a_committed_reconfig_and_checks_against_it() {
        let mut v = view();
        let lines: Vec<String> = vec![
            "server.1=127.0.0.1:2001:3001;127.0.0.1:4001".into(),
            "server.2=127.0.0.1:2002:3002;127.0.0.1:4002".into(),
        ];
        assert!(v.follow(&lines, 0x1_0000_0005));
        assert_eq!(v.version, 0x1_0000_0005);
        assert_eq!(
            v.members,
            vec![
                member(1, "127.0.0.1:2001:3001;127.0.0.1:4001"),
                member(2, "127.0.0.1:2002:3002;127.0.0.1:4002"),
            ]
        );
        // The old version is stale now; the new one is current.
        let join = "server.3=127.0.0.1:2003:3003;4003";
        let stale = request(join, "", "", 0x1_0000_0000);
        assert_eq!(
            check(&v, &stale, &read_only(), &super_ids()),
            Err(ErrorCode::BadVersion)
        );
        let current = request(join, "", "", 0x1_0000_0005);
        assert_eq!(
            check(&v, &current, &read_only(), &super_ids()).map(|m| m.len()),
            Ok(3)
        );
        // An older version, or lines that do not parse, leave the view alone.
        let after = v.clone();
        assert!(!v.follow(&lines[..1], 0x1_0000_0004));
        assert!(!v.follow(&["server.x=nonsense".to_owned()], 0x1_0000_0009));
        assert!(!v.follow(&lines, -1));
        assert_eq!(v, after);
    }

    #[test]
    fn stale_config_id_is_bad_version() {
        let join = "server.4=127.0.0.1:2004:3004;4004";
        let req = request(join, "", "", 0x1_0000_0001);
        assert_eq!(
            check(&view(), &req, &read_only(), &super_ids()),
            Err(ErrorCode::BadVersion)
        );
        let req = request(join, "", "", 0x1_0000_0000);
        assert!(check(&view(), &req, &read_only(), &super_ids()).is_ok());
    }

    #[test]
    fn malformed_specs_are_bad_arguments_before_the_acl() {
        for (joining, leaving, members) in [
            ("some thing", "", ""),
            ("server.4=127.0.0.1:2004", "", ""),
            // No client port: Apache wants at least three ports from a joiner.
            ("server.4=127.0.0.1:2004:3004", "", ""),
            // Member 1's quorum port.
            ("server.4=127.0.0.1:2001:3004;4004", "", ""),
            ("", "x", ""),
            ("", "", "server.1=nonsense"),
            ("", "", "tickTime=2000"),
            // Two voters must remain.
            ("", "1,2", ""),
            ("", "", "server.1=127.0.0.1:2001:3001;4001"),
        ] {
            let req = request(joining, leaving, members, -1);
            assert_eq!(
                check(&view(), &req, &read_only(), &[]),
                Err(ErrorCode::BadArguments),
                "{joining:?} {leaving:?} {members:?}"
            );
        }
    }

    #[test]
    fn only_write_on_the_config_node_or_super_passes() {
        let req = request("server.999=0.0.0.0:1234:2345:observer;3456", "", "", -1);
        let digest = vec![Id::new("digest", "bob:x")];
        assert_eq!(
            check(&view(), &req, &read_only(), &digest),
            Err(ErrorCode::NoAuth)
        );
        let bob_writes = vec![Acl::new(perms::ALL, Id::new("digest", "bob:x"))];
        assert!(check(&view(), &req, &bob_writes, &digest).is_ok());
        assert!(check(&view(), &req, &read_only(), &super_ids()).is_ok());
    }

    #[test]
    fn incremental_and_whole_lists_give_the_new_members() {
        let req = request(
            "server.4=127.0.0.1:2004:3004;127.0.0.1:4004,server.5=127.0.0.1:2005:3005:observer;4005",
            "2",
            "",
            -1,
        );
        let next = check(&view(), &req, &read_only(), &super_ids()).unwrap();
        assert_eq!(
            crate::config::membership_text(&next, 0x1_0000_0005),
            "server.1=127.0.0.1:2001:3001:participant;127.0.0.1:4001\n\
             server.3=127.0.0.1:2003:3003:participant;127.0.0.1:4003\n\
             server.4=127.0.0.1:2004:3004:participant;127.0.0.1:4004\n\
             server.5=127.0.0.1:2005:3005:observer;0.0.0.0:4005\n\
             version=100000005"
        );
        let req = request(
            "",
            "",
            "server.2=127.0.0.1:2002:3002;4002,server.1=127.0.0.1:2001:3001;4001\nversion=5",
            -1,
        );
        let next = check(&view(), &req, &read_only(), &super_ids()).unwrap();
        assert_eq!(next.iter().map(|m| m.id).collect::<Vec<_>>(), vec![1, 2]);
    }
}
