//! Property 4: Automatic migration application.
//!
//! Opening a database applies every pending migration of its set, in version order,
//! exactly once, whatever version the file is at: a new file gets them all, a file
//! at an older version gets only the newer ones, and a file that is up to date gets
//! none. The reference schema is applied the same way by `Database::open`.

use std::path::Path;

use proptest::prelude::*;
use strata::schema::Migration;
use strata::{Config, Database, MigrationSet, Migrations};

/// A set of `n` migrations: `V{i}` creates table `t{i}` and records its version in
/// `applied_order` (created by V1), so the order in which they ran is visible.
fn chain(n: u32) -> MigrationSet {
    let migrations = (1..=n).map(|i| {
        let mut up = String::new();
        if i == 1 {
            up.push_str("CREATE TABLE applied_order(seq INTEGER PRIMARY KEY, version INTEGER NOT NULL);\n");
        }
        up.push_str(&format!("CREATE TABLE t{i}(id INTEGER PRIMARY KEY, v TEXT);\n"));
        up.push_str(&format!("INSERT INTO applied_order(version) VALUES ({i});"));
        Migration::new(&format!("V{i}__t{i}"), &up, Some(&format!("DROP TABLE t{i};"))).unwrap()
    });
    MigrationSet::new(migrations).unwrap()
}

fn applied_order(path: &Path) -> Vec<i64> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn.prepare("SELECT version FROM applied_order ORDER BY seq").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Proves that opening applies exactly the pending migrations: a file migrated
    /// to `at` of a set of `n`, opened with the whole set, runs `at+1..=n` once each,
    /// in order (the order table lists `1..=n` exactly once), reports them as applied,
    /// and every version is then `applied`; opening once more applies nothing. An
    /// open that skipped, repeated or reordered a migration fails it.
    #[test]
    fn p04_automatic_migration_application_applies_exactly_the_pending_migrations_in_order(
        (n, at) in (1u32..7).prop_flat_map(|n| (Just(n), 0..=n)),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let config = Config::for_path(&path);
        runtime.block_on(async {
            if at > 0 {
                let db = Database::open_with(&config, Migrations::from(chain(n).up_to(at.into()))).await.unwrap();
                db.close().await.unwrap();
            }
            let db = Database::open_with(&config, Migrations::from(chain(n))).await.unwrap();
            let report = db.open_report().migrated.clone().expect("an up report");
            let applied: Vec<i64> = report.applied.iter().map(|m| m.version).collect();
            prop_assert_eq!(applied, ((at + 1)..=n).map(i64::from).collect::<Vec<_>>());
            prop_assert_eq!(report.to, Some(i64::from(n)));
            let status = db.migration_status().await.unwrap();
            prop_assert!(status.is_consistent() && status.pending().is_empty(), "{:?}", status);
            prop_assert_eq!(status.current, Some(i64::from(n)));
            db.close().await.unwrap();
            prop_assert_eq!(applied_order(&path), (1..=n).map(i64::from).collect::<Vec<_>>());

            let again = Database::open_with(&config, Migrations::from(chain(n))).await.unwrap();
            prop_assert!(again.open_report().migrated.as_ref().unwrap().applied.is_empty());
            again.close().await.unwrap();
            prop_assert_eq!(applied_order(&path).len(), n as usize, "nothing ran twice");
            Ok(())
        })?;
    }
}

/// Proves that `Database::open` with the default config applies strata's whole
/// reference schema to a new file (every migration of `strata::reference_migrations`,
/// in order) and that a second open applies none. An open that left a reference
/// migration pending fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p04_automatic_migration_application_applies_the_reference_schema_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::for_path(dir.path().join("app.db"));
    let expected: Vec<_> =
        strata::reference_migrations().unwrap().migrations().iter().map(|m| m.version()).collect();
    assert!(expected.len() >= 10, "{expected:?}");
    let db = Database::open(&config).await.unwrap();
    assert!(db.open_report().created);
    let applied: Vec<_> =
        db.open_report().migrated.as_ref().unwrap().applied.iter().map(|m| m.version).collect();
    assert_eq!(applied, expected);
    let status = db.migration_status().await.unwrap();
    assert!(status.pending().is_empty() && status.is_consistent(), "{status:?}");
    db.close().await.unwrap();
    let db = Database::open(&config).await.unwrap();
    assert!(db.open_report().migrated.as_ref().unwrap().applied.is_empty());
    db.close().await.unwrap();
}
