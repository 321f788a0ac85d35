//! Soak and overload (security issue): while thousands of sessions are open and other
//! connections send garbage, truncated frames, oversized packets or trickle bytes
//! (slowloris), a correct client keeps being served and loses nothing. Bounded: a fixed
//! amount of abuse, about half a minute in all.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::jute::{op, Out};
use common::server::Flavor;
use common::*;

const SESSIONS: usize = 2000;
const GARBAGE_CONNECTIONS: usize = 200;
const SLOW_CONNECTIONS: usize = 100;
const OVERSIZED_CONNECTIONS: usize = 50;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn open_sessions(address: SocketAddr, count: usize) -> Vec<RawConn> {
    (0..count)
        .map(|_| {
            let mut conn = RawConn::open(address);
            let handshake = conn.handshake(0, 30_000, 0, &[0; 16]);
            assert!(
                handshake.is_some_and(|h| h.session_id != 0),
                "a session handshake failed under load"
            );
            conn
        })
        .collect()
}

fn send_garbage(address: SocketAddr, seed: u64) {
    let mut rng = XorShift(seed | 1);
    for i in 0..GARBAGE_CONNECTIONS {
        let Ok(mut stream) = TcpStream::connect(address) else {
            continue;
        };
        let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
        let bytes: Vec<u8> = match i % 4 {
            // Random bytes from the first byte on.
            0 => (0..(rng.next() % 512)).map(|_| rng.next() as u8).collect(),
            // A negative frame length.
            1 => (-5i32).to_be_bytes().to_vec(),
            // A valid handshake, then a request frame cut short.
            2 => {
                let mut v = Out::new()
                    .int(0)
                    .long(0)
                    .int(30_000)
                    .long(0)
                    .buffer(&[0; 16])
                    .boolean(false)
                    .frame();
                v.extend_from_slice(&100i32.to_be_bytes());
                v.extend_from_slice(&[0, 0, 0, 1, 0, 0]);
                v
            }
            // A valid handshake, then a request whose body is garbage.
            _ => {
                let mut v = Out::new()
                    .int(0)
                    .long(0)
                    .int(30_000)
                    .long(0)
                    .buffer(&[0; 16])
                    .boolean(false)
                    .frame();
                let body: Vec<u8> = (0..64).map(|_| rng.next() as u8).collect();
                v.extend_from_slice(&(body.len() as i32 + 8).to_be_bytes());
                v.extend_from_slice(&7i32.to_be_bytes());
                v.extend_from_slice(&op::CREATE.to_be_bytes());
                v.extend_from_slice(&body);
                v
            }
        };
        let _ = stream.write_all(&bytes);
    }
}

fn slowloris(address: SocketAddr) -> usize {
    let mut conns: Vec<TcpStream> = (0..SLOW_CONNECTIONS)
        .filter_map(|_| TcpStream::connect(address).ok())
        .collect();
    for c in &mut conns {
        // Two bytes of a length prefix, and then nothing more for a long while.
        let _ = c.write_all(&[0, 0]);
        let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    }
    // The server's handshake timeout (1 s here) must close every one of them.
    let mut closed = 0;
    for c in &mut conns {
        let mut byte = [0u8; 1];
        // Closed means end of file or a reset; a read that times out means still open.
        let shut = match std::io::Read::read(c, &mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            ),
        };
        if shut {
            closed += 1;
        }
    }
    closed
}

fn oversized(address: SocketAddr) -> usize {
    (0..OVERSIZED_CONNECTIONS)
        .filter(|_| {
            let mut conn = RawConn::open(address);
            if conn.handshake(0, 30_000, 0, &[0; 16]).is_none() {
                return false;
            }
            // A frame declaring 2 MiB, over the default 1 MiB packet limit.
            let mut frame = (2i32 << 20).to_be_bytes().to_vec();
            frame.extend_from_slice(&[0; 1024]);
            conn.send(&frame);
            conn.closed_by_server(Duration::from_secs(10))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_client_is_served_through_abuse() {
    if Flavor::from_env() == Flavor::Apache {
        // The handshake timeout below is ringkeeper's setting (Apache's is a JVM property).
        return;
    }
    let server = TestServer::start(ServerOptions {
        extra_config: vec!["ringkeeper.handshakeTimeoutMs=1000".into()],
        ..Default::default()
    });
    let address = server.address();
    let client = connect(&server).await;
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let path = format!("/ok{i}");
                let data = format!("value {i}").into_bytes();
                client
                    .create(&path, &data, &persistent())
                    .await
                    .expect("the correct client's write");
                let (read, _) = client
                    .get_data(&path)
                    .await
                    .expect("the correct client's read");
                assert_eq!(read, data);
                acked.push((path, data));
                i += 1;
            }
            (client, acked)
        })
    };
    let sessions = [0, 1, 2, 3]
        .map(|_| tokio::task::spawn_blocking(move || open_sessions(address, SESSIONS / 4)));
    let garbage = tokio::task::spawn_blocking(move || send_garbage(address, 0x50a4));
    let slow = tokio::task::spawn_blocking(move || slowloris(address));
    let big = tokio::task::spawn_blocking(move || oversized(address));

    let mut held = Vec::new();
    for s in sessions {
        held.extend(s.await.expect("session opener"));
    }
    assert_eq!(held.len(), SESSIONS, "every session was opened");
    garbage.await.expect("garbage sender");
    assert_eq!(
        slow.await.expect("slowloris"),
        SLOW_CONNECTIONS,
        "every slow connection was closed by the handshake timeout"
    );
    assert_eq!(
        big.await.expect("oversized"),
        OVERSIZED_CONNECTIONS,
        "every oversized frame closed its connection"
    );

    stop.store(true, Ordering::Relaxed);
    let (client, acked) = worker.await.expect("the correct client never failed");
    assert!(!acked.is_empty(), "the correct client got nothing done");
    for (path, data) in &acked {
        let (read, _) = client
            .get_data(path)
            .await
            .expect("every acknowledged write is readable");
        assert_eq!(&read, data);
    }
    assert_eq!(server.four_letter_word("ruok"), "imok");
    println!(
        "{} writes acknowledged while {SESSIONS} sessions were held and abusers came and went",
        acked.len()
    );
    drop(held);
}
