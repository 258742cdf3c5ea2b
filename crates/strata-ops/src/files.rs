//! File handling shared by backup, restore and recovery: the `-wal`/`-shm` sidecar
//! names, files created with mode 0600 and directories with 0700, fsync of files and directories, sizes, and
//! the streaming sha256 with progress.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use strata_core::{Error, Result};

use crate::{Progress, ProgressFn, Stage};

/// `<path>-wal`.
pub fn wal_path(path: &Path) -> PathBuf {
    sidecar(path, "-wal")
}

/// `<path>-shm`.
pub fn shm_path(path: &Path) -> PathBuf {
    sidecar(path, "-shm")
}

/// `path` with `suffix` appended to its file name.
pub fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// The size of a file; 0 when it does not exist.
pub fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The directory a file lives in (`.` for a bare file name).
pub fn parent(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Creates the directory `dir` and its missing parents with mode 0700 (only the
/// owner may list or enter it, like the 0600 files strata writes into it). An
/// existing directory is left as it is: its mode is the operator's choice.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| Error::file_io("create directory", dir, &e))
}

/// Creates `path`, which must not exist, with mode 0600.
pub fn create_new(path: &Path) -> Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|e| Error::file_io("create", path, &e))
}

/// Flushes a file's data and metadata to the disk.
pub fn fsync(path: &Path) -> Result<()> {
    let file =
        OpenOptions::new().read(true).write(true).open(path).map_err(|e| Error::file_io("open", path, &e))?;
    file.sync_all().map_err(|e| Error::file_io("fsync", path, &e))
}

/// Flushes a directory, so that a rename or a new file in it survives a crash.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let file = File::open(dir).map_err(|e| Error::file_io("open directory", dir, &e))?;
        file.sync_all().map_err(|e| Error::file_io("fsync directory", dir, &e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Renames `from` to `to` (same directory, so atomic).
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| Error::file_io("rename", from, &e))
}

/// Moves `path` to `to` when it exists; returns whether it did.
pub fn move_if_exists(path: &Path, to: &Path) -> Result<bool> {
    match std::fs::rename(path, to) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::file_io("move", path, &e)),
    }
}

/// Removes `path` when it exists.
pub fn remove_if_exists(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::file_io("remove", path, &e)),
    }
}

/// Bytes read per chunk by [`sha256`] and [`copy`].
const CHUNK: usize = 1 << 20;

/// The hex sha256 of a file, reporting progress as [`Stage::Hash`].
pub fn sha256(path: &Path, progress: Option<&ProgressFn>) -> Result<String> {
    let mut file = File::open(path).map_err(|e| Error::file_io("open", path, &e))?;
    let total = size(path);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::file_io("read", path, &e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        done += n as u64;
        if let Some(progress) = progress {
            progress(Progress { stage: Stage::Hash, done, total });
        }
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Copies `from` into a new 0600 file `to` (which must not exist), fsynced, with
/// progress as [`Stage::Copy`]; returns the bytes copied.
pub fn copy(from: &Path, to: &Path, progress: Option<&ProgressFn>) -> Result<u64> {
    let mut src = File::open(from).map_err(|e| Error::file_io("open", from, &e))?;
    let mut dst = create_new(to)?;
    let total = size(from);
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    loop {
        let n = src.read(&mut buf).map_err(|e| Error::file_io("read", from, &e))?;
        if n == 0 {
            break;
        }
        std::io::Write::write_all(&mut dst, &buf[..n]).map_err(|e| Error::file_io("write", to, &e))?;
        done += n as u64;
        if let Some(progress) = progress {
            progress(Progress { stage: Stage::Copy, done, total });
        }
    }
    dst.sync_all().map_err(|e| Error::file_io("fsync", to, &e))?;
    Ok(done)
}
