//! Handler-level tests in the manner of openraft's engine tests: drive one peer by hand and
//! assert the exact commands it emits. Each test names the Zab phase it checks.

use ringkeeper_replication::zxid::make;
use ringkeeper_replication::{
    Command, Config, Entry, EpochState, Event, Membership, Message, Payload, Peer, ProposeError,
    Restored, Role, SyncConfig, SyncMode, Vote, VoterState,
};

fn payload(s: &str) -> Payload {
    s.as_bytes().into()
}

fn entry(epoch: u32, counter: u32) -> Entry {
    Entry {
        zxid: make(epoch, counter),
        payload: payload(&format!("{epoch}.{counter}")),
    }
}

/// Every test ensemble has voters 1, 2 and 3 and observer 4; the observer takes part only
/// where a test says so.
fn config(id: u64) -> Config {
    let mut config = Config::new(id, vec![1, 2, 3]);
    config.observers = vec![4];
    config
}

/// What a leader of the test ensemble tells a learner of its configuration in a sync.
fn sync_config(observer: bool) -> Option<SyncConfig> {
    Some(SyncConfig {
        active: Membership {
            version: 0,
            voters: vec![1, 2, 3],
            observers: vec![4],
        },
        observer,
    })
}

fn peer(id: u64, restored: Restored) -> Peer {
    let (peer, _) = Peer::restore(config(id), restored).expect("config");
    peer
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

/// Makes peer 1 (with `restored`) the leader of a 3-server ensemble in which peer 2 has
/// registered, and returns the attempt peer 2 used.
fn leader_with_follower(restored: Restored) -> Peer {
    leader_with_config(config(1), restored)
}

fn leader_with_config(config: Config, restored: Restored) -> Peer {
    let (mut leader, _) = Peer::restore(config, restored).expect("config");
    let vote = Vote {
        epoch: leader.epochs().current_epoch,
        zxid: leader.last_zxid(),
        leader: 1,
    };
    for from in [2, 3] {
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
    assert_eq!(leader.leader(), Some(1), "every voter agreed on peer 1");
    leader
}

#[test]
fn election_prefers_newest_epoch_then_zxid_then_id() {
    // FastLeaderElection's total order, which the derived Ord on Vote implements.
    let v = |epoch, zxid, leader| Vote {
        epoch,
        zxid,
        leader,
    };
    assert!(v(2, 1, 1) > v(1, 99, 3));
    assert!(v(1, 5, 1) > v(1, 4, 3));
    assert!(v(1, 5, 3) > v(1, 5, 2));
}

#[test]
fn election_adopts_a_better_vote_and_rebroadcasts_it() {
    let mut p = peer(1, Restored::default());
    let better = Vote {
        epoch: 0,
        zxid: make(1, 3),
        leader: 2,
    };
    let commands = deliver(
        &mut p,
        2,
        Message::Vote {
            round: 1,
            vote: better,
            state: VoterState::Looking,
        },
    );
    let expected: Vec<(u64, Message)> = [2, 3]
        .into_iter()
        .map(|to| {
            let message = Message::Vote {
                round: 1,
                vote: better,
                state: VoterState::Looking,
            };
            (to, message)
        })
        .collect();
    assert_eq!(sends(&commands), expected);
    // Two of three agree: a quorum, but the decision waits one tick for a better vote.
    assert_eq!(p.leader(), None);
    p.step(Event::Tick);
    assert_eq!(p.leader(), Some(2));
}

#[test]
fn zab_phase1_leader_picks_an_epoch_above_every_accepted_one() {
    let restored = Restored {
        epochs: EpochState {
            accepted_epoch: 4,
            accepted_leader: Some(3),
            current_epoch: 4,
            boot: 0,
        },
        ..Restored::default()
    };
    let mut leader = leader_with_follower(restored);
    let commands = deliver(
        &mut leader,
        2,
        Message::FollowerInfo {
            attempt: 77,
            accepted_epoch: 6,
            accepted_leader: Some(2),
            last_zxid: 0,
        },
    );
    let saved = EpochState {
        accepted_epoch: 7,
        accepted_leader: Some(1),
        current_epoch: 4,
        boot: 1,
    };
    assert_eq!(commands[0], Command::SaveEpochs(saved));
    assert_eq!(
        sends(&commands),
        vec![(
            2,
            Message::NewEpoch {
                epoch: 7,
                attempt: 77
            }
        )]
    );
}

#[test]
fn zab_phase1_follower_refuses_an_older_epoch_and_the_same_epoch_from_another_leader() {
    for (offered, expect_accept) in [(3, false), (5, false), (6, true)] {
        let restored = Restored {
            epochs: EpochState {
                accepted_epoch: 5,
                accepted_leader: Some(3),
                current_epoch: 5,
                boot: 0,
            },
            ..Restored::default()
        };
        let mut f = peer(1, restored);
        let vote = Vote {
            epoch: 5,
            zxid: 0,
            leader: 2,
        };
        let state = VoterState::Leading;
        let commands = deliver(
            &mut f,
            2,
            Message::Vote {
                round: 9,
                vote,
                state,
            },
        );
        let Some((_, Message::FollowerInfo { attempt, .. })) = sends(&commands).pop() else {
            panic!("a peer joining a leader registers with FollowerInfo: {commands:?}");
        };
        let message = Message::NewEpoch {
            epoch: offered,
            attempt,
        };
        let commands = deliver(&mut f, 2, message);
        if expect_accept {
            assert_eq!(
                commands[0],
                Command::SaveEpochs(EpochState {
                    accepted_epoch: 6,
                    accepted_leader: Some(2),
                    current_epoch: 5,
                    boot: 1
                })
            );
            let ack = Message::AckEpoch {
                epoch: 6,
                attempt,
                current_epoch: 5,
                last_zxid: 0,
            };
            assert_eq!(sends(&commands), vec![(2, ack)]);
        } else {
            assert_eq!(
                f.leader(),
                None,
                "epoch {offered} must send us back to looking"
            );
            assert!(!commands.iter().any(|c| matches!(c, Command::SaveEpochs(_))));
        }
    }
}

/// Brings `leader` through discovery with peer 2 reporting `f_last`, and returns the commands
/// of the AckEpoch step (where the sync is sent).
fn sync_for(leader: &mut Peer, f_last: i64) -> Vec<Command> {
    handshake(leader, 2, 5, f_last).1
}

/// Learner `from` registers with `leader` under `attempt` and acknowledges its epoch; returns
/// the commands of both steps.
fn handshake(
    leader: &mut Peer,
    from: u64,
    attempt: u64,
    f_last: i64,
) -> (Vec<Command>, Vec<Command>) {
    let info = Message::FollowerInfo {
        attempt,
        accepted_epoch: 0,
        accepted_leader: None,
        last_zxid: f_last,
    };
    let registered = deliver(leader, from, info);
    let epoch = leader.epochs().accepted_epoch;
    let ack = Message::AckEpoch {
        epoch,
        attempt,
        current_epoch: 0,
        last_zxid: f_last,
    };
    (registered, deliver(leader, from, ack))
}

fn leader_log() -> Restored {
    Restored {
        epochs: EpochState {
            accepted_epoch: 3,
            accepted_leader: Some(1),
            current_epoch: 3,
            boot: 0,
        },
        snapshot_zxid: make(1, 2),
        entries: vec![entry(1, 3), entry(1, 4), entry(3, 1)],
    }
}

#[test]
fn zab_phase2_diff_sends_only_what_the_follower_lacks() {
    let mut leader = leader_with_follower(leader_log());
    let commands = sync_for(&mut leader, make(1, 3));
    let expected = Message::Sync {
        epoch: 4,
        attempt: 5,
        mode: SyncMode::Diff,
        prev: make(1, 3),
        entries: vec![entry(1, 4), entry(3, 1)],
        committed: make(1, 2),
        config: sync_config(false),
    };
    assert_eq!(sends(&commands), vec![(2, expected)]);
}

#[test]
fn zab_phase2_trunc_cuts_proposals_the_leader_never_had() {
    let mut leader = leader_with_follower(leader_log());
    // The follower logged (2,7), which no leader after epoch 2 kept: cut back to (1,4).
    let commands = sync_for(&mut leader, make(2, 7));
    let expected = Message::Sync {
        epoch: 4,
        attempt: 5,
        mode: SyncMode::Trunc,
        prev: make(1, 4),
        entries: vec![entry(3, 1)],
        committed: make(1, 2),
        config: sync_config(false),
    };
    assert_eq!(sends(&commands), vec![(2, expected)]);
}

fn chunks(commands: &[Command]) -> Vec<(u64, u64)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::SendSnapshotChunk { offset, len, .. } => Some((*offset, *len)),
            _ => None,
        })
        .collect()
}

fn snapshot_ack(received: u64) -> Message {
    Message::SnapshotAck {
        epoch: 4,
        attempt: 5,
        zxid: make(1, 2),
        received,
    }
}

#[test]
fn zab_phase2_snap_is_a_windowed_transfer_then_a_sync() {
    const MB: u64 = 1 << 20;
    let mut leader = leader_with_follower(leader_log());
    let commands = sync_for(&mut leader, make(1, 1));
    // The follower is behind the window: the server is asked to prepare a snapshot at the
    // applied point, and nothing is sent until it is ready.
    assert_eq!(
        commands,
        vec![Command::SendSnapshot {
            to: 2,
            epoch: 4,
            attempt: 5,
            zxid: make(1, 2),
            follower_zxid: make(1, 1),
            log_base: make(1, 2),
        }]
    );
    // Its AckEpoch, repeated while it waits, does not start another transfer.
    let (_, again) = handshake(&mut leader, 2, 5, make(1, 1));
    assert!(again.is_empty(), "{again:?}");
    // Ready: a window of 8 one-MiB chunks goes out.
    let total = 20 * MB + 5;
    let ready = leader.step(Event::SnapshotReady {
        to: 2,
        attempt: 5,
        zxid: make(1, 2),
        total,
    });
    let window: Vec<(u64, u64)> = (0..8).map(|i| (i * MB, MB)).collect();
    assert_eq!(chunks(&ready), window);
    assert_eq!(
        ready[0],
        Command::SendSnapshotChunk {
            to: 2,
            epoch: 4,
            attempt: 5,
            zxid: make(1, 2),
            offset: 0,
            len: MB
        }
    );
    // Each ack that moves forward opens the window by what it acknowledges.
    assert_eq!(
        chunks(&deliver(&mut leader, 2, snapshot_ack(2 * MB))),
        vec![(8 * MB, MB), (9 * MB, MB)]
    );
    // A repeated ack (the follower lost a chunk and got later ones) sends nothing at once...
    assert!(chunks(&deliver(&mut leader, 2, snapshot_ack(2 * MB))).is_empty());
    // ...but once the retry timer runs out the window is sent again from the acked point.
    let mut resent = Vec::new();
    for _ in 0..10 {
        resent.extend(chunks(&leader.step(Event::Tick)));
    }
    let expected: Vec<(u64, u64)> = (2..10).map(|i| (i * MB, MB)).collect();
    assert_eq!(resent, expected);
    // Acks of another snapshot, or another attempt, change nothing.
    let mut stale = snapshot_ack(total);
    if let Message::SnapshotAck { attempt, .. } = &mut stale {
        *attempt = 4;
    }
    assert!(deliver(&mut leader, 2, stale).is_empty());
    // The last chunk is short; the final ack brings the sync that continues from the
    // snapshot's zxid with everything after it.
    let c = deliver(&mut leader, 2, snapshot_ack(19 * MB));
    assert_eq!(chunks(&c), vec![(19 * MB, MB), (20 * MB, 5)]);
    let done = deliver(&mut leader, 2, snapshot_ack(total));
    assert!(chunks(&done).is_empty());
    let expected = Message::Sync {
        epoch: 4,
        attempt: 5,
        mode: SyncMode::Snap,
        prev: make(1, 2),
        entries: vec![entry(1, 3), entry(1, 4), entry(3, 1)],
        committed: make(1, 2),
        config: sync_config(false),
    };
    assert_eq!(sends(&done), vec![(2, expected)]);
    // A late duplicate of the final ack is stale.
    assert!(deliver(&mut leader, 2, snapshot_ack(total)).is_empty());
    assert_eq!(leader.stats().snapshot_chunks_sent, 8 + 2 + 8 + 2);
}

/// Issue 14 item 7: at 1M znodes the leader sent a follower a second full snapshot right
/// after it installed the first. The follower repeats its AckEpoch until the sync arrives;
/// a repeat that reached the leader after the transfer was answered with a sync from the
/// snapshot's zxid, which the log window had moved past meanwhile, so a new snapshot.
#[test]
fn zab_phase2_a_repeated_ackepoch_after_a_snapshot_gets_the_diff_not_another_snapshot() {
    let mut config = config(1);
    config.log_window_entries_max = 2;
    let mut leader = leader_with_config(config, leader_log());
    // Voter 3 is in sync and acks, so the leader is established and commits.
    handshake(&mut leader, 3, 7, make(3, 1));
    deliver(
        &mut leader,
        3,
        Message::Ack {
            epoch: 4,
            zxid: make(3, 1),
        },
    );
    assert_eq!(leader.role(), Role::Leading { epoch: 4 });
    // Follower 2 is behind the log: a snapshot at the applied point.
    let asked = sync_for(&mut leader, make(1, 1));
    let [Command::SendSnapshot { zxid: snap, .. }] = asked[..] else {
        panic!("expected a snapshot, got {asked:?}");
    };
    let ready = leader.step(Event::SnapshotReady {
        to: 2,
        attempt: 5,
        zxid: snap,
        total: 10,
    });
    assert_eq!(chunks(&ready), vec![(0, 10)]);
    let mut ack = snapshot_ack(10);
    if let Message::SnapshotAck { zxid, .. } = &mut ack {
        *zxid = snap;
    }
    let done = deliver(&mut leader, 2, ack);
    assert!(
        sends(&done).iter().any(|(to, m)| *to == 2
            && matches!(m, Message::Sync { mode: SyncMode::Snap, prev, .. } if *prev == snap)),
        "{done:?}"
    );
    // Writes commit while the follower logs its sync: far more than the window of 2.
    let mut last = snap;
    for i in 0..10 {
        leader
            .propose(vec![payload(&format!("w{i}"))])
            .expect("leader");
        last = leader.last_zxid();
        leader.step(Event::Durable { zxid: last });
        deliver(
            &mut leader,
            3,
            Message::Ack {
                epoch: 4,
                zxid: last,
            },
        );
    }
    assert_eq!(leader.applied_zxid(), last);
    // An AckEpoch the follower repeated before the sync reached it arrives now: it gets the
    // same sync again, continuing from the snapshot, not a second snapshot.
    let (_, again) = handshake(&mut leader, 2, 5, snap);
    assert!(
        !again
            .iter()
            .any(|c| matches!(c, Command::SendSnapshot { .. })),
        "a second snapshot for a follower that installed the first: {again:?}"
    );
    let resent = sends(&again);
    let [(2, Message::Sync { prev, entries, .. })] = &resent[..] else {
        panic!("expected the sync again, got {again:?}");
    };
    assert_eq!(*prev, snap);
    assert_eq!(entries.last().map(|e| e.zxid), Some(last));
    // Once the follower acked its sync, a still later repeat is stale and changes nothing.
    deliver(
        &mut leader,
        2,
        Message::Ack {
            epoch: 4,
            zxid: last,
        },
    );
    let (_, late) = handshake(&mut leader, 2, 5, snap);
    assert!(late.is_empty(), "{late:?}");
    assert_eq!(leader.stats().syncs_snap, 1, "one snapshot for follower 2");
}

#[test]
fn zab_phase2_a_stalled_transfer_is_given_up() {
    let mut leader = leader_with_follower(leader_log());
    sync_for(&mut leader, make(1, 1));
    // Voter 3 is in sync, so the leader stays established while 2's transfer runs.
    handshake(&mut leader, 3, 7, make(3, 1));
    let ack = Message::Ack {
        epoch: 4,
        zxid: make(3, 1),
    };
    // The snapshot never becomes ready (or its acks never come): after the stall limit the
    // follower is told to start over, which brings a fresh snapshot.
    let mut resync = false;
    for _ in 0..=config(1).snapshot_stall_ticks + 1 {
        deliver(&mut leader, 3, ack.clone());
        assert_eq!(leader.leader(), Some(1));
        let c = leader.step(Event::Tick);
        resync |= sends(&c)
            .iter()
            .any(|(to, m)| *to == 2 && matches!(m, Message::Resync { .. }));
    }
    assert!(resync);
    assert_eq!(leader.stats().snapshot_transfers_abandoned, 1);
}

#[test]
fn zab_phase2_follower_adopts_the_epoch_and_acks_only_once_durable() {
    let mut f = peer(2, Restored::default());
    let vote = Vote {
        epoch: 0,
        zxid: 0,
        leader: 1,
    };
    let state = VoterState::Leading;
    let commands = deliver(
        &mut f,
        1,
        Message::Vote {
            round: 1,
            vote,
            state,
        },
    );
    let Some((_, Message::FollowerInfo { attempt, .. })) = sends(&commands).pop() else {
        panic!("{commands:?}");
    };
    deliver(&mut f, 1, Message::NewEpoch { epoch: 1, attempt });
    let sync = Message::Sync {
        epoch: 1,
        attempt,
        mode: SyncMode::Diff,
        prev: 0,
        entries: vec![entry(0, 1)],
        committed: 0,
        config: None,
    };
    let commands = deliver(&mut f, 1, sync);
    assert_eq!(
        commands,
        vec![Command::Append {
            entries: vec![entry(0, 1)]
        }],
        "no epoch saved and no ack before the history is durable"
    );
    let commands = f.step(Event::Durable { zxid: make(0, 1) });
    assert_eq!(
        commands,
        vec![
            Command::SaveEpochs(EpochState {
                accepted_epoch: 1,
                accepted_leader: Some(1),
                current_epoch: 1,
                boot: 1
            }),
            Command::Send {
                to: 1,
                message: Message::Ack {
                    epoch: 1,
                    zxid: make(0, 1)
                }
            },
        ]
    );
    let commands = deliver(
        &mut f,
        1,
        Message::UpToDate {
            epoch: 1,
            committed: make(0, 1),
        },
    );
    assert_eq!(
        commands,
        vec![
            Command::Apply {
                entries: vec![entry(0, 1)]
            },
            Command::Role(Role::Following {
                leader: 1,
                epoch: 1
            }),
        ]
    );
}

#[test]
fn zab_phase3_commit_needs_a_durable_quorum_including_the_leader() {
    let mut leader = leader_with_follower(Restored::default());
    sync_for(&mut leader, 0);
    // Establishment: the follower acks the (empty) history and the leader has it durable.
    let commands = deliver(&mut leader, 2, Message::Ack { epoch: 1, zxid: 0 });
    assert!(commands.contains(&Command::Role(Role::Leading { epoch: 1 })));
    assert_eq!(leader.role(), Role::Leading { epoch: 1 });

    let commands = leader
        .propose(vec![payload("a"), payload("b")])
        .expect("leader");
    let proposed = vec![
        Entry {
            zxid: make(1, 1),
            payload: payload("a"),
        },
        Entry {
            zxid: make(1, 2),
            payload: payload("b"),
        },
    ];
    assert_eq!(
        commands,
        vec![
            Command::Append {
                entries: proposed.clone()
            },
            Command::Send {
                to: 2,
                message: Message::Proposal {
                    epoch: 1,
                    entries: proposed.clone()
                }
            },
        ]
    );
    // The follower alone is not a quorum of durable copies: nothing commits.
    let ack = Message::Ack {
        epoch: 1,
        zxid: make(1, 2),
    };
    assert_eq!(deliver(&mut leader, 2, ack), vec![]);
    // The leader's own fsync of the first entry makes two copies of it: that one commits.
    let commands = leader.step(Event::Durable { zxid: make(1, 1) });
    assert_eq!(
        commands,
        vec![
            Command::Apply {
                entries: proposed[..1].to_vec()
            },
            Command::Send {
                to: 2,
                message: Message::Commit {
                    epoch: 1,
                    zxid: make(1, 1)
                }
            },
        ]
    );
}

#[test]
fn proposals_are_refused_when_not_leading_or_over_the_limit() {
    let mut p = peer(1, Restored::default());
    assert_eq!(
        p.propose(vec![payload("x")]),
        Err(ProposeError::NotLeader { leader: None })
    );
    let commands = p.step(Event::Propose {
        payloads: vec![payload("x")],
    });
    assert_eq!(
        commands,
        vec![Command::Rejected {
            payloads: vec![payload("x")],
            error: ProposeError::NotLeader { leader: None }
        }]
    );

    let mut leader = leader_with_follower(Restored::default());
    sync_for(&mut leader, 0);
    deliver(&mut leader, 2, Message::Ack { epoch: 1, zxid: 0 });
    let max = Config::new(1, vec![1, 2, 3]).proposals_outstanding_max;
    let many: Vec<Payload> = (0..max).map(|i| payload(&i.to_string())).collect();
    leader.propose(many).expect("up to the limit");
    assert_eq!(
        leader.propose(vec![payload("one more")]),
        Err(ProposeError::Busy {
            outstanding: max,
            max
        })
    );
}

#[test]
fn a_follower_that_misses_a_proposal_starts_a_new_handshake() {
    let mut f = peer(2, Restored::default());
    let vote = Vote {
        epoch: 0,
        zxid: 0,
        leader: 1,
    };
    let state = VoterState::Leading;
    let commands = deliver(
        &mut f,
        1,
        Message::Vote {
            round: 1,
            vote,
            state,
        },
    );
    let Some((_, Message::FollowerInfo { attempt, .. })) = sends(&commands).pop() else {
        panic!("{commands:?}");
    };
    deliver(&mut f, 1, Message::NewEpoch { epoch: 1, attempt });
    let sync = Message::Sync {
        epoch: 1,
        attempt,
        mode: SyncMode::Diff,
        prev: 0,
        entries: vec![],
        committed: 0,
        config: None,
    };
    deliver(&mut f, 1, sync);
    let gap = Message::Proposal {
        epoch: 1,
        entries: vec![entry(1, 2)],
    };
    let commands = deliver(&mut f, 1, gap);
    assert!(
        !commands.iter().any(|c| matches!(c, Command::Append { .. })),
        "(1,2) without (1,1) must not be logged"
    );
    let Some((1, Message::FollowerInfo { attempt: next, .. })) = sends(&commands).pop() else {
        panic!("{commands:?}");
    };
    assert!(next > attempt);
}

#[test]
fn a_follower_whose_leader_connection_breaks_looks_for_a_new_leader_at_once() {
    // Peer 1 joins leader 2 (as in phase 1 above).
    let mut f = peer(1, Restored::default());
    let vote = Vote {
        epoch: 0,
        zxid: 0,
        leader: 2,
    };
    let state = VoterState::Leading;
    deliver(
        &mut f,
        2,
        Message::Vote {
            round: 1,
            vote,
            state,
        },
    );
    assert_eq!(f.leader(), Some(2));
    // Another member's connection breaking changes nothing.
    let commands = f.step(Event::PeerDisconnected { from: 3 });
    assert!(commands.is_empty(), "{commands:?}");
    assert_eq!(f.leader(), Some(2));
    // The leader's does: back to looking, with a new vote broadcast, no tick needed.
    let commands = f.step(Event::PeerDisconnected { from: 2 });
    assert_eq!(f.leader(), None);
    assert!(
        sends(&commands)
            .iter()
            .any(|(_, m)| matches!(m, Message::Vote { .. })),
        "a new election starts at once: {commands:?}"
    );
    assert_eq!(f.stats().leader_disconnects, 1);
}

/// Peer `id` of a fresh 3-server ensemble, following `leader` (its chosen leader answered a
/// vote as leading), in Zab phase 1; with the attempt of the FollowerInfo it sent.
fn follower_of(id: u64, leader: u64) -> (Peer, u64) {
    let mut f = peer(id, Restored::default());
    let commands = deliver(&mut f, leader, fresh_vote(leader, VoterState::Leading));
    assert_eq!(f.leader(), Some(leader));
    let attempt = match sends(&commands).as_slice() {
        [(to, Message::FollowerInfo { attempt, .. })] if *to == leader => *attempt,
        other => panic!("expected one FollowerInfo to {leader}: {other:?}"),
    };
    (f, attempt)
}

/// A round-1 vote for `leader` of a fresh ensemble (no epoch, no zxid yet).
fn fresh_vote(leader: u64, state: VoterState) -> Message {
    Message::Vote {
        round: 1,
        vote: Vote {
            epoch: 0,
            zxid: 0,
            leader,
        },
        state,
    }
}

fn follower_info(attempt: u64) -> Message {
    Message::FollowerInfo {
        attempt,
        accepted_epoch: 0,
        accepted_leader: None,
        last_zxid: 0,
    }
}

/// A learner restarted with a wiped data directory counts its handshake attempts from a
/// lower boot number than its earlier process did. Once its old connection is gone, its
/// FollowerInfo starts a handshake at once; before, it was refused as stale until the
/// leader gave up on the silent learner.
#[test]
fn a_learner_back_from_a_wipe_with_lower_attempts_is_taken_once_its_old_link_is_gone() {
    let mut leader = leader_with_follower(leader_log());
    let old_boot = 7u64 << 32;
    handshake(&mut leader, 2, old_boot | 3, make(3, 1));
    let new_boot = 1u64 << 32;
    // While the old connection lasts, a lower attempt is a delayed message: stale.
    let refused = deliver(&mut leader, 2, follower_info(new_boot | 1));
    assert!(
        !sends(&refused)
            .iter()
            .any(|(to, m)| *to == 2 && matches!(m, Message::NewEpoch { .. })),
        "{refused:?}"
    );
    leader.step(Event::PeerDisconnected { from: 2 });
    let taken = deliver(&mut leader, 2, follower_info(new_boot | 1));
    assert!(
        sends(&taken).iter().any(|(to, m)| *to == 2
            && matches!(m, Message::NewEpoch { attempt, .. } if *attempt == new_boot | 1)),
        "{taken:?}"
    );
    // The new handshake runs on: its AckEpoch gets a sync.
    let (_, synced) = handshake(&mut leader, 2, new_boot | 1, 0);
    assert!(
        sends(&synced)
            .iter()
            .any(|(to, m)| *to == 2
                && matches!(m, Message::Sync { .. } | Message::SnapshotChunk { .. }))
            || synced
                .iter()
                .any(|c| matches!(c, Command::SendSnapshot { to: 2, .. })),
        "{synced:?}"
    );
}

#[test]
fn election_race_a_non_leader_answers_follower_info_with_what_it_is() {
    // Peer 2 follows 3; peer 1, which lost a race, sends it FollowerInfo.
    let (mut f, _) = follower_of(2, 3);
    let commands = deliver(&mut f, 1, follower_info(1));
    let answer = sends(&commands);
    assert!(
        matches!(
            answer.as_slice(),
            [(
                1,
                Message::Vote {
                    vote: Vote { leader: 3, .. },
                    state: VoterState::Following,
                    ..
                }
            )]
        ),
        "{commands:?}"
    );
    assert_eq!(
        f.leader(),
        Some(3),
        "answering changes nothing for the follower"
    );

    // A looking peer answers with the vote it holds.
    let mut l = peer(3, Restored::default());
    l.step(Event::Tick);
    let commands = deliver(&mut l, 1, follower_info(1));
    assert!(
        matches!(
            sends(&commands).as_slice(),
            [(
                1,
                Message::Vote {
                    state: VoterState::Looking,
                    ..
                }
            )]
        ),
        "{commands:?}"
    );
}

#[test]
fn election_race_a_follower_that_chose_a_follower_looks_again_at_once() {
    // Peer 1 decided for peer 2, which meanwhile follows 3: without the answer, peer 1 would
    // repeat FollowerInfo to 2 until its follower timeout.
    let (mut f, _) = follower_of(1, 2);
    let not_leading = fresh_vote(3, VoterState::Following);
    let commands = deliver(&mut f, 2, not_leading);
    assert_eq!(f.leader(), None, "back to the election");
    assert_eq!(f.stats().wrong_leader_choices, 1);
    assert!(
        sends(&commands).iter().any(|(_, m)| matches!(
            m,
            Message::Vote {
                state: VoterState::Looking,
                ..
            }
        )),
        "its vote goes out at once: {commands:?}"
    );
    // The real leader answers that vote; peer 1 joins it.
    let leading = fresh_vote(3, VoterState::Leading);
    let commands = deliver(&mut f, 3, leading);
    assert_eq!(f.leader(), Some(3));
    assert!(
        matches!(
            sends(&commands).as_slice(),
            [(3, Message::FollowerInfo { .. })]
        ),
        "{commands:?}"
    );
}

#[test]
fn election_race_a_synchronizing_follower_ignores_an_old_following_vote() {
    // Peer 1 follows 2 and is past phase 1 (2 answered with an epoch): a Following vote from
    // 2 may predate its leadership, and must not undo the handshake.
    let (mut f, attempt) = follower_of(1, 2);
    let commands = deliver(&mut f, 2, Message::NewEpoch { epoch: 1, attempt });
    assert!(
        matches!(sends(&commands).as_slice(), [(2, Message::AckEpoch { .. })]),
        "{commands:?}"
    );
    let old = fresh_vote(3, VoterState::Following);
    deliver(&mut f, 2, old);
    assert_eq!(f.leader(), Some(2));
    assert_eq!(f.stats().wrong_leader_choices, 0);
}

/// Observers (Apache's OBSERVING notification): a looking observer asks the voters where the
/// leader is; a looking voter counts that for nothing, and only a leader answers it.
#[test]
fn election_an_observer_asks_and_only_a_leader_answers() {
    let (mut observer, commands) = Peer::restore(config(4), Restored::default()).expect("config");
    let asked: Vec<u64> = sends(&commands)
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::Vote { state: VoterState::Observing, vote, .. } if vote.leader == 4))
        .map(|(to, _)| to)
        .collect();
    assert_eq!(asked, vec![1, 2, 3]);
    let question = sends(&commands)[0].1.clone();

    let mut voter = peer(1, Restored::default());
    assert_eq!(deliver(&mut voter, 4, question.clone()), vec![]);
    assert_eq!(voter.leader(), None);

    let mut leader = leader_with_follower(Restored::default());
    let answer = sends(&deliver(&mut leader, 4, question));
    let Some((4, Message::Vote { vote, state, .. })) = answer.first().cloned() else {
        panic!("the leader did not answer the observer: {answer:?}");
    };
    assert_eq!((vote.leader, state), (1, VoterState::Leading));
    deliver(&mut observer, 1, answer[0].1.clone());
    assert_eq!(
        observer.leader(),
        Some(1),
        "the observer follows the leader that answered"
    );
}

/// Observers in Zab phase 3: an observer that registers with an established leader is
/// synchronized with committed history only, is sent no proposal before it commits, then gets
/// each commit once with its entries (Apache's INFORM); its acks count for nothing.
#[test]
fn zab_phase3_an_observer_gets_committed_proposals_only() {
    let mut leader = leader_with_follower(Restored::default());
    sync_for(&mut leader, 0);
    deliver(&mut leader, 2, Message::Ack { epoch: 1, zxid: 0 });
    assert_eq!(leader.role(), Role::Leading { epoch: 1 });
    let proposed = leader.propose(vec![payload("a")]).expect("leader");
    assert_eq!(
        sends(&proposed).len(),
        1,
        "a proposal goes to the follower only"
    );

    let (registered, synced) = handshake(&mut leader, 4, 9, 0);
    let new_epoch = Message::NewEpoch {
        epoch: 1,
        attempt: 9,
    };
    assert_eq!(sends(&registered), vec![(4, new_epoch)]);
    let sync = Message::Sync {
        epoch: 1,
        attempt: 9,
        mode: SyncMode::Diff,
        prev: 0,
        entries: vec![],
        committed: 0,
        config: sync_config(true),
    };
    assert_eq!(
        synced,
        vec![Command::Send {
            to: 4,
            message: sync
        }]
    );

    let a = vec![Entry {
        zxid: make(1, 1),
        payload: payload("a"),
    }];
    leader.step(Event::Durable { zxid: make(1, 1) });
    let ack = Message::Ack {
        epoch: 1,
        zxid: make(1, 1),
    };
    let commit = Message::Commit {
        epoch: 1,
        zxid: make(1, 1),
    };
    let inform = Message::Proposal {
        epoch: 1,
        entries: a.clone(),
    };
    assert_eq!(
        deliver(&mut leader, 2, ack.clone()),
        vec![
            Command::Apply { entries: a },
            Command::Send {
                to: 2,
                message: commit.clone()
            },
            Command::Send {
                to: 4,
                message: inform
            },
            Command::Send {
                to: 4,
                message: commit
            },
        ]
    );
    assert_eq!(deliver(&mut leader, 4, ack), vec![]);
    assert_eq!(leader.leader_view().map(|v| v.synced_observers), Some(1));
}
