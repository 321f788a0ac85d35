//! The admin server over real sockets, with a stand-in client port that
//! answers four-letter words the way the server does.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use super::*;

/// A fake client port: answers each word with `answer(word)` and closes.
fn fake_client_port(answer: fn(&str) -> String) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            // The probe's token is checked by the shard, not here: skip it.
            let mut asked = [0u8; 4 + crate::fourlw::internal::TOKEN_BYTES + 4];
            if stream.read_exact(&mut asked).is_ok() {
                let word = &asked[asked.len() - 4..];
                let text = answer(std::str::from_utf8(word).unwrap_or("????"));
                let _ = stream.write_all(text.as_bytes());
            }
        }
    });
    addr
}

fn server(client_addr: SocketAddr) -> AdminServer {
    start(AdminSettings {
        listen: "127.0.0.1:0".parse().expect("listen"),
        command_url: "/commands".to_owned(),
        client_addr,
        probe_token: crate::fourlw::internal::ProbeToken::generate().expect("token"),
    })
    .expect("admin server starts")
}

/// Sends raw bytes and returns (status, whole answer).
fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(request).expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, out)
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
}

fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn answers(word: &str) -> String {
    match word {
        "mntr" => "zk_version\t3.8.4\nzk_server_state\tstandalone\nzk_znode_count\t7\n".into(),
        "ruok" => "imok".into(),
        "wchc" => "wchc is not executed because it is not in the whitelist.\n".into(),
        _ => format!("{}\n", crate::fourlw::NOT_SERVING),
    }
}

#[test]
fn health_and_readiness() {
    let admin = server(fake_client_port(answers));
    let addr = admin.local_addr();
    assert_eq!(get(addr, "/health").0, 200);
    let (status, answer) = get(addr, "/ready");
    assert_eq!(status, 503, "{answer}");
    assert_eq!(body(&answer), "starting\n");
    admin.mark_serving();
    assert_eq!(get(addr, "/ready").0, 200);
    let (status, answer) = exchange(addr, b"HEAD /ready HTTP/1.1\r\n\r\n");
    assert_eq!(status, 200);
    assert!(answer.contains("Content-Length: 6\r\n"), "{answer}");
    assert_eq!(body(&answer), "", "HEAD has no body");
    admin.stop();
}

#[test]
fn commands_are_json_with_command_and_error() {
    let admin = server(fake_client_port(answers));
    let addr = admin.local_addr();
    let (status, answer) = get(addr, "/commands/mntr");
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer.contains("Content-Type: application/json\r\n"),
        "{answer}"
    );
    assert_eq!(
        body(&answer),
        r#"{"command":"monitor","error":null,"version":"3.8.4","server_state":"standalone","znode_count":7}"#
    );
    assert_eq!(
        body(&get(addr, "/commands/ruok").1),
        r#"{"command":"ruok","error":null}"#
    );
    let (status, answer) = get(addr, "/commands/wchc");
    assert_eq!(status, 403, "{answer}");
    assert!(body(&answer).starts_with(r#"{"command":"watches","error":"wchc is not executed"#));
    let (status, answer) = get(addr, "/commands/dirs");
    assert_eq!(status, 503, "{answer}");
    let (status, answer) = get(addr, "/commands/nope");
    assert_eq!(status, 404);
    assert_eq!(
        body(&answer),
        r#"{"command":"nope","error":"Unknown command: nope"}"#
    );
    let (status, answer) = get(addr, "/commands");
    assert_eq!(status, 200);
    assert!(body(&answer).contains(r#""monitor""#), "{answer}");
    admin.stop();
}

#[test]
fn metrics_export_mntr_and_admin_gauges() {
    let admin = server(fake_client_port(answers));
    let (status, answer) = get(admin.local_addr(), "/metrics");
    assert_eq!(status, 200);
    assert!(answer.contains(prometheus::CONTENT_TYPE), "{answer}");
    assert!(answer.contains("\nzookeeper_znode_count 7\n"), "{answer}");
    assert!(
        answer.contains("\nringkeeper_admin_mntr_up 1\n"),
        "{answer}"
    );
    assert!(answer.contains("\nringkeeper_ready 0\n"), "{answer}");
    admin.stop();
}

#[test]
fn an_unreachable_client_port_is_reported_not_fatal() {
    // A port that was free a moment ago: nothing answers there.
    let dead = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let admin = server(dead);
    let addr = admin.local_addr();
    let (status, answer) = get(addr, "/commands/srvr");
    assert_eq!(status, 503, "{answer}");
    assert!(
        body(&answer).contains("cannot ask the client port"),
        "{answer}"
    );
    let (status, answer) = get(addr, "/metrics");
    assert_eq!(status, 200);
    assert!(
        answer.contains("\nringkeeper_admin_mntr_up 0\n"),
        "{answer}"
    );
    assert_eq!(get(addr, "/health").0, 200);
    admin.stop();
}

#[test]
fn bad_requests_are_refused_within_the_limits() {
    let admin = server(fake_client_port(answers));
    let addr = admin.local_addr();
    assert_eq!(exchange(addr, b"POST /health HTTP/1.1\r\n\r\n").0, 405);
    assert_eq!(exchange(addr, b"garbage\r\n\r\n").0, 400);
    assert_eq!(get(addr, "/nothing/here").0, 404);
    assert_eq!(get(addr, "/commands/mntr/extra").0, 404);
    let mut huge = b"GET /health HTTP/1.1\r\nX: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', http::REQUEST_BYTES_MAX + 10));
    let mut s = TcpStream::connect(addr).expect("connect");
    // The server may close before reading everything; only the status matters.
    let _ = s.write_all(&huge);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 431 "), "{out}");
    // A silent client does not stop others from being served.
    let _idle = TcpStream::connect(addr).expect("connect");
    assert_eq!(get(addr, "/health").0, 200);
    admin.stop();
}

#[test]
fn ready_says_stopping_once_the_server_stops() {
    let shared = Shared {
        settings: AdminSettings {
            listen: "127.0.0.1:0".parse().expect("listen"),
            command_url: "/commands".to_owned(),
            client_addr: "127.0.0.1:1".parse().expect("client"),
            probe_token: crate::fourlw::internal::ProbeToken::generate().expect("token"),
        },
        serving: AtomicBool::new(true),
        gate: listener::Gate::default(),
        requests: AtomicU64::new(0),
    };
    assert_eq!(ready(&shared).status, 200);
    shared.gate.stop();
    let answer = ready(&shared);
    assert_eq!((answer.status, answer.body.as_str()), (503, "stopping\n"));
}

#[test]
fn idle_connections_beyond_the_limit_evict_the_oldest_and_health_still_answers() {
    let admin = server(fake_client_port(answers));
    let addr = admin.local_addr();
    // Twice as many silent clients as there are places: each new one evicts
    // the oldest, so a probe that follows still gets its answer.
    let mut idle: Vec<TcpStream> = (0..2 * connections::CONNECTIONS_MAX)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    let (status, answer) = get(addr, "/health");
    assert_eq!(status, 200, "{answer}");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while admin.0.service().gate.connections().evicted() < connections::CONNECTIONS_MAX as u64 + 1 {
        assert!(std::time::Instant::now() < deadline, "no eviction counted");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The oldest silent client was shut out, the newest still waits.
    idle[0]
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    assert!(matches!(idle[0].read(&mut [0u8; 1]), Ok(0) | Err(_)));
    let newest = idle.last_mut().expect("newest");
    newest
        .write_all(b"GET /ready HTTP/1.1\r\n\r\n")
        .expect("send");
    let mut out = String::new();
    newest.read_to_string(&mut out).expect("answer");
    assert!(out.starts_with("HTTP/1.1 503 "), "{out}");
    admin.stop();
}
