//! What a server did with one request: its answer code and whether it kept the connection.
//! Tests compare this with Apache's behaviour, which is the oracle for every table.

use std::io::ErrorKind;
use std::time::Duration;

use super::jute::{op, Out};
use super::raw::{RawConn, Reply};

/// How long a server that answers at all takes at most to answer one request, so that a
/// request unanswered for this long counts as not answered.
const SILENCE_WAIT: Duration = Duration::from_millis(1500);
/// How long a reply to the probe may take.
const REPLY_WAIT: Duration = Duration::from_secs(10);

/// What a server did with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A reply with this error code; the connection stays open.
    Open(i32),
    /// A reply with this error code, then the server closed the connection.
    Closed(i32),
    /// No reply; the server closed the connection.
    Dropped,
    /// No reply, and the connection stays open.
    Silent,
}

/// Sends `body` under `op_code`, then a probe (exists "/"), and reads what comes back.
pub fn observe(conn: &mut RawConn, op_code: i32, body: &[u8]) -> Answer {
    let sent = conn.send_request(op_code, body);
    observe_reply(conn, sent)
}

/// Sends a whole frame that is not a request (its first four bytes are read as the xid
/// `sent`), then a probe, and reads what comes back.
pub fn observe_frame(conn: &mut RawConn, frame: &[u8], sent: i32) -> Answer {
    conn.send(frame);
    observe_reply(conn, sent)
}

fn observe_reply(conn: &mut RawConn, sent: i32) -> Answer {
    // The probe goes out only after the answer came (or did not come): a server that
    // answers and then closes may still serve a probe that was already on its way, which
    // Apache does now and then.
    conn.set_read_timeout(SILENCE_WAIT);
    let first = loop {
        match conn.read_any() {
            Ok(reply) if reply.xid == sent => break Some(reply.err),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break None
            }
            Err(_) => {
                conn.set_read_timeout(REPLY_WAIT);
                return Answer::Dropped;
            }
        }
    };
    conn.set_read_timeout(REPLY_WAIT);
    let probe = conn.send_request(op::EXISTS, &Out::new().string("/").boolean(false).0);
    let mut late = None;
    let probe_answered = loop {
        match conn.read_any() {
            Ok(reply) if reply.xid == probe => break true,
            // A slow server's answer to the request itself.
            Ok(reply) if reply.xid == sent => late = Some(reply.err),
            Ok(_) => continue,
            Err(_) => break false,
        }
    };
    match (first.or(late), probe_answered) {
        (Some(code), true) => Answer::Open(code),
        (Some(code), false) => Answer::Closed(code),
        (None, true) => Answer::Silent,
        (None, false) => Answer::Dropped,
    }
}

/// The body of a multi (or multiRead) holding one operation.
pub fn multi_of_one(op_code: i32, op_body: &[u8]) -> Out {
    let mut body = Out::new().int(op_code).boolean(false).int(-1);
    body.0.extend_from_slice(op_body);
    body.int(-1).boolean(true).int(-1)
}

/// The error code of a multi reply's first result: 0 for a success, the code of an error
/// result (header type -1, then an ErrorResponse).
pub fn first_result(reply: &Reply) -> i32 {
    let mut r = reply.reader();
    let kind = r.int();
    let _done = r.boolean();
    let code = r.int();
    if kind == -1 {
        r.int()
    } else {
        code
    }
}

/// Fails with every difference from Apache's answers at once, so that one run shows the
/// whole class of defect rather than its first instance.
pub fn assert_no_mismatches(mismatches: &[String]) {
    assert!(
        mismatches.is_empty(),
        "{} differences from Apache's answers:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
