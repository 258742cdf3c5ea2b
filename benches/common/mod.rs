//! Set-up shared by the bench targets of `benches/`: the tokio runtime, criterion's
//! test mode, the target directory the report is written to, and removing a database
//! with its side files. Each bench target includes it with `mod common;`.

#![allow(dead_code, reason = "each bench target uses its own subset of these helpers")]

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use tokio::runtime::Runtime;

/// Worker threads of the benches' multi-thread tokio runtime. The timed loops run in
/// `Runtime::block_on` on the bench thread, so workers only matter for deadpool's
/// `spawn_blocking`, timers and spawned tasks. 2 and 4 were tried on the 2-core bench
/// machine: more threads than cores only added scheduling noise next to the writer
/// thread. `STRATA_BENCH_WORKERS=<n>` overrides it to compare again.
pub const WORKER_THREADS: usize = 2;

/// The benches' runtime: [`WORKER_THREADS`] workers unless `STRATA_BENCH_WORKERS` says.
pub fn runtime() -> Runtime {
    let workers = std::env::var("STRATA_BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(WORKER_THREADS);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("build the tokio runtime")
}

/// Whether criterion runs this binary as a test: `cargo test --benches` does not pass
/// `--bench`, `cargo bench -- --test` passes both (criterion's own rule).
pub fn test_mode() -> bool {
    let has = |flag: &str| std::env::args().any(|arg| arg == flag);
    !has("--bench") || has("--test")
}

/// Cargo's target directory, as `cargo xtask bench` finds it: `$CARGO_TARGET_DIR`
/// (relative to the project root), else `<root>/target`.
pub fn target_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// Removes a file and the `-wal` / `-shm` / `-journal` files beside it, whichever exist.
pub fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = fs::remove_file(PathBuf::from(name));
    }
}

/// Whether the file at `path` is a finished fixture of version `version`: the SQLite
/// header's magic and `user_version`, read from the file itself so that no connection
/// creates `-wal` or `-shm` files beside it.
pub fn fixture_stamped(path: &Path, version: u32) -> bool {
    let mut header = [0u8; 100];
    if File::open(path).and_then(|mut f| f.read_exact(&mut header)).is_err() {
        return false;
    }
    let user_version = u32::from_be_bytes([header[60], header[61], header[62], header[63]]);
    header.starts_with(b"SQLite format 3\0") && user_version == version
}
