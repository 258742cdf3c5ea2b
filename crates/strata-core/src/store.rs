//! The document store's layout on disk, shared by the layer that writes it
//! (strata-repo's `Documents`) and the one that checks and backs it up (strata-ops).
//!
//! A document's file is named by the SHA-256 of its content, in one level of 256
//! shards: `<dir>/ab/abcd...` (64 lowercase hex digits). One level keeps the number of
//! directories a put may have to create (and fsync) at 256 for the store's lifetime;
//! a second level would make most of the first 65,536 puts create two. Files being written live
//! in `<dir>/tmp/` until they are complete and synced. Nothing here joins a
//! user-supplied string onto a path: only hex digests checked by [`is_digest`].

use std::path::{Path, PathBuf};

/// The subdirectory of the store where files are written before they are renamed
/// into place.
pub const TMP_DIR: &str = "tmp";

/// Whether `s` is a SHA-256 digest as the store names files: 64 lowercase hex digits.
pub fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The file of the content whose SHA-256 is `digest`, or `None` when `digest` is not
/// a digest ([`is_digest`]).
pub fn blob_path(dir: &Path, digest: &str) -> Option<PathBuf> {
    is_digest(digest).then(|| dir.join(&digest[..2]).join(digest))
}

/// One content file found in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobFile {
    /// Its digest (its file name).
    pub digest: String,
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last modified.
    pub modified: Option<std::time::SystemTime>,
}

/// Every content file under `dir` in the store's layout, sorted by digest; files in
/// the wrong place or with other names are left out (see [`stray_files`]). A missing
/// `dir` is an empty store.
pub fn blob_files(dir: &Path) -> std::io::Result<Vec<BlobFile>> {
    let mut found = Vec::new();
    for shard in subdirs(dir)? {
        for entry in std::fs::read_dir(&shard)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let meta = entry.metadata()?;
            if meta.is_file() && blob_path(dir, &name).as_deref() == Some(entry.path().as_path()) {
                found.push(BlobFile {
                    digest: name,
                    path: entry.path(),
                    size: meta.len(),
                    modified: meta.modified().ok(),
                });
            }
        }
    }
    found.sort_by(|a, b| a.digest.cmp(&b.digest));
    Ok(found)
}

/// Files in the store's `tmp/` directory: writes that have not finished (or never
/// will, after a crash).
pub fn tmp_files(dir: &Path) -> std::io::Result<Vec<BlobFile>> {
    let tmp = dir.join(TMP_DIR);
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(&tmp) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_file() {
            found.push(BlobFile {
                digest: entry.file_name().to_string_lossy().into_owned(),
                path: entry.path(),
                size: meta.len(),
                modified: meta.modified().ok(),
            });
        }
    }
    Ok(found)
}

/// The two-hex-digit shard directories directly under `dir`.
fn subdirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let shard = name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        if shard && entry.file_type()?.is_dir() {
            dirs.push(entry.path());
        }
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_lowercase_hex_digest_gets_a_path() {
        let digest = "ab".repeat(32);
        assert_eq!(blob_path(Path::new("/s"), &digest), Some(PathBuf::from(format!("/s/ab/{digest}"))));
        assert_eq!(blob_path(Path::new("/s"), "../../etc/passwd"), None);
        assert_eq!(blob_path(Path::new("/s"), &"AB".repeat(32)), None);
        assert_eq!(blob_path(Path::new("/s"), &"ab".repeat(31)), None);
    }
}
