//! Dynamic reconfiguration at the handler level, in the manner of `protocol.rs`: drive one
//! peer by hand and assert the commands it emits. The payload format is the simulator's
//! (`cfg:<voters>|<observers>`); docs/replication.md, "Dynamic reconfiguration", has the rules.

use ringkeeper_replication::sim::{membership_payload, read_membership};
use ringkeeper_replication::zxid::make;
use ringkeeper_replication::{
    Command, Config, Entry, EpochState, Event, Membership, MembershipReader, Message, Payload,
    Peer, ProposeError, Restored, Role, Vote, VoterState,
};

fn config(id: u64) -> Config {
    let mut config = Config::new(id, vec![1, 2, 3]);
    config.membership_reader = MembershipReader(read_membership);
    config
}

fn members(voters: &[u64]) -> Membership {
    Membership {
        version: 0,
        voters: voters.to_vec(),
        observers: vec![],
    }
}

fn deliver(peer: &mut Peer, from: u64, message: Message) -> Vec<Command> {
    peer.step(Event::Message { from, message })
}

fn sends(commands: &[Command]) -> Vec<(u64, Message)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Send { to, message } => Some((*to, message.clone())),
            _ => None,
        })
        .collect()
}

/// Registers learner `from` with `leader` and acknowledges the (empty) history, so that it
/// is synchronized and told it is up to date.
fn join(leader: &mut Peer, from: u64, attempt: u64) {
    let info = Message::FollowerInfo {
        attempt,
        accepted_epoch: 0,
        accepted_leader: None,
        last_zxid: 0,
    };
    deliver(leader, from, info);
    let epoch = leader.epochs().accepted_epoch;
    let ack_epoch = Message::AckEpoch {
        epoch,
        attempt,
        current_epoch: 0,
        last_zxid: 0,
    };
    deliver(leader, from, ack_epoch);
    deliver(leader, from, Message::Ack { epoch, zxid: 0 });
}

/// Peer 1, established leader of epoch 1 of voters 1, 2 and 3, with `learners` synchronized.
fn leader(learners: &[u64]) -> Peer {
    let (mut leader, _) = Peer::restore(config(1), Restored::default()).expect("config");
    for from in [2, 3] {
        let vote = Vote {
            epoch: 0,
            zxid: 0,
            leader: 1,
        };
        let state = VoterState::Looking;
        deliver(
            &mut leader,
            from,
            Message::Vote {
                round: 1,
                vote,
                state,
            },
        );
    }
    for (k, &from) in learners.iter().enumerate() {
        join(&mut leader, from, 10 + k as u64);
    }
    assert_eq!(leader.role(), Role::Leading { epoch: 1 });
    leader
}

#[test]
fn a_reconfiguration_commits_with_a_quorum_of_the_old_and_of_the_new_configuration() {
    // Voters 2 and 3 are replaced by joiners 4 and 5, which follow as non-members. With the
    // leader's own copy, 2 alone makes a majority of the old voters only, 4 alone of the new
    // voters only; either order, the reconfiguration waits for the other.
    for (first, second) in [(2, 4), (4, 2)] {
        let mut leader = leader(&[2, 3, 4, 5]);
        let new = members(&[1, 4, 5]);
        let commands = leader
            .propose(vec![membership_payload(&new)])
            .expect("leader");
        let r = make(1, 1);
        let pending = Membership {
            version: r,
            ..new.clone()
        };
        assert!(commands.contains(&Command::Membership {
            active: members(&[1, 2, 3]),
            pending: Some(pending),
        }));
        let to: Vec<u64> = sends(&commands).iter().map(|(to, _)| *to).collect();
        assert_eq!(to, vec![2, 3, 4, 5], "joiners get the proposal too");
        assert_eq!(leader.step(Event::Durable { zxid: r }), vec![]);
        let ack = |zxid| Message::Ack { epoch: 1, zxid };
        assert_eq!(deliver(&mut leader, first, ack(r)), vec![], "after {first}");
        assert_eq!(leader.membership(), members(&[1, 2, 3]));
        // Both majorities: it commits and takes effect.
        let commands = deliver(&mut leader, second, ack(r));
        let active = Membership { version: r, ..new };
        assert_eq!(
            commands[1],
            Command::Membership {
                active: active.clone(),
                pending: None
            }
        );
        assert!(sends(&commands).contains(&(4, Message::Commit { epoch: 1, zxid: r })));
        assert_eq!(leader.membership(), active);
        // From now on 1 and 4 are a quorum, without 2 or 3.
        leader
            .propose(vec![Payload::from(&b"w"[..])])
            .expect("leader");
        let w = make(1, 2);
        assert_eq!(leader.step(Event::Durable { zxid: w }), vec![]);
        let commands = deliver(&mut leader, 4, ack(w));
        assert_eq!(
            commands[0],
            Command::Apply {
                entries: vec![Entry {
                    zxid: w,
                    payload: Payload::from(&b"w"[..])
                }]
            }
        );
    }
}

#[test]
fn one_reconfiguration_at_a_time_and_only_with_a_synchronized_new_quorum() {
    let mut leader = leader(&[2, 3]);
    // 4 and 5 are not following this leader: the new configuration could never commit.
    assert_eq!(
        leader.propose(vec![membership_payload(&members(&[1, 4, 5]))]),
        Err(ProposeError::NewConfigNoQuorum)
    );
    assert_eq!(
        leader.propose(vec![membership_payload(&members(&[]))]),
        Err(ProposeError::NewConfigNoQuorum),
        "a configuration without voters is refused"
    );
    leader
        .propose(vec![membership_payload(&members(&[1, 2]))])
        .expect("a synchronized majority");
    assert_eq!(
        leader.propose(vec![membership_payload(&members(&[1, 3]))]),
        Err(ProposeError::ReconfigInProgress)
    );
    // Ordinary writes go on meanwhile.
    leader
        .propose(vec![Payload::from(&b"w"[..])])
        .expect("writes are not held back");
}

#[test]
fn a_leader_removed_by_a_reconfiguration_commits_it_then_steps_down() {
    let mut leader = leader(&[2, 3]);
    leader
        .propose(vec![membership_payload(&members(&[2, 3]))])
        .expect("leader");
    let r = make(1, 1);
    leader.step(Event::Durable { zxid: r });
    assert_eq!(
        deliver(&mut leader, 2, Message::Ack { epoch: 1, zxid: r }),
        vec![]
    );
    let commands = deliver(&mut leader, 3, Message::Ack { epoch: 1, zxid: r });
    let commit = commands
        .iter()
        .position(|c| {
            matches!(
                c,
                Command::Send {
                    message: Message::Commit { .. },
                    ..
                }
            )
        })
        .expect("the commit is sent");
    let looking = commands
        .iter()
        .position(|c| *c == Command::Role(Role::Looking))
        .expect("it steps down");
    assert!(commit < looking, "{commands:?}");
    assert_eq!(leader.role(), Role::Looking);
    // A server that no longer votes asks for the leader instead of standing.
    let votes: Vec<VoterState> = sends(&commands[looking..])
        .into_iter()
        .filter_map(|(_, m)| match m {
            Message::Vote { state, .. } => Some(state),
            _ => None,
        })
        .collect();
    assert!(!votes.is_empty() && votes.iter().all(|s| *s == VoterState::Observing));
}

#[test]
fn a_joiner_never_stands_but_adopts_a_voters_candidate() {
    // Server 4 runs with the ensemble's configuration, which does not list it.
    let (mut joiner, commands) = Peer::restore(config(4), Restored::default()).expect("config");
    let asks: Vec<(u64, VoterState)> = sends(&commands)
        .into_iter()
        .filter_map(|(to, m)| match m {
            Message::Vote { state, .. } => Some((to, state)),
            _ => None,
        })
        .collect();
    assert_eq!(
        asks,
        vec![
            (1, VoterState::Observing),
            (2, VoterState::Observing),
            (3, VoterState::Observing)
        ]
    );
    // A vote for the joiner itself (from a server whose newer configuration counts it) is
    // not taken up.
    let for_me = Vote {
        epoch: 0,
        zxid: 0,
        leader: 4,
    };
    let looking = VoterState::Looking;
    let vote = |vote| Message::Vote {
        round: 1,
        vote,
        state: looking,
    };
    assert_eq!(deliver(&mut joiner, 2, vote(for_me)), vec![]);
    // A vote for a voter is adopted and passed on as the joiner's own.
    let for_two = Vote {
        leader: 2,
        ..for_me
    };
    let commands = deliver(&mut joiner, 3, vote(for_two));
    assert_eq!(
        sends(&commands),
        vec![(1, vote(for_two)), (2, vote(for_two)), (3, vote(for_two))]
    );
    assert_eq!(
        joiner.role(),
        Role::Looking,
        "a joiner never decides by itself"
    );
}

/// A joiner that promised epoch 5 to server 3 (which counted it in a configuration it had)
/// is offered epoch 5 by server 2, the leader that won without counting it. A voter would go
/// back to looking; a joiner follows, acks the epoch and keeps its promise to 3 unchanged
/// (nothing saved), as Apache's learner acks an epoch it accepted already. Going back to
/// looking left such a joiner out for as long as that leader lasted (simulator seed 442).
/// An older epoch is still refused.
#[test]
fn a_joiner_follows_the_winner_of_an_epoch_it_promised_to_another() {
    for (offered, follows) in [(5, true), (4, false)] {
        let epochs = EpochState {
            accepted_epoch: 5,
            accepted_leader: Some(3),
            current_epoch: 4,
            boot: 0,
        };
        let restored = Restored {
            epochs,
            ..Restored::default()
        };
        let (mut joiner, _) = Peer::restore(config(4), restored).expect("config");
        let vote = Vote {
            epoch: 4,
            zxid: 0,
            leader: 2,
        };
        let leading = Message::Vote {
            round: 9,
            vote,
            state: VoterState::Leading,
        };
        let commands = deliver(&mut joiner, 2, leading);
        let Some((2, Message::FollowerInfo { attempt, .. })) = sends(&commands).pop() else {
            panic!("the joiner registers with the leader: {commands:?}");
        };
        let commands = deliver(
            &mut joiner,
            2,
            Message::NewEpoch {
                epoch: offered,
                attempt,
            },
        );
        assert!(
            !commands.iter().any(|c| matches!(c, Command::SaveEpochs(_))),
            "the promise to server 3 must not change: {commands:?}"
        );
        if follows {
            let ack = Message::AckEpoch {
                epoch: 5,
                attempt,
                current_epoch: 4,
                last_zxid: 0,
            };
            assert_eq!(sends(&commands), vec![(2, ack)]);
            assert_eq!(joiner.leader(), Some(2));
        } else {
            assert_eq!(
                joiner.leader(),
                None,
                "an older epoch sends it back to looking"
            );
        }
    }
}
