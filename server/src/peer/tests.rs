//! Two transports in one executor on 127.0.0.x ports: every message kind, a snapshot larger
//! than a frame, reconnection after the listening side restarts, and garbage on the port.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::channels::local_channel::LocalReceiver;
use glommio::net::TcpStream;
use glommio::{LocalExecutorBuilder, Placement};
use ringkeeper_replication::wire::{self, Hello, OutFrame, PROTOCOL_VERSION};
use ringkeeper_replication::{Entry, Message, SyncMode, Vote, VoterState};

use super::transport::STALL_TIMEOUT_MIN;
use super::*;

/// A loopback address of its own per test process and test, so that parallel runs on one
/// machine do not meet; the ports come from the kernel.
pub(super) fn free_addrs(test: u8, n: usize) -> Vec<String> {
    let host = format!("127.{}.{}.{}", 1 + std::process::id() % 200, test, 1);
    let socks: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind(format!("{host}:0")).expect("bind a free port"))
        .collect();
    socks
        .iter()
        .map(|s| s.local_addr().unwrap().to_string())
        .collect()
}

pub(super) fn settings(
    me: u64,
    own: &[String],
    other_id: u64,
    other: &[String],
) -> TransportSettings {
    TransportSettings {
        me,
        listen_quorum: vec![own[0].clone()],
        listen_election: vec![own[1].clone()],
        peers: vec![PeerEndpoint {
            id: other_id,
            quorum: vec![other[0].clone()],
            election: vec![other[1].clone()],
        }],
        frame_bytes_max: 256 * 1024,
        send_queue_max: 1024,
        connect_retry: Duration::from_millis(20),
        stall_timeout: Duration::from_secs(2),
        silence_timeout: Duration::from_secs(5),
        security: crate::peer::PeerSecurity::default(),
        accept_joiners: false,
    }
}

pub(super) fn run<F, Fut>(test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    LocalExecutorBuilder::new(Placement::Unbound)
        .spawn(test)
        .expect("executor")
        .join()
        .expect("test executor");
}

pub(super) async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
}

pub(super) async fn recv(rx: &LocalReceiver<Inbound>) -> Inbound {
    let got = futures_lite::future::or(async { rx.recv().await }, async {
        glommio::timer::sleep(Duration::from_secs(10)).await;
        None
    })
    .await;
    got.expect("an inbound message within 10 s")
}

fn entries(n: usize) -> Vec<Entry> {
    (0..n)
        .map(|i| Entry {
            zxid: (5 << 32) + i as i64,
            payload: Arc::from(vec![i as u8; 100]),
        })
        .collect()
}

fn every_message() -> Vec<Message> {
    vec![
        Message::FollowerInfo {
            attempt: (3 << 32) + 1,
            accepted_epoch: 4,
            accepted_leader: Some(2),
            last_zxid: 77,
        },
        Message::FollowerInfo {
            attempt: 1,
            accepted_epoch: 0,
            accepted_leader: None,
            last_zxid: 0,
        },
        Message::NewEpoch {
            epoch: 5,
            attempt: 9,
        },
        Message::AckEpoch {
            epoch: 5,
            attempt: 9,
            current_epoch: 4,
            last_zxid: -1,
        },
        Message::SnapshotChunk {
            epoch: 5,
            attempt: 9,
            zxid: 1234,
            offset: 20,
            total: 40,
            data: Arc::from(vec![7u8; 10]),
        },
        Message::SnapshotAck {
            epoch: 5,
            attempt: 9,
            zxid: 1234,
            received: 30,
        },
        Message::Sync {
            epoch: 5,
            attempt: 9,
            mode: SyncMode::Trunc,
            prev: 1234,
            entries: entries(16),
            committed: 1240,
            config: Some(ringkeeper_replication::SyncConfig {
                active: ringkeeper_replication::Membership {
                    version: 1200,
                    voters: vec![1, 2, 3],
                    observers: vec![4],
                },
                observer: false,
            }),
        },
        Message::UpToDate {
            epoch: 5,
            committed: 1240,
        },
        Message::Proposal {
            epoch: 5,
            entries: entries(128),
        },
        Message::Ack { epoch: 5, zxid: 9 },
        Message::Commit { epoch: 5, zxid: 9 },
        Message::Ping {
            epoch: 5,
            committed: 9,
            last_zxid: 10,
        },
        Message::Resync { epoch: 5 },
    ]
}

#[test]
fn exchange_every_kind_and_a_large_snapshot() {
    run(|| async {
        let a_addrs = free_addrs(1, 2);
        let b_addrs = free_addrs(2, 2);
        let (a, a_rx) = Transport::start(settings(1, &a_addrs, 2, &b_addrs))
            .await
            .unwrap();
        let (b, b_rx) = Transport::start(settings(2, &b_addrs, 1, &a_addrs))
            .await
            .unwrap();
        wait_for("links up", || {
            a.stats().links_up == 2 && b.stats().links_up == 2
        })
        .await;

        let vote = Message::Vote {
            round: 3,
            vote: Vote {
                epoch: 4,
                zxid: 5,
                leader: 2,
            },
            state: VoterState::Leading,
        };
        a.send(2, &vote);
        assert_eq!(
            recv(&b_rx).await,
            Inbound::Protocol {
                from: 1,
                message: vote
            }
        );
        // Everything else shares the quorum link, so it arrives in order.
        for m in every_message() {
            a.send(2, &m);
        }
        a.send_app(2, b"forwarded request".to_vec());
        for m in every_message() {
            assert_eq!(
                recv(&b_rx).await,
                Inbound::Protocol {
                    from: 1,
                    message: m
                }
            );
        }
        assert_eq!(
            recv(&b_rx).await,
            Inbound::App {
                from: 1,
                data: b"forwarded request".to_vec()
            }
        );

        // A snapshot chunk is a frame like any other message (the protocol sizes chunks to
        // fit the frame limit, 256 KiB here).
        let chunk: Vec<u8> = (0..200 << 10).map(|i: u32| (i % 251) as u8).collect();
        let snap = Message::SnapshotChunk {
            epoch: 6,
            attempt: 1,
            zxid: 99,
            offset: 1 << 20,
            total: 3 << 20,
            data: Arc::from(chunk),
        };
        let sent_before = b.stats().frames_sent;
        b.send(1, &snap);
        assert_eq!(
            recv(&a_rx).await,
            Inbound::Protocol {
                from: 2,
                message: snap
            }
        );
        assert_eq!(b.stats().frames_sent - sent_before, 1, "{:?}", b.stats());

        // A message to an unknown peer, and one too large for a frame, are dropped and counted.
        let dropped = a.stats().frames_dropped;
        a.send(9, &Message::Resync { epoch: 1 });
        a.send(
            2,
            &Message::Proposal {
                epoch: 1,
                entries: vec![Entry {
                    zxid: 1,
                    payload: Arc::from(vec![0u8; 300 * 1024]),
                }],
            },
        );
        a.send(2, &Message::Resync { epoch: 2 });
        assert_eq!(
            recv(&b_rx).await,
            Inbound::Protocol {
                from: 1,
                message: Message::Resync { epoch: 2 }
            }
        );
        assert_eq!(a.stats().frames_dropped, dropped + 2);
        assert_eq!(b.stats().connection_errors, 0);

        a.stop();
        b.stop();
        wait_for("inbound channels end", || true).await;
        assert!(a_rx.recv().await.is_none());
        assert!(b_rx.recv().await.is_none());
    });
}

#[test]
fn reconnects_after_the_listener_restarts() {
    run(|| async {
        let a_addrs = free_addrs(3, 2);
        let b_addrs = free_addrs(4, 2);
        let (a, _a_rx) = Transport::start(settings(1, &a_addrs, 2, &b_addrs))
            .await
            .unwrap();
        let (b, b_rx) = Transport::start(settings(2, &b_addrs, 1, &a_addrs))
            .await
            .unwrap();
        wait_for("links up", || a.stats().links_up == 2).await;
        a.send(2, &Message::Ack { epoch: 1, zxid: 1 });
        assert!(matches!(recv(&b_rx).await, Inbound::Protocol { .. }));

        b.stop();
        assert!(b_rx.recv().await.is_none());
        // The EOF watcher notices the closed connections without a write being lost to them.
        wait_for("links down", || a.stats().links_up == 0).await;
        a.send(2, &Message::Ack { epoch: 1, zxid: 2 });
        assert!(a.stats().frames_dropped >= 1);

        let (b2, b2_rx) = Transport::start(settings(2, &b_addrs, 1, &a_addrs))
            .await
            .unwrap();
        wait_for("links up again", || a.stats().links_up == 2).await;
        a.send(2, &Message::Ack { epoch: 1, zxid: 3 });
        assert_eq!(
            recv(&b2_rx).await,
            Inbound::Protocol {
                from: 1,
                message: Message::Ack { epoch: 1, zxid: 3 }
            }
        );
        a.stop();
        b2.stop();
    });
}

/// A member votes as it starts, before its links are made: the newest vote waits for the
/// election link and goes first on it (as Apache's last message for a server does), instead
/// of being dropped until the protocol's next resend. Other messages are still dropped.
#[test]
fn the_newest_vote_sent_while_the_link_is_down_goes_when_it_comes_up() {
    run(|| async {
        let a_addrs = free_addrs(60, 2);
        let b_addrs = free_addrs(61, 2);
        let (a, _a_rx) = Transport::start(settings(1, &a_addrs, 2, &b_addrs))
            .await
            .unwrap();
        let vote = |round: u64| Message::Vote {
            round,
            vote: Vote {
                epoch: 1,
                zxid: 5,
                leader: 1,
            },
            state: VoterState::Looking,
        };
        a.send(2, &vote(1));
        a.send(2, &vote(2));
        a.send(2, &Message::Ack { epoch: 1, zxid: 1 });
        let (_b, b_rx) = Transport::start(settings(2, &b_addrs, 1, &a_addrs))
            .await
            .unwrap();
        wait_for("links up", || a.stats().links_up == 2).await;
        assert_eq!(
            recv(&b_rx).await,
            Inbound::Protocol {
                from: 1,
                message: vote(2)
            }
        );
        a.send(2, &Message::Ack { epoch: 1, zxid: 2 });
        // The Ack sent while the link was down is gone; the next one arrives.
        assert_eq!(
            recv(&b_rx).await,
            Inbound::Protocol {
                from: 1,
                message: Message::Ack { epoch: 1, zxid: 2 }
            }
        );
    });
}

#[test]
fn garbage_closes_only_that_connection() {
    run(|| async {
        let a_addrs = free_addrs(5, 2);
        let b_addrs = free_addrs(6, 2);
        let (a, _a_rx) = Transport::start(settings(1, &a_addrs, 2, &b_addrs))
            .await
            .unwrap();
        let (b, b_rx) = Transport::start(settings(2, &b_addrs, 1, &a_addrs))
            .await
            .unwrap();
        wait_for("links up", || a.stats().links_up == 2).await;

        // Garbage instead of a Hello.
        let mut raw = TcpStream::connect(b.local_addrs().0).await.unwrap();
        raw.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(raw.read(&mut buf).await.unwrap_or(0), 0, "closed");

        // A well-formed Hello from a server that is not a peer.
        let mut raw = TcpStream::connect(b.local_addrs().1).await.unwrap();
        let hello = wire::encode(&OutFrame::Hello(&Hello::new(77, PROTOCOL_VERSION))).unwrap();
        raw.write_all(&hello).await.unwrap();
        assert_eq!(raw.read(&mut buf).await.unwrap_or(0), 0, "closed");

        // A valid Hello, then a frame with a corrupted crc.
        let mut raw = TcpStream::connect(b.local_addrs().0).await.unwrap();
        let hello = wire::encode(&OutFrame::Hello(&Hello::new(1, PROTOCOL_VERSION))).unwrap();
        let mut bad = wire::encode(&OutFrame::Message(&Message::Resync { epoch: 1 })).unwrap();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        raw.write_all(&hello).await.unwrap();
        raw.write_all(&bad).await.unwrap();
        assert_eq!(raw.read(&mut buf).await.unwrap_or(0), 0, "closed");

        wait_for("three connection errors", || {
            b.stats().connection_errors == 3
        })
        .await;
        // The connection that said it was server 1 and then broke is reported, so that a
        // follower of server 1 would stop waiting for it.
        assert_eq!(recv(&b_rx).await, Inbound::Disconnected { from: 1 });
        // The impostor's Hello superseded A's real quorum connection (the newest connection
        // from a peer wins), so A dials again and its messages arrive once more.
        let expected = Inbound::Protocol {
            from: 1,
            message: Message::Commit { epoch: 3, zxid: 4 },
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(Instant::now() < deadline, "A's link never came back");
            a.send(2, &Message::Commit { epoch: 3, zxid: 4 });
            let got = futures_lite::future::or(async { b_rx.recv().await }, async {
                glommio::timer::sleep(Duration::from_millis(50)).await;
                None
            })
            .await;
            if got.as_ref() == Some(&expected) {
                break;
            }
        }
        assert!(b.stats().inbound_superseded >= 1);
        wait_for("A's links up", || a.stats().links_up == 2).await;
        a.stop();
        b.stop();
    });
}

/// Accepts connections on `addr` and never reads or writes: a peer whose kernel takes our
/// data while the peer itself says nothing, as behind a proxy that black-holes. Returns how
/// many connections it has accepted so far.
fn silent_listener(addr: &str) -> Rc<Cell<usize>> {
    let listener = crate::net::listener::into_glommio(
        std::net::TcpListener::bind(addr).expect("bind the silent peer"),
    );
    let accepted = Rc::new(Cell::new(0));
    let count = accepted.clone();
    glommio::spawn_local(async move {
        let mut held = Vec::new();
        while let Ok(stream) = listener.accept().await {
            count.set(count.get() + 1);
            held.push(stream);
        }
    })
    .detach();
    accepted
}

/// Heartbeats with a deadline: a link we keep sending on while nothing arrives from the peer
/// for `silence_timeout` is redialed, even though every write succeeds.
#[test]
fn a_link_to_a_silent_peer_is_redialed() {
    run(|| async {
        let a_addrs = free_addrs(9, 2);
        let b_addrs = free_addrs(10, 2);
        let accepted = silent_listener(&b_addrs[0]);
        let mut s = settings(1, &a_addrs, 2, &b_addrs);
        s.stall_timeout = STALL_TIMEOUT_MIN;
        s.silence_timeout = STALL_TIMEOUT_MIN;
        let (a, _rx) = Transport::start(s).await.unwrap();
        wait_for("the first connection", || accepted.get() == 1).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while accepted.get() < 3 {
            assert!(
                Instant::now() < deadline,
                "a link whose peer stayed silent was not redialed"
            );
            a.send(2, &Message::Commit { epoch: 1, zxid: 1 });
            glommio::timer::sleep(Duration::from_millis(50)).await;
        }
        a.stop();
    });
}

/// multiAddress: a peer listed at two addresses is reached at the second when the first
/// refuses connections (election port) or accepts and never answers (quorum port, a
/// black hole); the peer listens on both of its addresses.
#[test]
fn a_link_fails_over_to_the_next_address() {
    run(|| async {
        let a_addrs = free_addrs(16, 2);
        let b_addrs = free_addrs(17, 4);
        // Bound and released: nothing listens there, so a dial is refused.
        let refused = free_addrs(18, 1);
        let silent = free_addrs(19, 1);
        let accepted = silent_listener(&silent[0]);
        let mut sa = settings(1, &a_addrs, 2, &b_addrs);
        sa.stall_timeout = STALL_TIMEOUT_MIN;
        sa.silence_timeout = STALL_TIMEOUT_MIN;
        sa.peers[0].quorum = vec![silent[0].clone(), b_addrs[2].clone()];
        sa.peers[0].election = vec![refused[0].clone(), b_addrs[3].clone()];
        let mut sb = settings(2, &b_addrs, 1, &a_addrs);
        sb.listen_quorum.push(b_addrs[2].clone());
        sb.listen_election.push(b_addrs[3].clone());
        let (a, _a_rx) = Transport::start(sa).await.unwrap();
        let (b, b_rx) = Transport::start(sb).await.unwrap();
        let vote = Message::Vote {
            round: 1,
            vote: Vote {
                epoch: 1,
                zxid: 1,
                leader: 1,
            },
            state: VoterState::Looking,
        };
        let commit = Message::Commit { epoch: 1, zxid: 1 };
        let (mut got_vote, mut got_commit) = (false, false);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(got_vote && got_commit) {
            assert!(
                Instant::now() < deadline,
                "no failover to the second address"
            );
            a.send(2, &vote);
            a.send(2, &commit);
            let pause = Duration::from_millis(50);
            while let Some(Inbound::Protocol { message, .. }) =
                futures_lite::future::or(b_rx.recv(), async {
                    glommio::timer::sleep(pause).await;
                    None
                })
                .await
            {
                got_vote |= message == vote;
                got_commit |= message == commit;
            }
        }
        assert!(accepted.get() >= 1, "the silent address was never dialed");
        a.stop();
        b.stop();
    });
}

/// Silence counts from the first write left unanswered, not from the last thing heard: a
/// link that was quiet for long (two followers' election link) is not dead when it speaks.
#[test]
fn silence_starts_at_the_first_unanswered_write() {
    use super::transport::first_unanswered;
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    // Heard at 1, quiet until a write at 60: the silence starts at 60, not at 1.
    assert_eq!(first_unanswered(Some(at(1)), None, at(60)), at(60));
    assert_eq!(first_unanswered(Some(at(1)), Some(at(0)), at(60)), at(60));
    // Nothing heard since the write at 60: later writes do not restart the count.
    assert_eq!(first_unanswered(Some(at(1)), Some(at(60)), at(62)), at(60));
    assert_eq!(first_unanswered(None, Some(at(60)), at(62)), at(60));
    // Heard at 61: the write at 62 starts a new count.
    assert_eq!(first_unanswered(Some(at(61)), Some(at(60)), at(62)), at(62));
}

/// Server 1 (stall_timeout at its minimum, links up) and server 2, on the addresses of
/// `test` and `test + 1`; server 2's inbound channel.
async fn pair_with_short_stall(test: u8) -> (Transport, Transport, LocalReceiver<Inbound>) {
    let a_addrs = free_addrs(test, 2);
    let b_addrs = free_addrs(test + 1, 2);
    let mut s = settings(1, &a_addrs, 2, &b_addrs);
    s.stall_timeout = STALL_TIMEOUT_MIN;
    let (a, _a_rx) = Transport::start(s).await.unwrap();
    let (b, b_rx) = Transport::start(settings(2, &b_addrs, 1, &a_addrs))
        .await
        .unwrap();
    wait_for("links up", || a.stats().links_up == 2).await;
    (a, b, b_rx)
}

/// A newer election round goes on a fresh election connection: the peer sees a second
/// connection from us on its election port, and the vote arrives.
#[test]
fn a_new_vote_round_gets_a_fresh_election_connection() {
    run(|| async {
        let (a, b, brx) = pair_with_short_stall(14).await;
        let vote = |round| Message::Vote {
            round,
            vote: Vote {
                epoch: 1,
                zxid: 1,
                leader: 1,
            },
            state: VoterState::Looking,
        };
        let round_trip = |round| {
            a.send(2, &vote(round));
            let want = Inbound::Protocol {
                from: 1,
                message: vote(round),
            };
            let brx = &brx;
            async move { assert_eq!(recv(brx).await, want) }
        };
        round_trip(1).await;
        // Older than stall_timeout, so that a fresh connection is not refused as too young.
        glommio::timer::sleep(STALL_TIMEOUT_MIN + Duration::from_millis(100)).await;
        round_trip(1).await;
        let superseded = b.stats().inbound_superseded;
        assert_eq!(superseded, 0, "same round, same connection");
        round_trip(2).await;
        wait_for("the old election connection superseded", || {
            b.stats().inbound_superseded == 1
        })
        .await;
        a.stop();
        b.stop();
    });
}

/// A fresh link replaces the quorum connection once it is older than `stall_timeout`; what
/// is sent meanwhile goes on the new connection, and a young connection is kept.
#[test]
fn a_fresh_link_replaces_an_old_connection_and_keeps_the_queue() {
    run(|| async {
        let (a, b, b_rx) = pair_with_short_stall(11).await;
        // Young: kept.
        a.fresh_link(2);
        a.send(2, &Message::Commit { epoch: 1, zxid: 1 });
        assert!(matches!(recv(&b_rx).await, Inbound::Protocol { .. }));
        assert_eq!(b.stats().inbound_superseded, 0);
        glommio::timer::sleep(STALL_TIMEOUT_MIN).await;
        a.fresh_link(2);
        a.send(2, &Message::Commit { epoch: 1, zxid: 2 });
        assert_eq!(
            recv(&b_rx).await,
            Inbound::Protocol {
                from: 1,
                message: Message::Commit { epoch: 1, zxid: 2 }
            }
        );
        wait_for("the old connection closed", || {
            b.stats().inbound_superseded == 1
        })
        .await;
        assert_eq!(a.stats().frames_dropped, 0);
        assert_eq!(a.stats().links_up, 2);
        a.stop();
        b.stop();
    });
}

#[test]
fn bad_settings_and_busy_ports_are_errors() {
    run(|| async {
        let a_addrs = free_addrs(7, 2);
        let b_addrs = free_addrs(8, 2);
        let mut s = settings(1, &a_addrs, 2, &b_addrs);
        s.peers[0].id = 1;
        assert!(Transport::start(s).await.is_err());
        let mut s = settings(1, &a_addrs, 2, &b_addrs);
        s.frame_bytes_max = 10;
        assert!(Transport::start(s).await.is_err());
        let (a, _rx) = Transport::start(settings(1, &a_addrs, 2, &b_addrs))
            .await
            .unwrap();
        // The same ports again: refused, not silently shared.
        assert!(Transport::start(settings(1, &a_addrs, 2, &b_addrs))
            .await
            .is_err());
        a.stop();
    });
}
