//! Inspection commands change nothing and wait for nothing: on a rollback-journal
//! database and on a WAL database (with and without a `-wal` beside it), every
//! command that only reads leaves the database file, its `-wal` and the directory's
//! list of files as they were (the journal mode stays `delete`), and while another
//! connection holds the write lock each of them finishes in well under a second.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::{strata, text};

/// The commands that only inspect, as run against `app.db` (the backup goes to
/// `backups/`, which the comparison of the directory leaves out).
const INSPECTIONS: &[&[&str]] = &[
    &["stats"],
    &["check"],
    &["check", "--full"],
    &["schema", "show"],
    &["schema", "check"],
    &["advise", "--query", "SELECT * FROM flags WHERE updated_by = 'x'"],
    &["backup", "create", "--out", "backups"],
    &["queue", "stats"],
    &["queue", "list"],
    &["audit", "list"],
    &["flags", "list"],
    &["flags", "get", "mode"],
    &["cache", "stats"],
];

/// The read commands the lock test times.
const READS: &[&[&str]] = &[
    &["flags", "get", "mode"],
    &["flags", "list"],
    &["queue", "stats"],
    &["stats"],
    &["audit", "list"],
    &["check"],
];

/// A strata database (`strata init`, one flag set, so one audit row) in `dir`, left
/// in WAL mode with no `-wal` beside it (strata's close checkpoints and removes it).
fn wal_db(dir: &Path) -> PathBuf {
    let init = strata(dir, &["--db", "app.db", "init"]);
    assert_eq!(init.status.code(), Some(0), "{}", text(&init.stderr, dir));
    let set = strata(dir, &["--db", "app.db", "flags", "set", "mode", "fast"]);
    assert_eq!(set.status.code(), Some(0), "{}", text(&set.stderr, dir));
    let db = dir.join("app.db");
    assert_eq!(header_mode(&db), 2, "strata init leaves a WAL database");
    assert!(!sidecar(&db, "-wal").exists());
    db
}

/// The same database switched back to a rollback journal (`journal_mode=DELETE`),
/// with a table of its own added by a plain SQLite connection.
fn journal_db(dir: &Path) -> PathBuf {
    let db = wal_db(dir);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete");
    conn.execute_batch(
        "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL);
         INSERT INTO notes(body) VALUES ('one'), ('two'), ('three');",
    )
    .unwrap();
    drop(conn);
    assert_eq!(header_mode(&db), 1);
    db
}

/// Byte 18 of the header: 1 for a rollback journal, 2 for WAL. Read from the file so
/// that checking it opens no connection.
fn header_mode(db: &Path) -> u8 {
    std::fs::read(db).unwrap()[18]
}

fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn sha256(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(format!("{:x}", Sha256::digest(bytes)))
}

/// The hashes of the database and its `-wal` (None when absent), and the names of
/// the files in its directory except the backup directory.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct State {
    db: Option<String>,
    wal: Option<String>,
    files: BTreeSet<String>,
}

pub(crate) fn state(db: &Path) -> State {
    let dir = db.parent().unwrap();
    let files = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "backups")
        .collect();
    State { db: sha256(db), wal: sha256(&sidecar(db, "-wal")), files }
}

/// Runs every inspection on `db` and checks that none changed it.
fn assert_inspections_change_nothing(dir: &Path, db: &Path, label: &str) {
    let before = state(db);
    for args in INSPECTIONS {
        let all: Vec<&str> = ["--db", "app.db"].iter().chain(args.iter()).copied().collect();
        let out = strata(dir, &all);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{label}: {args:?} exited {:?}: {}",
            out.status.code(),
            text(&out.stderr, dir)
        );
        assert_eq!(state(db), before, "{label}: {args:?} changed the database, its -wal or the directory");
    }
    let backups = std::fs::read_dir(dir.join("backups")).unwrap().count();
    assert!(backups >= 2, "{label}: the backup and its manifest were written ({backups} files)");
}

#[test]
fn inspections_leave_a_rollback_journal_database_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = journal_db(dir.path());
    assert_inspections_change_nothing(dir.path(), &db, "rollback journal");
    assert_eq!(header_mode(&db), 1, "the database is still in rollback-journal mode");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete");
}

#[test]
fn inspections_leave_a_wal_database_without_a_wal_file_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = wal_db(dir.path());
    assert_inspections_change_nothing(dir.path(), &db, "wal, no -wal");
    assert!(!sidecar(&db, "-wal").exists() && !sidecar(&db, "-shm").exists());
}

#[test]
fn inspections_leave_a_wal_database_in_use_by_another_connection_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = wal_db(dir.path());
    // Another connection has committed frames that are not yet in the database
    // file, and stays open: nothing may checkpoint them.
    let app = rusqlite::Connection::open(&db).unwrap();
    app.execute_batch(
        "PRAGMA wal_autocheckpoint = 0;
         CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL);
         INSERT INTO notes(body) VALUES ('one'), ('two');",
    )
    .unwrap();
    assert!(std::fs::metadata(sidecar(&db, "-wal")).unwrap().len() > 0);
    assert_inspections_change_nothing(dir.path(), &db, "wal in use");
    drop(app);
}

/// Holds the write lock on `db` (BEGIN IMMEDIATE and an uncommitted write) from
/// another connection until told to let go, or 60 s at most.
fn hold_write_lock(db: &Path) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (held_tx, held) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let db = db.to_path_buf();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE; CREATE TABLE held(x); INSERT INTO held VALUES (1);").unwrap();
        held_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(Duration::from_secs(60));
        conn.execute_batch("COMMIT").unwrap();
    });
    held.recv_timeout(Duration::from_secs(30)).expect("the outside connection took the write lock");
    (release, holder)
}

/// Each read command, run while another connection holds the write lock, finishes
/// in well under the lock's time and exits as it does without the lock.
fn assert_reads_do_not_wait_for_the_write_lock(dir: &Path, db: &Path, label: &str) {
    let expected: Vec<Option<i32>> = READS
        .iter()
        .map(|args| {
            let all: Vec<&str> = ["--db", "app.db"].iter().chain(args.iter()).copied().collect();
            strata(dir, &all).status.code()
        })
        .collect();
    let (release, holder) = hold_write_lock(db);
    let mut slow = Vec::new();
    for (args, code) in READS.iter().zip(&expected) {
        let all: Vec<&str> = ["--db", "app.db"].iter().chain(args.iter()).copied().collect();
        let started = Instant::now();
        let out = strata(dir, &all);
        let took = started.elapsed();
        println!("{label}: {args:?} took {} ms under the lock", took.as_millis());
        assert_eq!(out.status.code(), *code, "{label}: {args:?}: {}", text(&out.stderr, dir));
        if took >= Duration::from_secs(2) {
            slow.push(format!("{args:?} {} ms", took.as_millis()));
        }
    }
    release.send(()).unwrap();
    holder.join().unwrap();
    assert!(slow.is_empty(), "{label}: waited for the write lock: {slow:?}");
}

#[test]
fn reads_finish_while_another_process_holds_the_write_lock_on_a_wal_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = wal_db(dir.path());
    assert_reads_do_not_wait_for_the_write_lock(dir.path(), &db, "wal");
}

#[test]
fn reads_finish_while_another_process_holds_the_write_lock_on_a_rollback_journal_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = journal_db(dir.path());
    assert_reads_do_not_wait_for_the_write_lock(dir.path(), &db, "rollback journal");
}
