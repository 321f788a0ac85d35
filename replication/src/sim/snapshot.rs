//! The simulated state machine's snapshot format: the applied sequence itself, as
//! `zxid (8 bytes) | length (4 bytes) | payload` records, all big-endian. Decoding returns an
//! error on any malformed input instead of panicking, as a real snapshot reader must.

use crate::message::Entry;

pub fn encode(state: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in state {
        out.extend_from_slice(&entry.zxid.to_be_bytes());
        out.extend_from_slice(&(entry.payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&entry.payload);
    }
    out
}

pub fn decode(mut data: &[u8]) -> Result<Vec<Entry>, String> {
    let mut state = Vec::new();
    while !data.is_empty() {
        let (zxid, rest) = data
            .split_first_chunk::<8>()
            .ok_or("snapshot: truncated zxid")?;
        let (len, rest) = rest
            .split_first_chunk::<4>()
            .ok_or("snapshot: truncated length")?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return Err("snapshot: truncated payload".into());
        }
        state.push(Entry {
            zxid: i64::from_be_bytes(*zxid),
            payload: rest[..len].into(),
        });
        data = &rest[len..];
    }
    Ok(state)
}
