//! Four-letter words (FourLetterCommands / the commands' text formats), answered in plain text
//! on a fresh connection that the server then closes.

mod common;

use common::*;

/// The session id as the 4lw outputs print it.
fn hex_session(client: &zookeeper_client::Client) -> String {
    format!("0x{:x}", client.session_id().0)
}

#[test]
fn ruok_answers_imok() {
    let server = TestServer::start_default();
    assert_eq!(server.four_letter_word("ruok"), "imok");
}

#[test]
fn isro_answers_rw_on_a_standalone_server() {
    let server = TestServer::start_default();
    assert_eq!(server.four_letter_word("isro"), "rw");
}

#[test]
fn srvr_reports_version_mode_and_counts() {
    let server = TestServer::start_default();
    let answer = server.four_letter_word("srvr");
    assert!(answer.starts_with("Zookeeper version: "), "{answer}");
    for line in [
        "Latency min/avg/max: ",
        "Received: ",
        "Sent: ",
        "Connections: ",
        "Outstanding: ",
        "Zxid: 0x",
    ] {
        assert!(answer.contains(line), "srvr lacks {line:?}: {answer}");
    }
    assert!(answer.contains("\nMode: standalone\n"), "{answer}");
    assert!(answer.contains("\nNode count: "), "{answer}");
}

#[tokio::test]
async fn stat_lists_the_clients() {
    let server = TestServer::start_default();
    let _client = connect(&server).await;
    let answer = server.four_letter_word("stat");
    assert!(answer.starts_with("Zookeeper version: "), "{answer}");
    assert!(answer.contains("\nClients:\n /127.0.0.1:"), "{answer}");
    assert!(answer.contains("\nMode: standalone\n"), "{answer}");
}

#[tokio::test]
async fn mntr_starts_with_version_and_state_and_uses_tabs() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/e", b"", &ephemeral()).await.unwrap();
    let answer = server.four_letter_word("mntr");
    let lines: Vec<&str> = answer.lines().collect();
    assert!(lines[0].starts_with("zk_version\t"), "{answer}");
    assert_eq!(lines[1], "zk_server_state\tstandalone");
    for line in &lines {
        let (key, value) = line
            .split_once('\t')
            .unwrap_or_else(|| panic!("no tab in {line:?}"));
        assert!(key.starts_with("zk_"), "{line}");
        assert!(!value.is_empty(), "{line}");
    }
    for key in [
        "zk_znode_count",
        "zk_ephemerals_count",
        "zk_num_alive_connections",
        "zk_watch_count",
        "zk_outstanding_requests",
    ] {
        assert!(
            lines
                .iter()
                .any(|line| line.starts_with(&format!("{key}\t"))),
            "mntr lacks {key}"
        );
    }
    assert!(lines.contains(&"zk_ephemerals_count\t1"), "{answer}");
}

#[test]
fn conf_shows_the_configuration() {
    let server = TestServer::start_default();
    let answer = server.four_letter_word("conf");
    assert!(
        answer.contains(&format!("clientPort={}\n", server.address().port())),
        "{answer}"
    );
    assert!(answer.contains("tickTime=500\n"), "{answer}");
    assert!(answer.contains("minSessionTimeout=1000\n"), "{answer}");
    assert!(answer.contains("maxSessionTimeout=10000\n"), "{answer}");
    assert!(answer.contains("dataDir="), "{answer}");
}

#[test]
fn envi_reports_the_zookeeper_version() {
    let server = TestServer::start_default();
    let answer = server.four_letter_word("envi");
    assert!(answer.starts_with("Environment:\n"), "{answer}");
    assert!(answer.contains("\nzookeeper.version="), "{answer}");
}

#[tokio::test]
async fn cons_lists_each_connection_with_its_session() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    let answer = server.four_letter_word("cons");
    assert!(
        answer.contains(&format!("sid={}", hex_session(&client))),
        "{answer}"
    );
    assert!(answer.contains(" /127.0.0.1:"), "{answer}");
}

#[tokio::test]
async fn watch_words_report_watches_by_session_and_by_path() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/watched", b"", &persistent()).await.unwrap();
    let _watch = client.get_and_watch_data("/watched").await.unwrap();
    assert_eq!(
        server.four_letter_word("wchs"),
        "1 connections watching 1 paths\nTotal watches:1\n"
    );
    let session = hex_session(&client);
    let by_session = server.four_letter_word("wchc");
    assert!(
        by_session.contains(&format!("{session}\n\t/watched\n")),
        "{by_session}"
    );
    let by_path = server.four_letter_word("wchp");
    assert!(
        by_path.contains(&format!("/watched\n\t{session}\n")),
        "{by_path}"
    );
}

#[tokio::test]
async fn dump_lists_ephemerals_by_session() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/mine", b"", &ephemeral()).await.unwrap();
    let answer = server.four_letter_word("dump");
    assert!(
        answer.contains("Sessions with Ephemerals (1):\n"),
        "{answer}"
    );
    assert!(
        answer.contains(&format!("{}:\n\t/mine\n", hex_session(&client))),
        "{answer}"
    );
}

#[test]
fn dirs_reports_sizes() {
    let server = TestServer::start_default();
    let answer = server.four_letter_word("dirs");
    assert!(answer.starts_with("datadir_size: "), "{answer}");
    assert!(answer.contains("\nlogdir_size: "), "{answer}");
}

#[test]
fn words_outside_the_whitelist_are_refused() {
    let server = TestServer::start(ServerOptions {
        four_letter_words: "ruok,srvr".to_string(),
        ..Default::default()
    });
    assert_eq!(
        server.four_letter_word("stat"),
        "stat is not executed because it is not in the whitelist.\n"
    );
    assert_eq!(
        server.four_letter_word("mntr"),
        "mntr is not executed because it is not in the whitelist.\n"
    );
    assert_eq!(server.four_letter_word("ruok"), "imok");
}

#[test]
fn an_unknown_word_is_not_a_command() {
    let server = TestServer::start_default();
    // Four bytes that are no command are read as the length of a ConnectRequest; the server
    // must not answer with text, and must keep serving others.
    let answer = common::server::four_letter_word(server.address(), "xxxx").unwrap_or_default();
    assert_eq!(answer, "");
    assert_eq!(server.four_letter_word("ruok"), "imok");
}

#[test]
fn the_default_whitelist_allows_srvr_only() {
    // No whitelist line at all, as in a stock zoo.cfg.
    let server = TestServer::start(ServerOptions {
        four_letter_words: String::new(),
        ..Default::default()
    });
    assert_only_srvr_answers(&server);
}

/// The default whitelist's effect on a network client: `mntr` refused, `srvr` answered.
fn assert_only_srvr_answers(server: &TestServer) {
    assert_eq!(
        server.four_letter_word("mntr"),
        "mntr is not executed because it is not in the whitelist.\n"
    );
    assert!(server
        .four_letter_word("srvr")
        .starts_with("Zookeeper version: "));
}

/// What a server sends back for `bytes`, sent then half-closed, before it closes: the
/// text, or how the read failed (a server that closes with bytes unread resets).
fn raw_answer(address: std::net::SocketAddr, bytes: &[u8]) -> Result<String, std::io::ErrorKind> {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(2))
            .map_err(|e| e.kind())?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .map_err(|e| e.kind())?;
    stream.write_all(bytes).map_err(|e| e.kind())?;
    stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.kind())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(|e| e.kind())?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// A close without a byte of text, orderly or by reset.
fn no_answer(answer: &Result<String, std::io::ErrorKind>) -> bool {
    matches!(answer, Ok(text) if text.is_empty())
        || *answer == Err(std::io::ErrorKind::ConnectionReset)
}

/// ringkeeper's admin server and metrics port lift the whitelist with a per-process token
/// after the bytes `ff 72 6b 69`; from the network, without that token, those bytes are an
/// unknown word like any other (in Apache a negative length), and lift nothing.
#[test]
fn the_in_process_word_with_a_wrong_token_is_an_unknown_word() {
    let server = TestServer::start(ServerOptions {
        four_letter_words: String::new(),
        ..Default::default()
    });
    // The token is 32 bytes.
    for guess in [[0u8; 32], [0xa5; 32]] {
        let mut forged = vec![0xff, b'r', b'k', b'i'];
        forged.extend_from_slice(&guess);
        forged.extend_from_slice(b"mntr");
        let mut unknown = b"xxxx".to_vec();
        unknown.extend_from_slice(&forged[4..]);
        let answer = raw_answer(server.address(), &forged);
        assert_eq!(answer, raw_answer(server.address(), &unknown));
        assert!(no_answer(&answer), "{answer:?}");
    }
    // The prefix with the token cut short is no word either.
    let answer = raw_answer(server.address(), &[0xff, b'r', b'k', b'i', 0, 0]);
    assert!(no_answer(&answer), "{answer:?}");
    assert_only_srvr_answers(&server);
}

/// ringkeeper's own `mntr` lines: request latency per operation, the group commit's
/// fdatasync latency and batch size, and per-shard load (Apache has none of these).
#[tokio::test]
async fn mntr_reports_latency_per_operation_and_group_commit() {
    if common::server::Flavor::from_env() == common::server::Flavor::Apache {
        return;
    }
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/lat", b"x", &persistent()).await.unwrap();
    client.get_data("/lat").await.unwrap();
    let answer = server.four_letter_word("mntr");
    let value = |key: &str| -> i64 {
        answer
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}\t")))
            .unwrap_or_else(|| panic!("{key} missing from mntr:\n{answer}"))
            .parse()
            .unwrap()
    };
    // Clients create with opcode create or create2; either is an operation of its own.
    let create = ["create", "create2"]
        .into_iter()
        .find(|op| answer.contains(&format!("zk_ringkeeper_request_latency_us_{op}_count\t")))
        .unwrap_or_else(|| panic!("no create latency in mntr:\n{answer}"));
    assert!(value(&format!("zk_ringkeeper_request_latency_us_{create}_count")) >= 1);
    assert!(value(&format!("zk_ringkeeper_request_latency_us_{create}_p99")) > 0);
    assert!(value("zk_ringkeeper_request_latency_us_getData_count") >= 1);
    assert!(
        value("zk_ringkeeper_fsync_latency_us_count") >= 1,
        "the create's batch was synced"
    );
    assert!(value("zk_ringkeeper_commit_batch_txns_max") >= 1);
    assert_eq!(value("zk_ringkeeper_shard_0_outstanding_requests"), 0);
    assert!(
        answer.contains("zk_ringkeeper_shard_0_connections\t"),
        "per-shard load is reported:\n{answer}"
    );
}

/// Whether `value` is `<version>, built on yyyy-MM-dd HH:mm UTC`, Apache 3.8's
/// `Version.getFullVersion()`; go-zookeeper's `FLWSrvr` fails on a line without it.
fn is_full_version(value: &str) -> bool {
    let Some((version, date)) = value.split_once(", built on ") else {
        return false;
    };
    let shape = date
        .bytes()
        .map(|b| if b.is_ascii_digit() { b'9' } else { b })
        .collect::<Vec<u8>>();
    !version.is_empty()
        && version.starts_with(|c: char| c.is_ascii_digit())
        && shape == b"9999-99-99 99:99 UTC"
}

/// Issue #12: srvr and stat open with `Zookeeper version: <version>, built on <date>`, and
/// mntr's `zk_version` and envi's `zookeeper.version` carry the same full version.
#[test]
fn version_lines_carry_the_build_date_as_apache_prints_them() {
    let server = TestServer::start_default();
    let mut versions = Vec::new();
    for word in ["srvr", "stat"] {
        let answer = server.four_letter_word(word);
        let first = answer.lines().next().unwrap_or("");
        let value = first
            .strip_prefix("Zookeeper version: ")
            .unwrap_or_else(|| panic!("{word}: {answer}"));
        assert!(is_full_version(value), "{word}: {first:?}");
        versions.push(value.to_owned());
    }
    let mntr = server.four_letter_word("mntr");
    let value = mntr
        .lines()
        .find_map(|l| l.strip_prefix("zk_version\t"))
        .unwrap_or_else(|| panic!("no zk_version: {mntr}"));
    assert!(is_full_version(value), "mntr: {value:?}");
    versions.push(value.to_owned());
    let envi = server.four_letter_word("envi");
    let value = envi
        .lines()
        .find_map(|l| l.strip_prefix("zookeeper.version="))
        .unwrap_or_else(|| panic!("no zookeeper.version: {envi}"));
    assert!(is_full_version(value), "envi: {value:?}");
    versions.push(value.to_owned());
    versions.dedup();
    assert_eq!(versions.len(), 1, "one version everywhere: {versions:?}");
}
