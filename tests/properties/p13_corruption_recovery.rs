//! Property 13: Corruption recovery.
//!
//! A damaged database (truncated, a corrupted table page, a corrupted first page) is
//! recovered by `strata::ops::recover`: the damaged file is moved aside and kept, the
//! newest backup that verifies takes its place, and the database opens healthy with
//! exactly the backup's rows. Recovery never touches a healthy file, a file another
//! connection has open, or a damaged file when no backup verifies.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use strata::ops::{CheckLevel, RecoverOptions, recover};
use strata::schema::Migration;
use strata::{Config, Database, MigrationSet, Migrations};

const PAGE: usize = 4096;

fn items_set() -> MigrationSet {
    let up = "CREATE TABLE items(id INTEGER PRIMARY KEY, v TEXT NOT NULL, pad TEXT NOT NULL);";
    MigrationSet::new([Migration::new("V1__items", up, None).unwrap()]).unwrap()
}

fn config(path: &Path) -> Config {
    let mut config = Config::for_path(path);
    config.monitor.free_disk_warn_mb = 0;
    config.monitor.free_disk_critical_mb = 0;
    config
}

async fn insert(db: &Database, from: usize, to: usize) {
    db.pool()
        .write(move |c| {
            for i in from..to {
                c.execute(
                    "INSERT INTO items(v, pad) VALUES (?1, ?2)",
                    [format!("row-{i}"), "p".repeat(300)],
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

/// A closed database of `backed_up` rows in a verified backup (in `backups/`) and
/// `later` more rows written after it; answers the backup's path.
async fn with_backup(path: &Path, backed_up: usize, later: usize) -> PathBuf {
    let db = Database::open_with(&config(path), Migrations::from(items_set())).await.unwrap();
    insert(&db, 0, backed_up).await;
    let backup = db.backup().await.unwrap();
    insert(&db, backed_up, backed_up + later).await;
    db.close().await.unwrap();
    backup.path
}

fn rows(path: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn.prepare("SELECT v FROM items ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

/// How the file is damaged.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// Cut to this many tenths of its length (whole pages).
    Truncate(usize),
    /// Garbage over a leaf page of the table, past its header.
    TablePage(usize, u8),
    /// Garbage over the schema's b-tree header on page 1.
    FirstPage(u8),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (1usize..9).prop_map(Damage::Truncate),
        (0usize..64, 1u8..=255).prop_map(|(which, fill)| Damage::TablePage(which, fill)),
        (1u8..=255).prop_map(Damage::FirstPage),
    ]
}

fn apply(path: &Path, damage: Damage) {
    let mut bytes = std::fs::read(path).unwrap();
    match damage {
        Damage::Truncate(tenths) => {
            let pages = bytes.len() / PAGE;
            bytes.truncate((pages * tenths / 10).max(1) * PAGE);
        }
        Damage::TablePage(which, fill) => {
            let leaves: Vec<usize> = (2..=bytes.len() / PAGE)
                .filter(|&n| bytes[(n - 1) * PAGE] == 0x0D)
                .filter(|&n| bytes[(n - 1) * PAGE..n * PAGE].windows(4).any(|w| w == b"row-"))
                .collect();
            assert!(leaves.len() > 3, "{leaves:?}");
            let at = (leaves[which % leaves.len()] - 1) * PAGE + 8;
            bytes[at..at + 1000].fill(fill);
        }
        Damage::FirstPage(fill) => bytes[100..140].fill(fill),
    }
    std::fs::write(path, bytes).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    /// Proves that a damaged database is recovered: after `damage`, `recover` finds
    /// the file corrupt, moves it aside (the damaged bytes are kept), restores the
    /// backup, and the database then holds exactly the `backed_up` rows of the backup,
    /// opens with its migrations and passes a full health check; a second `recover`
    /// leaves the now healthy file alone. A recovery that left the damaged file in
    /// place, lost it, or restored anything but the backup fails it.
    #[test]
    fn p13_corruption_recovery_restores_the_newest_verified_backup_and_keeps_the_damaged_file(
        damage in damage(),
        backed_up in 60usize..120,
        later in 0usize..40,
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        runtime.block_on(async {
            let backup = with_backup(&path, backed_up, later).await;
            apply(&path, damage);
            let damaged = std::fs::read(&path).unwrap();

            let report = recover(&path, RecoverOptions::new(dir.path().join("backups"))).await.unwrap();
            prop_assert!(report.recovered, "{:?}: {:?}", damage, report.health.as_ref().map(|h| &h.findings));
            prop_assert_eq!(report.backup.as_ref().map(|b| b.path.clone()), Some(backup));
            let moved = report.moved_aside.clone().expect("the damaged file is moved aside");
            prop_assert_eq!(std::fs::read(&moved).unwrap(), damaged, "the damaged file is kept as it was");
            prop_assert_eq!(rows(&path), (0..backed_up).map(|i| format!("row-{i}")).collect::<Vec<_>>());

            let db = Database::open_with(&config(&path), Migrations::from(items_set())).await.unwrap();
            let health = db.health(CheckLevel::Full).await.unwrap();
            prop_assert!(!health.is_corrupt() && health.integrity.is_empty(), "{:?}", health.findings);
            db.close().await.unwrap();
            let again = recover(&path, RecoverOptions::new(dir.path().join("backups"))).await.unwrap();
            prop_assert!(!again.recovered);
            Ok(())
        })?;
    }
}

/// Proves that recovery refuses what it must not replace, and moves nothing then: a
/// damaged file that another SQLite connection has open (E5012), one that a pool of
/// this process has open (E5008), and one whose only backup is damaged too (E5007)
/// stay byte for byte where they are. A recovery that replaced a file in use, or
/// discarded the only copy without a good backup, fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p13_corruption_recovery_refuses_a_file_in_use_or_without_a_good_backup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let backups = dir.path().join("backups");
    let backup = with_backup(&path, 80, 10).await;
    apply(&path, Damage::TablePage(1, 0xAB));
    let damaged = std::fs::read(&path).unwrap();

    // Another connection has read the file (it holds its WAL read lock).
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN").unwrap();
    other.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0)).unwrap();
    let err = recover(&path, RecoverOptions::new(&backups)).await.unwrap_err();
    assert_eq!(err.code(), "E5012", "{err}");
    drop(other);
    assert_eq!(std::fs::read(&path).unwrap(), damaged);

    let db = Database::open_with(&config(&path), Migrations::None).await.unwrap();
    let err = recover(&path, RecoverOptions::new(&backups)).await.unwrap_err();
    assert_eq!(err.code(), "E5008", "{err}");
    db.close().await.unwrap();

    // The only backup is damaged as well: nothing verifies, nothing moves.
    apply(&backup, Damage::Truncate(5));
    let before = std::fs::read(&path).unwrap();
    let err = recover(&path, RecoverOptions::new(&backups)).await.unwrap_err();
    assert_eq!(err.code(), "E5007", "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "the damaged file stays when no backup verifies");
}
