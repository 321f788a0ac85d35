//! Reading and writing ZooKeeper's length-prefixed frames.

use futures_lite::{AsyncRead, AsyncReadExt};
use thiserror::Error;

/// Why a connection stopped producing frames.
#[derive(Debug, Error)]
pub enum FrameError {
    #[error("connection closed by peer")]
    Eof,
    #[error("frame length {0} is negative")]
    NegativeLength(i32),
    #[error("frame length {len} exceeds the packet limit of {limit} bytes")]
    TooLarge { len: usize, limit: usize },
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads the 4-byte big-endian length prefix. A clean EOF before any byte is `Eof`.
pub async fn read_len<R: AsyncRead + Unpin>(r: &mut R) -> Result<[u8; 4], FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut len[got..]).await?;
        if n == 0 {
            return Err(FrameError::Eof);
        }
        got += n;
    }
    Ok(len)
}

/// Checks a length prefix against the packet limit.
pub fn check_len(prefix: [u8; 4], limit: usize) -> Result<usize, FrameError> {
    let len = i32::from_be_bytes(prefix);
    if len < 0 {
        return Err(FrameError::NegativeLength(len));
    }
    let len = len as usize;
    if len > limit {
        return Err(FrameError::TooLarge { len, limit });
    }
    Ok(len)
}

/// Reads a frame body of `len` bytes into `buf` (reusing its allocation).
pub async fn read_body<R: AsyncRead + Unpin>(
    r: &mut R,
    len: usize,
    buf: &mut Vec<u8>,
) -> Result<(), FrameError> {
    buf.clear();
    buf.resize(len, 0);
    match r.read_exact(buf).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(FrameError::Eof),
        Err(e) => Err(FrameError::Io(e)),
    }
}

/// Reads a whole frame: prefix, limit check, body.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    limit: usize,
    buf: &mut Vec<u8>,
) -> Result<(), FrameError> {
    let prefix = read_len(r).await?;
    let len = check_len(prefix, limit)?;
    read_body(r, len, buf).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_and_limits_enforced() {
        futures_lite::future::block_on(async {
            let mut data: &[u8] = &[0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 9];
            let mut buf = Vec::new();
            read_frame(&mut data, 8, &mut buf).await.unwrap();
            assert_eq!(buf, vec![1, 2, 3]);
            assert!(matches!(
                read_frame(&mut data, 8, &mut buf).await,
                Err(FrameError::TooLarge { len: 9, limit: 8 })
            ));
            let mut neg: &[u8] = &[0xff, 0xff, 0xff, 0xfe];
            assert!(matches!(
                read_frame(&mut neg, 8, &mut buf).await,
                Err(FrameError::NegativeLength(-2))
            ));
            let mut truncated: &[u8] = &[0, 0, 0, 5, 1];
            assert!(matches!(
                read_frame(&mut truncated, 8, &mut buf).await,
                Err(FrameError::Eof)
            ));
            let mut empty: &[u8] = &[];
            assert!(matches!(
                read_frame(&mut empty, 8, &mut buf).await,
                Err(FrameError::Eof)
            ));
        });
    }
}
