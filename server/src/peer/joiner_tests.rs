//! Peers at run time: a joiner the ensemble was not started with connects with a Hello that
//! names its addresses and is answered (with `accept_joiners`, reconfigEnabled), refused
//! without it; a configuration's members are added and removed (`set_members`).

use ringkeeper_replication::{Message, Vote, VoterState};

use super::tests::{free_addrs, recv, run, settings, wait_for};
use super::transport::reachable_addr;
use super::*;

fn vote(leader: u64) -> Message {
    Message::Vote {
        round: 1,
        vote: Vote {
            epoch: 1,
            zxid: 7,
            leader,
        },
        state: VoterState::Leading,
    }
}

/// Member 1 knows no peer; joiner 4 knows member 1. With `accept_joiners` member 1 takes
/// 4's Hello, dials it back at the addresses it named, and the two talk both ways.
#[test]
fn a_joiner_is_answered_at_the_addresses_its_hello_names() {
    run(|| async {
        let (m_addrs, j_addrs, other) = (free_addrs(30, 2), free_addrs(31, 2), free_addrs(32, 2));
        // Member 1 starts with a peer 2 that never comes up (its list must name someone).
        let mut member = settings(1, &m_addrs, 2, &other);
        member.accept_joiners = true;
        let (m, m_rx) = Transport::start(member).await.unwrap();
        let (j, j_rx) = Transport::start(settings(4, &j_addrs, 1, &m_addrs))
            .await
            .unwrap();
        wait_for("member 1 dials joiner 4 back", || {
            m.peer_ids() == vec![2, 4] && j.stats().inbound_connections == 2
        })
        .await;
        assert_eq!(m.stats().peers_added, 1);
        j.send(1, &vote(4));
        assert_eq!(
            recv(&m_rx).await,
            Inbound::Protocol {
                from: 4,
                message: vote(4)
            }
        );
        wait_for("member 1's link to 4 up", || m.stats().links_up == 2).await;
        m.send(4, &vote(1));
        assert_eq!(
            recv(&j_rx).await,
            Inbound::Protocol {
                from: 1,
                message: vote(1)
            }
        );
        // A configuration that adds 4 keeps its link (now a member's); one that drops 2 and
        // 4 removes both.
        let four = PeerEndpoint {
            id: 4,
            quorum: vec![j_addrs[0].clone()],
            election: vec![j_addrs[1].clone()],
        };
        m.set_members(std::slice::from_ref(&four));
        assert_eq!(m.peer_ids(), vec![4]);
        assert_eq!(m.stats().peers_removed, 1);
        m.set_members(&[]);
        assert_eq!(m.peer_ids(), Vec::<u64>::new());
        wait_for("the removed links go down", || m.stats().links_up == 0).await;
        let before = m.stats().frames_dropped;
        m.send(4, &vote(1));
        assert_eq!(
            m.stats().frames_dropped,
            before + 1,
            "no link to a removed peer"
        );
        // A member that activates names a new peer: it is dialed.
        m.set_members(&[four]);
        wait_for("the member's link to 4", || m.stats().links_up == 2).await;
        j.stop();
        m.stop();
    });
}

/// Without `accept_joiners` (reconfigEnabled off) a Hello from a server that is not a
/// configured peer is refused, addresses or not: the connection is closed and no peer is
/// added.
#[test]
fn without_reconfig_a_joiner_is_refused() {
    run(|| async {
        let (m_addrs, j_addrs, other) = (free_addrs(33, 2), free_addrs(34, 2), free_addrs(35, 2));
        let (m, _m_rx) = Transport::start(settings(1, &m_addrs, 2, &other))
            .await
            .unwrap();
        let (j, _j_rx) = Transport::start(settings(4, &j_addrs, 1, &m_addrs))
            .await
            .unwrap();
        wait_for("the joiner's Hellos refused", || {
            m.stats().connection_errors >= 2
        })
        .await;
        assert_eq!(m.peer_ids(), vec![2]);
        assert_eq!(m.stats().peers_added, 0);
        j.stop();
        m.stop();
    });
}

#[test]
fn a_wildcard_address_is_answered_where_the_connection_came_from() {
    let remote = Some("10.1.2.3:40000".parse().unwrap());
    assert_eq!(reachable_addr("0.0.0.0:2888", remote), "10.1.2.3:2888");
    assert_eq!(reachable_addr("10.9.9.9:2888", remote), "10.9.9.9:2888");
    assert_eq!(
        reachable_addr("host.example:2888", remote),
        "host.example:2888"
    );
    assert_eq!(reachable_addr("0.0.0.0:2888", None), "0.0.0.0:2888");
}
