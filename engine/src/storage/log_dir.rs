//! The seam between the log writer's decisions and the files it writes.
//!
//! [`super::LogWriter`] decides what to write where; a [`LogDir`] only does it. The server
//! implements this trait with io_uring files on its sequencer core; every [`StorageDir`]
//! implements it too (its futures are ready at once), so the power-loss tests over
//! [`super::SimDir`] and the tools run the very writer the server ships.

use std::future::Future;
use std::io::ErrorKind;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::dir::StorageDir;
use super::error::StorageError;

/// The file operations of the log's commit path, each with explicit durability, as in
/// [`StorageDir`].
// Every implementation runs on one thread (a glommio executor, or `block_on`), so the
// futures need not be `Send` and a plain `async fn` is the honest signature.
#[allow(async_fn_in_trait)]
pub trait LogDir {
    /// Creates segment `name`, which must not exist yet (an existing file could hold
    /// records a shorter write would leave readable), as `len` bytes of zeros, and makes
    /// its data durable. Its name is durable only after [`LogDir::sync_names`].
    async fn create_segment(&mut self, name: &str, len: u64) -> Result<(), StorageError>;
    /// Writes all of `bytes` at `offset` of an existing segment. Not durable until `sync_segment`.
    async fn write_segment(
        &mut self,
        name: &str,
        offset: u64,
        bytes: Vec<u8>,
    ) -> Result<(), StorageError>;
    /// Makes a segment's data durable (fdatasync).
    async fn sync_segment(&mut self, name: &str) -> Result<(), StorageError>;
    /// Makes the directory's names durable.
    async fn sync_names(&mut self) -> Result<(), StorageError>;
    /// Releases any open handle, before the directory is changed through [`LogDir::blocking`].
    async fn close(&mut self) -> Result<(), StorageError>;
    /// The same directory through blocking calls, for the rare changes of the whole log
    /// (cutting it, installing a snapshot), which reuse the recovery-side code.
    fn blocking(&mut self) -> &mut dyn StorageDir;
}

impl<S: StorageDir> LogDir for S {
    async fn create_segment(&mut self, name: &str, len: u64) -> Result<(), StorageError> {
        if self.list()?.iter().any(|n| n == name) {
            return Err(StorageError::io(
                "create",
                name,
                std::io::Error::new(ErrorKind::AlreadyExists, "segment exists"),
            ));
        }
        self.set_len(name, len)?;
        StorageDir::sync(self, name)
    }

    async fn write_segment(
        &mut self,
        name: &str,
        offset: u64,
        bytes: Vec<u8>,
    ) -> Result<(), StorageError> {
        StorageDir::write_at(self, name, offset, &bytes)
    }

    async fn sync_segment(&mut self, name: &str) -> Result<(), StorageError> {
        StorageDir::sync(self, name)
    }

    async fn sync_names(&mut self) -> Result<(), StorageError> {
        StorageDir::sync_dir(self)
    }

    async fn close(&mut self) -> Result<(), StorageError> {
        // A StorageDir holds no handles between calls.
        Ok(())
    }

    fn blocking(&mut self) -> &mut dyn StorageDir {
        self
    }
}

/// Runs a future to completion on this thread. Meant for the log writer over a
/// [`StorageDir`], whose futures are ready at once; a future that waits for a wake-up from
/// elsewhere is polled again after a yield of the thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}
