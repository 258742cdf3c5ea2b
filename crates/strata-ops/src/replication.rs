//! Replication with Litestream: the Litestream config `strata replicate` writes for a
//! database and a replica URL (a directory, `file://`, `s3://` and the other schemes
//! Litestream 0.5 knows).
//!
//! The config leaves checkpoints to Litestream, which is what `[replication] mode =
//! "litestream"` tells strata's connections to expect; restoring from a replica is
//! [`crate::restore::restore_from_replica`].

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strata_core::{Error, Result};
use strata_pool::operation_sync;

use crate::files;

/// The replica URL schemes Litestream 0.5 replicates to, besides a plain directory.
pub const REPLICA_SCHEMES: &[&str] = &["file", "s3", "gs", "abs", "sftp", "webdav", "webdavs", "nats"];

/// How often Litestream ships the WAL to the replica: the loss window's main part.
pub const SYNC_INTERVAL: &str = "1s";

/// How often Litestream looks at the WAL, copies new frames and checkpoints. The WAL
/// holds about this long of writes: with Litestream's default of 1 s a strata writer
/// at 6,000 one-row writes a second took the `-wal` file to 71-170 MiB in four runs;
/// with 100 ms, to 27-92 MiB (39 MiB or less in three runs of four).
pub const MONITOR_INTERVAL: &str = "100ms";

/// Litestream runs a PASSIVE checkpoint once the WAL holds this many pages (its
/// default `min-checkpoint-page-count`).
pub const MIN_CHECKPOINT_PAGES: u32 = 1_000;

/// Litestream forces a TRUNCATE checkpoint once the WAL holds this many pages, which
/// bounds the WAL when readers keep PASSIVE checkpoints from resetting it: 64 MiB of
/// 4 KiB pages, strata's default `journal_size_limit` (Litestream's own default is
/// about 500 MiB).
pub const TRUNCATE_PAGES: u32 = 16_384;

/// A Litestream config for one database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LitestreamConfig {
    /// The database, as an absolute path.
    pub database: PathBuf,
    /// The replica URL Litestream ships to.
    pub replica: String,
    /// The YAML text.
    pub yaml: String,
}

/// The Litestream config for the database at `db` replicated to `replica`: a
/// directory (made absolute, written as a `file://` URL) or a URL of one of
/// [`REPLICA_SCHEMES`]. E6001 for an empty replica, an unknown scheme or a URL
/// without a place after the scheme.
pub fn litestream_config(db: &Path, replica: &str) -> Result<LitestreamConfig> {
    let replica = replica.trim();
    if replica.is_empty() {
        return Err(Error::invalid("replica", "must be a directory or a URL such as s3://bucket/path"));
    }
    let url = match replica.split_once("://") {
        Some((scheme, rest)) => {
            if !REPLICA_SCHEMES.contains(&scheme) {
                return Err(Error::invalid(
                    "replica",
                    format!("unknown scheme `{scheme}://`; Litestream replicates to {}", schemes()),
                ));
            }
            if rest.trim_matches('/').is_empty() {
                return Err(Error::invalid("replica", format!("`{replica}` names no bucket or path")));
            }
            replica.to_string()
        }
        None => crate::restore::replica_url(replica)?,
    };
    let database = absolute(db)?;
    let yaml = render(&database, &url);
    Ok(LitestreamConfig { database, replica: url, yaml })
}

/// Writes the config for `db` and `replica` to `out` (mode 0600: an S3 URL may sit
/// beside credentials); an existing file is kept unless `force` (E6001).
pub fn write_litestream_config(
    db: &Path,
    replica: &str,
    out: &Path,
    force: bool,
) -> Result<LitestreamConfig> {
    operation_sync("replication.write_config", "", || write_unlogged(db, replica, out, force))
}

/// [`write_litestream_config`] outside its operation span.
fn write_unlogged(db: &Path, replica: &str, out: &Path, force: bool) -> Result<LitestreamConfig> {
    let config = litestream_config(db, replica)?;
    if out.exists() && !force {
        return Err(Error::invalid("out", format!("{} exists; pass --force to replace it", out.display())));
    }
    let partial = files::sidecar(out, ".partial");
    files::remove_if_exists(&partial)?;
    let mut file = files::create_new(&partial)?;
    file.write_all(config.yaml.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::file_io("write", &partial, &e))?;
    files::rename(&partial, out)?;
    Ok(config)
}

fn schemes() -> String {
    REPLICA_SCHEMES.iter().map(|s| format!("{s}://")).collect::<Vec<_>>().join(", ")
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::file_io("resolve", path, &e))
}

/// A YAML double-quoted scalar.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn render(database: &Path, url: &str) -> String {
    let credentials = if url.starts_with("s3://") {
        "    # Credentials come from LITESTREAM_ACCESS_KEY_ID and LITESTREAM_SECRET_ACCESS_KEY\n\
         \x20   # (or AWS_*). For S3-compatible storage (MinIO, R2, B2) add ?endpoint=HOST to the\n\
         \x20   # URL, or an `endpoint:` key here.\n"
    } else {
        ""
    };
    format!(
        "# Litestream config for {db}, written by `strata replicate`.\n\
         # Run beside the application:  litestream replicate -config <this file>\n\
         # and set `[replication] mode = \"litestream\"` in strata's config, so that strata\n\
         # leaves checkpoints to Litestream. Restore: strata restore --from-replica {url}\n\
         dbs:\n\
         \x20 - path: {path}\n\
         \x20   # Litestream owns checkpoints: PASSIVE once the WAL holds this many pages ...\n\
         \x20   min-checkpoint-page-count: {MIN_CHECKPOINT_PAGES}\n\
         \x20   # ... and TRUNCATE (the WAL back to zero) once it holds this many.\n\
         \x20   truncate-page-n: {TRUNCATE_PAGES}\n\
         \x20   # How often Litestream looks at the WAL, copies it and checkpoints: the WAL\n\
         \x20   # holds about this long of writes (1s, Litestream's default, let a busy\n\
         \x20   # writer's WAL reach 71-170 MiB; with 100ms it reached 27-92 MiB).\n\
         \x20   monitor-interval: {MONITOR_INTERVAL}\n\
         \x20   # Litestream's own wait for locks, as long as strata's busy_timeout_ms.\n\
         \x20   busy-timeout: 5s\n\
         \x20   replica:\n\
         \x20     url: {quoted_url}\n\
         \x20     # Writes acknowledged within about this long before a crash may be lost.\n\
         \x20     sync-interval: {SYNC_INTERVAL}\n\
         {credentials}",
        db = database.display(),
        url = url,
        path = quoted(&database.to_string_lossy()),
        quoted_url = quoted(url),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_becomes_an_absolute_file_url_and_urls_keep_their_form() {
        let config = litestream_config(Path::new("/data/app.db"), "/backups/app-replica").unwrap();
        assert_eq!(config.replica, "file:///backups/app-replica");
        assert!(config.yaml.contains("  - path: \"/data/app.db\"\n"), "{}", config.yaml);
        assert!(config.yaml.contains("      url: \"file:///backups/app-replica\"\n"), "{}", config.yaml);
        assert!(!config.yaml.contains("LITESTREAM_ACCESS_KEY_ID"), "{}", config.yaml);
        assert!(config.yaml.contains("    monitor-interval: 100ms\n"), "{}", config.yaml);
        assert!(config.yaml.contains("    truncate-page-n: 16384\n"), "{}", config.yaml);

        let s3 = litestream_config(Path::new("/data/app.db"), "s3://bucket/app?endpoint=minio:9000").unwrap();
        assert_eq!(s3.replica, "s3://bucket/app?endpoint=minio:9000");
        assert!(s3.yaml.contains("      url: \"s3://bucket/app?endpoint=minio:9000\"\n"), "{}", s3.yaml);
        assert!(s3.yaml.contains("LITESTREAM_ACCESS_KEY_ID"), "{}", s3.yaml);

        let odd = litestream_config(Path::new("/data/we\"ird\\app.db"), "file:///r").unwrap();
        assert!(odd.yaml.contains("  - path: \"/data/we\\\"ird\\\\app.db\"\n"), "{}", odd.yaml);
    }

    #[test]
    fn unknown_schemes_and_empty_replicas_are_refused_naming_the_replica() {
        for bad in ["", "  ", "ftp://host/dir", "s3://", "s3:///"] {
            let err = litestream_config(Path::new("/data/app.db"), bad).unwrap_err();
            assert_eq!(err.code(), "E6001", "{bad}: {err}");
            assert!(err.to_string().contains("invalid replica"), "{bad}: {err}");
        }
    }
}
