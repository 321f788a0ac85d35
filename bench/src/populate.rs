//! Setup: creates the root, `ROOT/seq` and the keys with pipelined creates over a few
//! sessions. Existing nodes are kept (NodeExists is success), so a second run reuses them.

use crate::keys::key_path;
use crate::session::{self, reply_header};
use ringkeeper_engine::jute::records::{CreateRequest, Request};
use ringkeeper_engine::{xid, Acl, ErrorCode};
use std::collections::BTreeMap;
use std::time::Duration;

/// Creates outstanding per setup session; far below any socket buffer.
pub const SETUP_IN_FLIGHT: usize = 256;
/// How long one setup reply may take before setup gives up.
pub const SETUP_REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// Creates `root`, `root/seq` and `keys` keys holding `value_size` bytes, over `sessions`
/// sessions on the first host. Fails with a message naming the first unexpected error.
pub async fn populate(
    hosts: &[String],
    root: &str,
    keys: u64,
    value_size: usize,
    sessions: usize,
) -> Result<(), String> {
    let host = hosts.first().ok_or("no hosts")?;
    let parents = vec![root.to_string(), format!("{root}/seq")];
    create_all(host, parents.into_iter(), 0, 1).await?;
    let sessions = sessions.max(1) as u64;
    let mut tasks = Vec::new();
    for s in 0..sessions {
        let host = host.clone();
        let root = root.to_string();
        tasks.push(tokio::spawn(async move {
            let paths = (s..keys)
                .step_by(sessions as usize)
                .map(move |i| key_path(&root, i));
            create_all(&host, paths, value_size, SETUP_IN_FLIGHT).await
        }));
    }
    for t in tasks {
        t.await.map_err(|e| format!("setup task: {e}"))??;
    }
    Ok(())
}

/// Creates every path with a window of `in_flight` outstanding creates.
pub async fn create_all(
    host: &str,
    paths: impl Iterator<Item = String>,
    value_size: usize,
    in_flight: usize,
) -> Result<(), String> {
    let mut sess = session::connect(host, 30_000, Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())?;
    let value = vec![b'v'; value_size];
    let mut paths = paths.peekable();
    let mut outstanding = 0usize;
    let mut next_xid = 1i32;
    let mut errors: BTreeMap<i32, u64> = BTreeMap::new();
    let mut first_error: Option<String> = None;
    loop {
        while outstanding < in_flight.max(1) {
            let Some(path) = paths.next() else { break };
            let req = Request::Create(CreateRequest {
                path,
                data: Some(value.clone()),
                acl: Acl::open_unsafe(),
                flags: 0,
            });
            session::write_request(&mut sess.writer, next_xid, &req)
                .await
                .map_err(|e| e.to_string())?;
            next_xid += 1;
            outstanding += 1;
        }
        if outstanding == 0 {
            break;
        }
        let frame =
            tokio::time::timeout(SETUP_REPLY_TIMEOUT, session::read_frame(&mut sess.reader))
                .await
                .map_err(|_| "setup: no reply within 60 s".to_string())?
                .map_err(|e| e.to_string())?;
        let (header, _) = reply_header(&frame).map_err(|e| e.to_string())?;
        if header.xid == xid::NOTIFICATION || header.xid == xid::PING {
            continue;
        }
        outstanding -= 1;
        if header.err != 0 && header.err != ErrorCode::NodeExists.code() {
            *errors.entry(header.err).or_insert(0) += 1;
            first_error.get_or_insert_with(|| crate::stats::error_label(header.err));
        }
    }
    session::close(sess, next_xid).await;
    match first_error {
        None => Ok(()),
        Some(e) => Err(format!(
            "{} creates failed, first with {e}; by code: {errors:?}",
            errors.values().sum::<u64>()
        )),
    }
}
