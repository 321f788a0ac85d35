//! Asking the server's own client port a four-letter word over loopback.
//! The shards already gather the answers across executors, so the admin
//! thread needs no access to their state and never touches a hot path.
//! Each ask carries the process's probe token, so the whitelist does not
//! apply (`fourlw::internal`).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::fourlw::internal::ProbeToken;

/// How long connecting to the client port may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the whole answer may take to arrive.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer accepted (`dump` and `wchc` grow with the sessions).
pub const ANSWER_BYTES_MAX: usize = 32 << 20;

/// The address to reach a client port bound to `addr`: a wildcard bind is
/// reached through the loopback address of the same family.
pub fn loopback_for(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Sends `word` with `token` and reads until the server closes the connection,
/// as every four-letter word ends.
pub fn ask(client_addr: SocketAddr, token: &ProbeToken, word: &str) -> std::io::Result<String> {
    let addr = loopback_for(client_addr);
    let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    stream.set_write_timeout(Some(CONNECT_TIMEOUT))?;
    stream.write_all(&token.request(word))?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{word} did not finish within {ANSWER_TIMEOUT:?}"),
            ));
        }
        stream.set_read_timeout(Some(left))?;
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        if answer.len() + n > ANSWER_BYTES_MAX {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{word} answered more than {ANSWER_BYTES_MAX} bytes"),
            ));
        }
        answer.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_binds_are_reached_over_loopback() {
        let v4: SocketAddr = "0.0.0.0:2181".parse().expect("v4");
        assert_eq!(loopback_for(v4), "127.0.0.1:2181".parse().expect("v4"));
        let v6: SocketAddr = "[::]:2181".parse().expect("v6");
        assert_eq!(loopback_for(v6), "[::1]:2181".parse().expect("v6"));
        let own: SocketAddr = "127.0.0.9:2181".parse().expect("own");
        assert_eq!(loopback_for(own), own);
    }

    #[test]
    fn an_answer_is_read_until_the_peer_closes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let peer = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut asked = [0u8; 40];
            s.read_exact(&mut asked).expect("word");
            assert_eq!(&asked[36..], b"ruok");
            s.write_all(b"imok").expect("answer");
            asked
        });
        let token = ProbeToken::generate().expect("token");
        assert_eq!(ask(addr, &token, "ruok").expect("answer"), "imok");
        assert_eq!(peer.join().expect("peer").to_vec(), token.request("ruok"));
    }
}
