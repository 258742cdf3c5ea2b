//! The databases this process has a pool open on, so that a restore or recovery in
//! a higher layer can refuse to replace a file that live connections still use.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

static OPEN: Mutex<Option<HashMap<PathBuf, usize>>> = Mutex::new(None);

/// The key of `path`: canonical when the file exists, as given otherwise.
fn key(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Records one more open pool on `path`; returns the key to release it with.
pub(crate) fn register(path: &Path) -> PathBuf {
    let key = key(path);
    let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
    *open.get_or_insert_with(HashMap::new).entry(key.clone()).or_insert(0) += 1;
    key
}

/// Forgets one open pool on `key` (as returned by [`register`]).
pub(crate) fn release(key: &Path) {
    let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(map) = open.as_mut()
        && let Some(count) = map.get_mut(key)
    {
        *count -= 1;
        if *count == 0 {
            map.remove(key);
        }
    }
}

/// Whether a pool of this process is open (not yet closed) on the database at `path`.
pub fn is_open(path: &Path) -> bool {
    let key = key(path);
    let open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
    open.as_ref().is_some_and(|map| map.contains_key(&key))
}
