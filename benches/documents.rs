//! Benchmarks of the document store (issue 19): `Documents::put` and `read` of 4 KiB and
//! 4 MiB documents beside a raw baseline doing the least work that reaches the same
//! result: the file written with `std::fs` and fsynced, renamed into place, its
//! directory fsynced, and the row inserted with raw rusqlite on one connection into
//! the same tables (strata's migration V10, indexes included) (put);
//! the row selected and the file read back (get). strata's put also hashes the content
//! (its address), sniffs the MIME type and goes through the pool's writer. Its get is
//! measured as the baseline's work (`read_with(id, false)`: row and file, no hash), and
//! `strata_verified` beside it shows what hashing every read adds (reported, no bar).
//! The bar is a ratio of at most 1.25. The puts are also measured paired
//! (`common::paired`, raw and strata rounds alternating), which is what the report
//! judges them by: a put's fsyncs cost more right after another run's fsyncs, so the
//! side criterion measures second pays for the first.
//!
//! Group ids (`document_put_4kb`, `document_put_4mb`, `document_get_4kb`,
//! `document_get_4mb`) and function ids (`strata`, `raw`) are read by `cargo xtask
//! bench` from `target/criterion/<group>/<function>/new/estimates.json`: do not rename
//! them. Every put stores new content (a counter in its first bytes), so dedup never
//! skips the write.

mod common;

use std::fs::{self, File};
use std::hint::black_box;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::{Connection, params};
use strata::repo::NewDocument;
use strata::{Config, Database};

use common::runtime;

/// Rounds of the paired raw-against-strata measurement of each put size.
const PAIRED_ROUNDS: usize = 15;

/// The sizes measured: the 4 KB and 4 MB.
const SIZES: [(&str, usize); 2] = [("4kb", 4 * 1024), ("4mb", 4 * 1024 * 1024)];

/// The baseline's tables are strata's own (migration V10: the documents table with its
/// three indexes, and the tags table), so that its insert does the same work.
const RAW_SCHEMA: &str = include_str!("../migrations/V10__documents.sql");
const RAW_INSERT: &str = "INSERT INTO documents (name, mime, size, sha256, metadata, created_at, created_by) \
     VALUES (?1, 'application/octet-stream', ?2, ?3, '{}', 0, NULL)";
const RAW_SELECT: &str = "SELECT name, size FROM documents WHERE id = ?1";

/// Content of `size` bytes, unique per `n`.
fn content(size: usize, n: u64) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let tag = n.to_le_bytes();
    let len = tag.len().min(size);
    bytes[..len].copy_from_slice(&tag[..len]);
    bytes
}

/// The raw baseline's put: file (fsynced) renamed into place, directory fsynced, row.
fn raw_put(conn: &Connection, dir: &Path, name: &str, bytes: &[u8]) -> i64 {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut file = File::create(&tmp).unwrap();
    file.write_all(bytes).unwrap();
    file.sync_all().unwrap();
    fs::rename(&tmp, &path).unwrap();
    File::open(dir).unwrap().sync_all().unwrap();
    // The baseline hashes nothing: a 64-character stand-in fills the sha256 column.
    conn.execute(RAW_INSERT, params![name, bytes.len() as i64, format!("{name:0>64}")]).unwrap();
    conn.last_insert_rowid()
}

/// The raw baseline's get: the row, then the whole file.
fn raw_get(conn: &Connection, dir: &Path, id: i64) -> Vec<u8> {
    let (name, _size): (String, i64) =
        conn.query_row(RAW_SELECT, [id], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    let mut out = Vec::new();
    File::open(dir.join(name)).unwrap().read_to_end(&mut out).unwrap();
    out
}

fn raw_connection(dir: &Path) -> (Connection, PathBuf) {
    let conn = Connection::open(dir.join("raw.db")).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;").unwrap();
    conn.execute_batch(RAW_SCHEMA).unwrap();
    let files = dir.join("raw.files");
    fs::create_dir_all(&files).unwrap();
    (conn, files)
}

fn documents(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_path(dir.path().join("strata.db"));
    config.documents.max_bytes = 64 * 1024 * 1024;
    let db = rt.block_on(Database::open(&config)).unwrap();
    let (conn, raw_files) = raw_connection(dir.path());
    let counter = AtomicU64::new(0);

    for (label, size) in SIZES {
        // The paired rounds first (see common::paired): criterion measures raw's puts and
        // then strata's seconds apart, and a put's fsyncs cost more right after another
        // run's fsyncs, so whichever side criterion measures second pays for the first.
        let puts = if size < 64 * 1024 { 50 } else { 4 };
        common::paired(
            &format!("document_put_{label}"),
            PAIRED_ROUNDS,
            || {
                let started = Instant::now();
                for _ in 0..puts {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    black_box(raw_put(&conn, &raw_files, &format!("doc-{n}"), &content(size, n)));
                }
                started.elapsed().as_secs_f64()
            },
            || {
                let started = Instant::now();
                for _ in 0..puts {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let bytes = content(size, n);
                    let new = NewDocument::named(format!("doc-{n}"));
                    black_box(rt.block_on(db.documents().put(new, &bytes)).unwrap());
                }
                started.elapsed().as_secs_f64()
            },
        );
        let mut group = c.benchmark_group(format!("document_put_{label}"));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function("raw", |b| {
            b.iter(|| {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                black_box(raw_put(&conn, &raw_files, &format!("doc-{n}"), &content(size, n)))
            })
        });
        group.bench_function("strata", |b| {
            b.iter(|| {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let bytes = content(size, n);
                black_box(
                    rt.block_on(db.documents().put(NewDocument::named(format!("doc-{n}")), &bytes)).unwrap(),
                )
            })
        });
        // The same put streamed through `put_reader` (a chunk at a time); reported, no bar.
        group.bench_function("strata_streamed", |b| {
            b.iter(|| {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let bytes = content(size, n);
                let new = NewDocument::named(format!("doc-{n}"));
                black_box(rt.block_on(db.documents().put_reader(new, &bytes[..])).unwrap())
            })
        });
        group.finish();

        let n = counter.fetch_add(1, Ordering::Relaxed);
        let raw_id = raw_put(&conn, &raw_files, &format!("get-{n}"), &content(size, n));
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let doc = rt
            .block_on(db.documents().put(NewDocument::named(format!("get-{n}")), &content(size, n)))
            .unwrap();
        let mut group = c.benchmark_group(format!("document_get_{label}"));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function("raw", |b| b.iter(|| black_box(raw_get(&conn, &raw_files, raw_id))));
        group.bench_function("strata", |b| {
            b.iter(|| black_box(rt.block_on(db.documents().read_with(doc.id, false)).unwrap()))
        });
        // What verifying the content's SHA-256 on every read adds; reported, no bar.
        group.bench_function("strata_verified", |b| {
            b.iter(|| black_box(rt.block_on(db.documents().read(doc.id)).unwrap()))
        });
        group.finish();
    }
    rt.block_on(db.close()).unwrap();
}

criterion_group!(benches, documents);
criterion_main!(benches);
