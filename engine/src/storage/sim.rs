//! An in-memory [`StorageDir`] that keeps what was written apart from what is durable,
//! to model power loss. Every file has a "written" image (what reads return) and a
//! "durable" one (what survives a crash); the directory likewise has written and durable
//! names. `sync` and `sync_dir` make the written state durable; [`SimDir::crash`] throws
//! away what was not, optionally persisting a seeded random part of it (torn writes).

use std::collections::BTreeMap;
use std::io::ErrorKind;

use super::dir::StorageDir;
use super::error::StorageError;

/// The sector size torn writes are cut at: a device persists each sector whole or not
/// at all, but sectors of one write in any order.
pub const SIM_SECTOR_BYTES: usize = 512;

/// The message of every failure [`SimDir::fail_after`] injects.
pub const INJECTED_FAILURE: &str = "injected I/O failure";

/// A seeded xorshift64: every simulated run, and every failure, replays from its seed.
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    pub fn new(seed: u64) -> SimRng {
        // Zero is xorshift's one fixed point; any other seed works.
        SimRng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    pub fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

/// What a crash does with writes that were not synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Every unsynced write and name change is lost.
    LoseUnsynced,
    /// Each unsynced write keeps a random subset of its sectors, each unsynced length
    /// change and a random prefix of the name changes may survive.
    Torn,
}

#[derive(Debug, Clone)]
enum FileOp {
    Write { offset: usize, bytes: Vec<u8> },
    SetLen(usize),
}

#[derive(Debug, Clone, Default)]
struct Inode {
    written: Vec<u8>,
    durable: Vec<u8>,
    /// Changes since the last sync, in order.
    unsynced: Vec<FileOp>,
}

#[derive(Debug, Clone)]
enum DirOp {
    Link(String, usize),
    Rename(String, String),
    Remove(String),
}

/// See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct SimDir {
    inodes: BTreeMap<usize, Inode>,
    next_inode: usize,
    names: BTreeMap<String, usize>,
    durable_names: BTreeMap<String, usize>,
    unsynced_dir: Vec<DirOp>,
    /// Counts down on every mutating call; at zero that call fails with an I/O error, as
    /// a disk might (e.g. full). `None` never fails.
    fail_countdown: Option<u64>,
}

fn not_found(op: &'static str, name: &str) -> StorageError {
    StorageError::io(
        op,
        name,
        std::io::Error::new(ErrorKind::NotFound, "no such file"),
    )
}

fn to_len(n: u64) -> Result<usize, StorageError> {
    usize::try_from(n).map_err(|_| {
        StorageError::io(
            "size",
            "",
            std::io::Error::new(ErrorKind::InvalidInput, "length too large"),
        )
    })
}

fn apply_op(image: &mut Vec<u8>, op: &FileOp) {
    match op {
        FileOp::Write { offset, bytes } => {
            let end = offset + bytes.len();
            if image.len() < end {
                image.resize(end, 0);
            }
            image[*offset..end].copy_from_slice(bytes);
        }
        FileOp::SetLen(len) => image.resize(*len, 0),
    }
}

fn apply_dir_op(names: &mut BTreeMap<String, usize>, op: &DirOp) {
    match op {
        DirOp::Link(name, inode) => {
            names.insert(name.clone(), *inode);
        }
        DirOp::Rename(from, to) => {
            if let Some(inode) = names.remove(from) {
                names.insert(to.clone(), inode);
            }
        }
        DirOp::Remove(name) => {
            names.remove(name);
        }
    }
}

impl SimDir {
    pub fn new() -> SimDir {
        SimDir::default()
    }

    /// Makes the `n`th mutating call from now (0: the next) fail with an I/O error.
    pub fn fail_after(&mut self, n: u64) {
        self.fail_countdown = Some(n);
    }

    fn mutating(&mut self, op: &'static str, name: &str) -> Result<(), StorageError> {
        match self.fail_countdown {
            Some(0) => {
                self.fail_countdown = None;
                Err(StorageError::io(
                    op,
                    name,
                    std::io::Error::other(INJECTED_FAILURE),
                ))
            }
            Some(n) => {
                self.fail_countdown = Some(n - 1);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn inode_mut(&mut self, name: &str, create: bool) -> Result<&mut Inode, StorageError> {
        let id = match self.names.get(name) {
            Some(id) => *id,
            None if create => {
                let id = self.next_inode;
                self.next_inode += 1;
                self.inodes.insert(id, Inode::default());
                self.names.insert(name.to_owned(), id);
                self.unsynced_dir.push(DirOp::Link(name.to_owned(), id));
                id
            }
            None => return Err(not_found("open", name)),
        };
        self.inodes
            .get_mut(&id)
            .ok_or_else(|| not_found("open", name))
    }

    fn push_op(&mut self, name: &str, op: FileOp) -> Result<(), StorageError> {
        let inode = self.inode_mut(name, true)?;
        apply_op(&mut inode.written, &op);
        inode.unsynced.push(op);
        Ok(())
    }

    /// The durable image of a file under its durable name, for test assertions.
    pub fn durable(&self, name: &str) -> Option<&[u8]> {
        let id = self.durable_names.get(name)?;
        self.inodes.get(id).map(|i| i.durable.as_slice())
    }

    /// Simulates power loss: the directory and every file fall back to their durable
    /// state, except what `mode` lets survive (chosen by `rng`).
    pub fn crash(&mut self, mode: CrashMode, rng: &mut SimRng) {
        let torn = mode == CrashMode::Torn;
        // Name changes reach the disk in order (a journaled file system), so a prefix
        // of them survives.
        let keep = if torn {
            rng.below(self.unsynced_dir.len() as u64 + 1) as usize
        } else {
            0
        };
        let mut names = std::mem::take(&mut self.durable_names);
        for op in self.unsynced_dir.drain(..).take(keep) {
            apply_dir_op(&mut names, &op);
        }
        for inode in self.inodes.values_mut() {
            let mut image = std::mem::take(&mut inode.durable);
            if torn {
                // Each pending write: all of it, none of it, or a random set of sectors.
                for op in &inode.unsynced {
                    match op {
                        FileOp::SetLen(_) => {
                            if rng.chance(2) {
                                apply_op(&mut image, op);
                            }
                        }
                        FileOp::Write { offset, bytes } => match rng.below(3) {
                            0 => {}
                            1 => apply_op(&mut image, op),
                            _ => {
                                for (i, chunk) in bytes.chunks(SIM_SECTOR_BYTES).enumerate() {
                                    if rng.chance(2) {
                                        let sector = FileOp::Write {
                                            offset: offset + i * SIM_SECTOR_BYTES,
                                            bytes: chunk.to_vec(),
                                        };
                                        apply_op(&mut image, &sector);
                                    }
                                }
                            }
                        },
                    }
                }
            }
            inode.unsynced.clear();
            inode.written = image.clone();
            inode.durable = image;
        }
        self.inodes.retain(|id, _| names.values().any(|v| v == id));
        self.names = names.clone();
        self.durable_names = names;
    }
}

impl StorageDir for SimDir {
    fn list(&self) -> Result<Vec<String>, StorageError> {
        Ok(self.names.keys().cloned().collect())
    }

    fn read(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        let id = self
            .names
            .get(name)
            .ok_or_else(|| not_found("read", name))?;
        self.inodes
            .get(id)
            .map(|i| i.written.clone())
            .ok_or_else(|| not_found("read", name))
    }

    fn write_at(&mut self, name: &str, offset: u64, bytes: &[u8]) -> Result<(), StorageError> {
        self.mutating("write", name)?;
        let offset = to_len(offset)?;
        self.push_op(
            name,
            FileOp::Write {
                offset,
                bytes: bytes.to_vec(),
            },
        )
    }

    fn set_len(&mut self, name: &str, len: u64) -> Result<(), StorageError> {
        self.mutating("set length of", name)?;
        let len = to_len(len)?;
        self.push_op(name, FileOp::SetLen(len))
    }

    fn sync(&mut self, name: &str) -> Result<(), StorageError> {
        self.mutating("fdatasync", name)?;
        let inode = self.inode_mut(name, false)?;
        inode.durable = inode.written.clone();
        inode.unsynced.clear();
        Ok(())
    }

    fn write_file_synced(&mut self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.mutating("create", name)?;
        self.push_op(name, FileOp::SetLen(0))?;
        self.push_op(
            name,
            FileOp::Write {
                offset: 0,
                bytes: bytes.to_vec(),
            },
        )?;
        self.sync(name)
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), StorageError> {
        self.mutating("rename", from)?;
        let id = self
            .names
            .remove(from)
            .ok_or_else(|| not_found("rename", from))?;
        self.names.insert(to.to_owned(), id);
        self.unsynced_dir
            .push(DirOp::Rename(from.to_owned(), to.to_owned()));
        Ok(())
    }

    fn remove(&mut self, name: &str) -> Result<(), StorageError> {
        self.mutating("remove", name)?;
        self.names
            .remove(name)
            .ok_or_else(|| not_found("remove", name))?;
        self.unsynced_dir.push(DirOp::Remove(name.to_owned()));
        Ok(())
    }

    fn sync_dir(&mut self) -> Result<(), StorageError> {
        self.mutating("fsync directory", "")?;
        for op in self.unsynced_dir.drain(..) {
            apply_dir_op(&mut self.durable_names, &op);
        }
        Ok(())
    }
}
