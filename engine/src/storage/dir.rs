//! The data directory as recovery, the tools and the crash tests see it: a small
//! synchronous trait, and its std::fs implementation.
//!
//! Only the operations the durable commit paths need exist, each with explicit
//! durability: nothing a method writes is durable until [`StorageDir::sync`] (file data)
//! or [`StorageDir::sync_dir`] (names) says so. The in-memory [`super::SimDir`] holds
//! implementations to exactly that.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;

use super::error::StorageError;

/// A flat directory of files named by plain names (no separators).
pub trait StorageDir {
    /// Every file name, sorted.
    fn list(&self) -> Result<Vec<String>, StorageError>;
    /// The whole content of a file as the OS would return it now (durable or not).
    fn read(&self, name: &str) -> Result<Vec<u8>, StorageError>;
    /// Writes `bytes` at `offset`, creating the file if needed. Not durable until `sync`
    /// (and, for a new file, `sync_dir`).
    fn write_at(&mut self, name: &str, offset: u64, bytes: &[u8]) -> Result<(), StorageError>;
    /// Sets a file's length: zeros when it grows (preallocation), cut when it shrinks
    /// (truncating a torn tail). Creates the file if needed. Not durable until `sync`.
    fn set_len(&mut self, name: &str, len: u64) -> Result<(), StorageError>;
    /// Makes a file's data and length durable (fdatasync).
    fn sync(&mut self, name: &str) -> Result<(), StorageError>;
    /// Creates or replaces a whole file with `bytes` and syncs it.
    fn write_file_synced(&mut self, name: &str, bytes: &[u8]) -> Result<(), StorageError>;
    /// Renames a file, replacing any file under `to`. Not durable until `sync_dir`.
    fn rename(&mut self, from: &str, to: &str) -> Result<(), StorageError>;
    /// Removes a file. Not durable until `sync_dir`.
    fn remove(&mut self, name: &str) -> Result<(), StorageError>;
    /// Makes the directory's names durable (fsync of the directory).
    fn sync_dir(&mut self) -> Result<(), StorageError>;
}

/// The suffix a file is written under before [`replace_file`] renames it into place.
pub const TEMP_SUFFIX: &str = ".tmp";

/// Replaces file `name` with `bytes` so that a crash at any point leaves either the old
/// content or the new one: write a temp file and sync it, rename it over `name`, sync the
/// directory. Returns when the new content is durable.
pub fn replace_file(
    dir: &mut dyn StorageDir,
    name: &str,
    bytes: &[u8],
) -> Result<(), StorageError> {
    let temp = format!("{name}{TEMP_SUFFIX}");
    dir.write_file_synced(&temp, bytes)?;
    dir.rename(&temp, name)?;
    dir.sync_dir()
}

/// A [`StorageDir`] over a real directory.
#[derive(Debug, Clone)]
pub struct FsDir {
    root: PathBuf,
    /// Whether files it creates are readable by their owner only (mode 0600), for keys.
    owner_only: bool,
}

impl FsDir {
    /// Opens an existing directory.
    pub fn open(root: impl Into<PathBuf>) -> Result<FsDir, StorageError> {
        let root = root.into();
        let meta = std::fs::metadata(&root)
            .map_err(|e| StorageError::io("stat", root.display().to_string(), e))?;
        if !meta.is_dir() {
            return Err(StorageError::io(
                "open",
                root.display().to_string(),
                std::io::Error::new(ErrorKind::InvalidInput, "not a directory"),
            ));
        }
        Ok(FsDir {
            root,
            owner_only: false,
        })
    }

    /// Makes the files this creates from now on readable and writable by their owner
    /// only, as a file holding a key must be.
    pub fn owner_only(mut self) -> FsDir {
        self.owner_only = true;
        self
    }

    fn options(&self) -> OpenOptions {
        let mut options = OpenOptions::new();
        if self.owner_only {
            options.mode(0o600);
        }
        options
    }

    /// Creates the directory (and its parents) if needed, then opens it.
    pub fn create(root: impl Into<PathBuf>) -> Result<FsDir, StorageError> {
        let root = root.into();
        std::fs::create_dir_all(&root)
            .map_err(|e| StorageError::io("create directory", root.display().to_string(), e))?;
        FsDir::open(root)
    }

    /// The full path of a file in this directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn shown(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn open_for_write(&self, name: &str) -> Result<File, StorageError> {
        self.options()
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.path(name))
            .map_err(|e| StorageError::io("open", self.shown(name), e))
    }
}

impl StorageDir for FsDir {
    fn list(&self) -> Result<Vec<String>, StorageError> {
        let shown = self.root.display().to_string();
        let mut names = Vec::new();
        for entry in
            std::fs::read_dir(&self.root).map_err(|e| StorageError::io("list", &shown, e))?
        {
            let entry = entry.map_err(|e| StorageError::io("list", &shown, e))?;
            let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
            // Names that are not UTF-8 are nobody's files we know; they are left alone.
            if let (true, Ok(name)) = (is_file, entry.file_name().into_string()) {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn read(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        std::fs::read(self.path(name)).map_err(|e| StorageError::io("read", self.shown(name), e))
    }

    fn write_at(&mut self, name: &str, offset: u64, bytes: &[u8]) -> Result<(), StorageError> {
        self.open_for_write(name)?
            .write_all_at(bytes, offset)
            .map_err(|e| StorageError::io("write", self.shown(name), e))
    }

    fn set_len(&mut self, name: &str, len: u64) -> Result<(), StorageError> {
        self.open_for_write(name)?
            .set_len(len)
            .map_err(|e| StorageError::io("set length of", self.shown(name), e))
    }

    fn sync(&mut self, name: &str) -> Result<(), StorageError> {
        // Length changes are metadata fdatasync must flush too, so sync_all is not needed.
        self.open_for_write(name)?
            .sync_data()
            .map_err(|e| StorageError::io("fdatasync", self.shown(name), e))
    }

    fn write_file_synced(&mut self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let file = self
            .options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.path(name))
            .map_err(|e| StorageError::io("create", self.shown(name), e))?;
        file.write_all_at(bytes, 0)
            .map_err(|e| StorageError::io("write", self.shown(name), e))?;
        file.sync_all()
            .map_err(|e| StorageError::io("fsync", self.shown(name), e))
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), StorageError> {
        std::fs::rename(self.path(from), self.path(to))
            .map_err(|e| StorageError::io("rename", format!("{} -> {to}", self.shown(from)), e))
    }

    fn remove(&mut self, name: &str) -> Result<(), StorageError> {
        std::fs::remove_file(self.path(name))
            .map_err(|e| StorageError::io("remove", self.shown(name), e))
    }

    fn sync_dir(&mut self) -> Result<(), StorageError> {
        let shown = self.root.display().to_string();
        File::open(&self.root)
            .and_then(|d| d.sync_all())
            .map_err(|e| StorageError::io("fsync directory", shown, e))
    }
}
