//! Workspace integration tests through the facade: what an application sees when it
//! opens a strata database with its own migrations, the reference schema, or none.

use strata::{Config, Database, DriftPolicy, ErrorKind, MigrationSet, Migrations};

const NOTES_UP: &str = "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL);";
const NOTES_DOWN: &str = "DROP TABLE notes;";

fn app_migrations() -> MigrationSet {
    MigrationSet::from_sources([("V1__notes", NOTES_UP, Some(NOTES_DOWN))]).unwrap()
}

fn config(dir: &tempfile::TempDir) -> Config {
    Config::for_path(dir.path().join("app.db"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_migrates_writes_reads_and_closes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(&config(&dir), Migrations::from(app_migrations())).await.unwrap();
    assert!(db.open_report().created);
    assert_eq!(db.open_report().migrated.as_ref().unwrap().applied.len(), 1);
    db.pool().write(|c| Ok(c.execute("INSERT INTO notes(body) VALUES (?1)", ["hello"])?)).await.unwrap();
    let body: String = db
        .pool()
        .read(|c| Ok(c.query_row("SELECT body FROM notes WHERE id = 1", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(body, "hello");
    let report = db.close().await.unwrap();
    assert!(report.wal_removed);

    let reopened = Database::open_with(&config(&dir), Migrations::from(app_migrations())).await.unwrap();
    assert!(
        reopened.open_report().migrated.as_ref().unwrap().applied.is_empty(),
        "nothing pending the second time"
    );
    assert!(reopened.open_report().drift.as_ref().unwrap().is_clean());
    let n: i64 = reopened
        .pool()
        .read(|c| Ok(c.query_row("SELECT count(*) FROM notes", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(n, 1, "what was committed survives a close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_changed_by_hand_is_drift_and_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(&config(&dir), Migrations::from(app_migrations())).await.unwrap();
    db.pool().write(|c| Ok(c.execute_batch("CREATE INDEX notes_by_body ON notes(body)")?)).await.unwrap();
    db.close().await.unwrap();

    let err = Database::open_with(&config(&dir), Migrations::from(app_migrations())).await.unwrap_err();
    assert_eq!(err.code(), "E3014", "{err}");
    assert!(err.to_string().contains("notes_by_body"), "the diff names the index: {err}");

    let mut warn_only = config(&dir);
    warn_only.schema.drift = DriftPolicy::Warn;
    let db = Database::open_with(&warn_only, Migrations::from(app_migrations())).await.expect("warn opens");
    assert!(!db.open_report().drift.as_ref().unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_migration_leaves_the_database_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(&config(&dir), Migrations::from(app_migrations())).await.unwrap();
    db.pool().write(|c| Ok(c.execute("INSERT INTO notes(body) VALUES ('kept')", [])?)).await.unwrap();
    db.close().await.unwrap();

    let broken = MigrationSet::from_sources([
        ("V1__notes", NOTES_UP, Some(NOTES_DOWN)),
        ("V2__tags", "CREATE TABLE tags(id INTEGER PRIMARY KEY);", Some("DROP TABLE tags;")),
        (
            "V3__broken",
            "ALTER TABLE notes ADD COLUMN owner_id INTEGER REFERENCES nobody(id) NOT NULL;",
            Some(""),
        ),
    ])
    .unwrap();
    let err = Database::open_with(&config(&dir), Migrations::from(broken)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Schema);
    assert!(err.to_string().contains("V3"), "{err}");

    let db = Database::open_with(&config(&dir), Migrations::from(app_migrations()))
        .await
        .expect("still at V1, no drift");
    let tags: i64 = db
        .pool()
        .read(
            |c| Ok(c.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'tags'", [], |r| r.get(0))?),
        )
        .await
        .unwrap();
    assert_eq!(tags, 0, "V2 of the failed batch was rolled back with V3");
    let n: i64 =
        db.pool().read(|c| Ok(c.query_row("SELECT count(*) FROM notes", [], |r| r.get(0))?)).await.unwrap();
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_null_in_a_not_null_column_is_a_constraint_error_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(&config(&dir), Migrations::from(app_migrations())).await.unwrap();
    db.pool().write(|c| Ok(c.execute("INSERT INTO notes(body) VALUES ('kept')", [])?)).await.unwrap();
    let err =
        db.pool().write(|c| Ok(c.execute("INSERT INTO notes(body) VALUES (NULL)", [])?)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Constraint);
    assert_eq!(err.constraint(), Some(strata::ConstraintKind::NotNull));
    let n: i64 =
        db.pool().read(|c| Ok(c.query_row("SELECT count(*) FROM notes", [], |r| r.get(0))?)).await.unwrap();
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_schema_is_applied_by_default_and_reopens_clean() {
    let dir = tempfile::tempdir().unwrap();
    let reference = strata::reference_migrations().unwrap();
    let db = Database::open(&config(&dir)).await.unwrap();
    let applied = db.open_report().migrated.as_ref().unwrap().applied.len();
    assert_eq!(applied, reference.migrations().len());
    db.close().await.unwrap();
    let db = Database::open(&config(&dir)).await.unwrap();
    assert!(db.open_report().drift.as_ref().unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_statistics_and_the_monitor_run_when_the_config_asks_and_stop_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.monitor.query_stats = true;
    config.monitor.enabled = true;
    config.monitor.free_disk_warn_mb = 0;
    config.monitor.free_disk_critical_mb = 0;
    let db = Database::open_with(&config, Migrations::from(app_migrations())).await.unwrap();
    for body in ["a", "b", "c"] {
        db.pool()
            .write(move |c| Ok(c.execute("INSERT INTO notes(body) VALUES (?1)", [body])?))
            .await
            .unwrap();
    }
    let report = db.query_stats().expect("query_stats is on").report();
    let insert =
        report.statements.iter().find(|s| s.sql.starts_with("INSERT INTO notes")).expect("the insert");
    assert_eq!(insert.count, 3);

    let started = std::time::Instant::now();
    while db.monitor().expect("the monitor is on").latest().is_none() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the monitor takes a report at start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let health = db.health(strata::ops::CheckLevel::Full).await.unwrap();
    assert_eq!(health.status, strata::ops::Status::Ok, "{:?}", health.findings);

    db.close().await.unwrap();
    let exported = strata::ops::stats::export_path(&config.path);
    let saved = strata::ops::StatsReport::read(&exported).unwrap().expect("close exports the statistics");
    assert!(saved.statements.iter().any(|s| s.sql.starts_with("INSERT INTO notes")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_statistics_tell_strata_statements_from_the_applications() {
    use strata::ops::Origin;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.monitor.query_stats = true;
    config.monitor.enabled = false;
    let db = Database::open(&config).await.unwrap();
    let queue = strata::repo::Queue::new(db.pool().clone(), strata::repo::QueueConfig::default()).unwrap();
    queue.enqueue(strata::repo::NewTask::new("send", serde_json::json!({"to": "a"}))).await.unwrap();
    db.pool()
        .write(|c| Ok(c.execute_batch("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)")?))
        .await
        .unwrap();
    db.pool().write(|c| Ok(c.execute("INSERT INTO notes(body) VALUES (?1)", ["x"])?)).await.unwrap();
    let report = db.query_stats().expect("query_stats is on").report();
    let origin_of = |prefix: &str| {
        report
            .statements
            .iter()
            .find(|s| s.sql.starts_with(prefix))
            .unwrap_or_else(|| panic!("{report:#?}"))
            .origin
    };
    assert_eq!(origin_of("INSERT INTO notes"), Origin::Application);
    assert_eq!(origin_of("INSERT INTO tasks"), Origin::Strata, "the queue's statements are strata's");
    assert_eq!(origin_of("BEGIN IMMEDIATE"), Origin::Strata, "the pool's transaction control");
    let app = report.clone().only(Origin::Application);
    let sqls: Vec<&str> = app.statements.iter().map(|s| s.sql.as_str()).collect();
    assert_eq!(
        sqls.iter()
            .filter(|s| s.starts_with("INSERT INTO notes") || s.starts_with("CREATE TABLE notes"))
            .count(),
        sqls.len(),
        "only the application's own statements are left: {sqls:?}"
    );
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_config_asking_there_is_no_monitor_and_no_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(&config(&dir), Migrations::from(app_migrations())).await.unwrap();
    assert!(db.query_stats().is_none());
    assert!(db.monitor().is_none());
    db.close().await.unwrap();
    assert!(!strata::ops::stats::export_path(&dir.path().join("app.db")).exists());
}

#[test]
fn a_database_dropped_without_close_outside_its_runtime_does_not_panic_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let db = rt.block_on(async {
        let db = Database::open_with(&config, Migrations::from(app_migrations())).await.unwrap();
        db.pool().write(|c| Ok(c.execute("INSERT INTO notes(body) VALUES ('kept')", [])?)).await.unwrap();
        let n: i64 = db
            .pool()
            .read(|c| Ok(c.query_row("SELECT count(*) FROM notes", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(n, 1);
        db
    });
    // The last handle goes in plain synchronous code, outside the runtime.
    drop(db);
    let n: i64 = rt.block_on(async {
        let db = Database::open_with(&config, Migrations::from(app_migrations())).await.unwrap();
        let n = db.pool().read(|c| Ok(c.query_row("SELECT count(*) FROM notes", [], |r| r.get(0))?)).await;
        db.close().await.unwrap();
        n.unwrap()
    });
    assert_eq!(n, 1, "the committed row is in the file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_opened_read_only_reads_backs_up_and_writes_nothing_even_when_the_config_asks() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    let db = Database::open_with(&config, Migrations::from(app_migrations())).await.unwrap();
    db.pool().write(|c| Ok(c.execute("INSERT INTO notes(body) VALUES ('kept')", [])?)).await.unwrap();
    db.close().await.unwrap();
    let before = std::fs::read(&config.path).unwrap();

    config.monitor.query_stats = true;
    config.monitor.enabled = true;
    let db = Database::open_read_only(&config).await.unwrap();
    assert!(db.pool().is_read_only());
    assert!(db.monitor().is_none() && db.query_stats().is_none(), "nothing runs around an inspection");
    let rows: i64 =
        db.pool().read(|c| Ok(c.query_row("SELECT count(*) FROM notes", [], |r| r.get(0))?)).await.unwrap();
    assert_eq!(rows, 1);
    let err = db.pool().write(|c| Ok(c.execute("DELETE FROM notes", [])?)).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("E2011", ErrorKind::ReadOnly), "{err}");
    let backup = db.backup().await.unwrap();
    assert!(backup.manifest.verification.ok);
    let closed = db.close().await.unwrap();
    assert!(closed.read_only, "{closed:?}");

    assert_eq!(std::fs::read(&config.path).unwrap(), before, "byte for byte");
    assert!(!strata::ops::stats::export_path(&config.path).exists(), "no statistics exported");
    let missing = Config::for_path(dir.path().join("missing.db"));
    assert_eq!(Database::open_read_only(&missing).await.unwrap_err().code(), "E2004");
    assert!(!missing.path.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_reads_non_ascii_names_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(&config(&dir), Migrations::from(app_migrations())).await.unwrap();
    db.close().await.unwrap();
    // Someone adds a table with bare non-ASCII names in the sqlite3 shell.
    let raw = rusqlite::Connection::open(dir.path().join("app.db")).unwrap();
    raw.execute_batch(
        "CREATE TABLE menu (id INTEGER PRIMARY KEY, café TEXT); CREATE INDEX crème ON menu(café);",
    )
    .unwrap();
    drop(raw);

    // A table no set creates is reported, not fatal, by default; fatal when configured.
    let mut strict = config(&dir);
    strict.schema.unknown_tables = strata::UnknownTables::Error;
    let err = Database::open_with(&strict, Migrations::from(app_migrations())).await.unwrap_err();
    assert_eq!(err.code(), "E3014", "{err}");
    assert!(err.to_string().contains("menu"), "{err}");

    let mut warn = config(&dir);
    warn.schema.drift = DriftPolicy::Warn;
    let db = Database::open_with(&warn, Migrations::from(app_migrations())).await.unwrap();
    let drift = db.open_report().drift.as_ref().unwrap();
    assert!(!drift.is_clean());
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_sweeper_and_configured_quotas_come_from_the_config() {
    use strata::repo::CacheKey;

    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_toml_str(&format!(
        "path = {:?}\n[cache]\nsweep_interval_ms = 10\n\
         [ratelimit.quotas]\n\"scraper:github\" = {{ limit = 1, period_ms = 60000 }}\n",
        dir.path().join("app.db")
    ))
    .unwrap();
    let db = Database::open(&config).await.unwrap();
    assert!(db.sweeper().is_some(), "cache.sweeper is on by default");
    db.cache()
        .set(CacheKey { namespace: "pages", key: "a" }, &"alpha", Some(std::time::Duration::from_millis(1)))
        .await
        .unwrap();
    db.cache().set(CacheKey { namespace: "pages", key: "b" }, &"beta", None).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while db.cache().stats().expired_swept < 1 {
        assert!(std::time::Instant::now() < deadline, "the sweeper did not sweep within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let rows: i64 =
        db.pool().read(|c| Ok(c.query_row("SELECT count(*) FROM cache", [], |r| r.get(0))?)).await.unwrap();
    assert_eq!(rows, 1);
    assert!(db.rate_limits().check_configured("scraper:github", 1).await.unwrap().is_allowed());
    assert!(!db.rate_limits().check_configured("scraper:github", 1).await.unwrap().is_allowed());
    assert_eq!(db.rate_limits().check_configured("mailer", 1).await.unwrap_err().code(), "E4012");
    db.close().await.unwrap();

    // Off by config, or no cache table (no migrations on a new file): no sweeper.
    let off =
        Config { cache: strata::core::CacheConfig { sweeper: false, ..config.cache.clone() }, ..config };
    let db = Database::open(&off).await.unwrap();
    assert!(db.sweeper().is_none());
    db.close().await.unwrap();
    let bare =
        Database::open_with(&Config::for_path(dir.path().join("bare.db")), Migrations::None).await.unwrap();
    assert!(bare.sweeper().is_none());
    bare.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_state_shows_a_removed_file_and_its_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir);
    let db = Database::open_with(&config, Migrations::from(app_migrations())).await.unwrap();
    db.pool().write(|c| Ok(c.execute("INSERT INTO notes(body) VALUES ('kept')", [])?)).await.unwrap();
    let copy = dir.path().join("copy.db");
    let to = copy.to_string_lossy().into_owned();
    db.pool().exclusive(move |c| Ok(c.execute("VACUUM INTO ?1", [to.as_str()]).map(drop)?)).await.unwrap();
    assert_eq!(db.state(), strata::PoolState::Healthy);
    let mut states = db.watch_state();

    std::fs::remove_file(&config.path).unwrap();
    let down = tokio::time::timeout(std::time::Duration::from_secs(30), states.wait_for(|s| !s.is_healthy()))
        .await
        .expect("the removal is noticed")
        .unwrap()
        .clone();
    assert_eq!(down.cause(), Some(&strata::Cause::FileRemoved), "{down:?}");
    let err = db.pool().read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?)).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("E2040", ErrorKind::Unavailable));

    std::fs::rename(&copy, &config.path).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(30), states.wait_for(strata::PoolState::is_healthy))
        .await
        .expect("healthy again once the file is back")
        .unwrap();
    let n: i64 =
        db.pool().read(|c| Ok(c.query_row("SELECT count(*) FROM notes", [], |r| r.get(0))?)).await.unwrap();
    assert_eq!(n, 1);
    db.close().await.unwrap();
    assert_eq!(db.state(), strata::PoolState::Closed);
}

/// Issue 17 section 1: strata's reference set and an application's own set, each in
/// its own history namespace, applied in the order given; the application's `V1`
/// does not collide with strata's `V1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_set_and_an_own_set_apply_independently_in_their_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    let own = || app_migrations().with_namespace("app").unwrap();
    let db =
        Database::open_with(&config(&dir), [Migrations::Reference, Migrations::from(own())]).await.unwrap();
    assert_eq!(db.migration_sets().count(), 2);
    let (reference, app): (i64, Vec<(i64, String)>) = db
        .pool()
        .read(|c| {
            let reference =
                c.query_row("SELECT max(version) FROM refinery_schema_history", [], |r| r.get(0))?;
            let mut stmt = c.prepare("SELECT version, name FROM app_schema_history ORDER BY version")?;
            let app = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
            Ok((reference, app))
        })
        .await
        .unwrap();
    assert!(reference >= 9, "strata's reference set is applied in the default history: V{reference}");
    assert_eq!(app, vec![(1, "notes".to_string())], "the application's V1 is recorded in its own history");
    db.pool().write(|c| Ok(c.execute("INSERT INTO notes(body) VALUES ('x')", [])?)).await.unwrap();
    assert_eq!(db.migration_status().await.unwrap().current, Some(1), "status is the application's set");
    db.close().await.unwrap();

    // Reopened: nothing pending in either set, and the drift check over both is clean.
    let db =
        Database::open_with(&config(&dir), [Migrations::Reference, Migrations::from(own())]).await.unwrap();
    assert!(db.open_report().migrated.as_ref().unwrap().applied.is_empty());
    let drift = db.open_report().drift.as_ref().unwrap();
    assert!(drift.is_clean(), "{drift:?}");
    db.close().await.unwrap();

    // Two sets in one namespace are refused before anything is opened.
    let err = Database::open_with(&config(&dir), [Migrations::Reference, Migrations::from(app_migrations())])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E3008", "{err}");
    // A namespace must be a plain identifier.
    assert_eq!(app_migrations().with_namespace("no-dash").unwrap_err().code(), "E3008");
}

/// Issue 17 section 1: a table that no set creates is reported, not fatal, unless
/// `schema.unknown_tables = "error"`; a change to a table a set knows is still drift.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_no_set_knows_is_reported_not_fatal_unless_configured() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(&config(&dir), Migrations::from(app_migrations())).await.unwrap();
    db.pool()
        .write(|c| {
            Ok(c.execute_batch(
                "CREATE TABLE extra(id INTEGER PRIMARY KEY); CREATE INDEX extra_id ON extra(id);",
            )?)
        })
        .await
        .unwrap();
    db.close().await.unwrap();

    let db = Database::open_with(&config(&dir), Migrations::from(app_migrations())).await.expect("opens");
    let drift = db.open_report().drift.as_ref().unwrap();
    assert_eq!(drift.unknown_tables, vec!["extra".to_string()]);
    assert!(drift.known_changes().is_empty(), "{:?}", drift.known_changes());
    db.close().await.unwrap();

    let mut strict = config(&dir);
    strict.schema.unknown_tables = strata::UnknownTables::Error;
    let err = Database::open_with(&strict, Migrations::from(app_migrations())).await.unwrap_err();
    assert_eq!(err.code(), "E3014", "{err}");
    assert!(err.to_string().contains("extra"), "{err}");
}

/// Issue 17 sections 1 and 8: `schema.migrations` names the application's own
/// directory beside the reference set (one `Migrations` enum, in the file as a list),
/// applied by `Database::open` in that order, the directory's in its namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_names_an_application_directory_applied_after_the_reference_set() {
    let dir = tempfile::tempdir().unwrap();
    let own = dir.path().join("migrations");
    std::fs::create_dir(&own).unwrap();
    std::fs::write(own.join("V1__notes.sql"), NOTES_UP).unwrap();
    let toml = format!(
        "path = {:?}\n[schema]\nmigrations = [\"reference\", {{ dir = {:?}, namespace = \"app\" }}]\n",
        dir.path().join("app.db"),
        own
    );
    let config = Config::from_toml_str(&toml).unwrap();
    let expected = [Migrations::Reference, Migrations::Dir { dir: own.clone(), namespace: "app".into() }];
    assert_eq!(config.schema.migrations, expected);
    let db = Database::open(&config).await.unwrap();
    let (app, queue): (i64, i64) = db
        .pool()
        .read(|c| {
            let app = c.query_row("SELECT count(*) FROM app_schema_history", [], |r| r.get(0))?;
            let queue =
                c.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'notes'", [], |r| r.get(0))?;
            Ok((app, queue))
        })
        .await
        .unwrap();
    assert_eq!((app, queue), (1, 1), "the directory's V1 ran, recorded in app_schema_history");
    assert!(db.open_report().drift.as_ref().unwrap().is_clean());
    db.close().await.unwrap();
}

/// Issue 17 section 8: `close` on one clone closes the database for every clone, as
/// its documentation states.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_on_one_clone_closes_every_clone() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(&config(&dir), Migrations::from(app_migrations())).await.unwrap();
    let clone = db.clone();
    db.close().await.unwrap();
    let write = clone.pool().write(|c| Ok(c.execute("INSERT INTO notes(body) VALUES ('x')", [])?)).await;
    assert_eq!(write.unwrap_err().code(), "E2006");
    assert_eq!(clone.close().await.unwrap_err().code(), "E2006");
}

/// Issue 17 section 9: the facade carries no demo code as public API; the tour behind
/// `strata demo` lives in the CLI (crates/strata-cli/src/demo/) on the public API alone.
#[test]
fn the_facade_carries_no_demo_module() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(!root.join("src/demo.rs").exists(), "src/demo.rs is demo code in the facade");
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    assert!(
        !lib.lines().any(|l| l.trim_start().starts_with("pub mod demo")),
        "src/lib.rs declares `pub mod demo`"
    );
    assert!(root.join("crates/strata-cli/src/demo/tour.rs").exists(), "the tour lives beside `strata demo`");
}

/// A database opened read-only reloads its config without writing anything: no audit
/// entry (it cannot write one) and no audit spill file beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_reloads_without_writing_beside_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("app.db");
    let file = dir.path().join("strata.toml");
    std::fs::write(&file, format!("path = {db_path:?}\nslow_query_ms = 100\n")).unwrap();
    let config = Config::load(Some(&file)).unwrap();
    Database::open(&config).await.unwrap().close().await.unwrap();

    let db = Database::open_read_only(&config).await.unwrap();
    let mut watch = db.watch_config(&file).unwrap();
    std::fs::write(&file, format!("path = {db_path:?}\nslow_query_ms = 5\n")).unwrap();
    let next = tokio::time::timeout(std::time::Duration::from_secs(30), watch.next()).await;
    let Some(strata::ConfigEvent::Reloaded { applied, .. }) = next.expect("the change was seen within 30 s")
    else {
        panic!("the valid file was rejected")
    };
    assert_eq!(applied, ["slow_query_ms"]);
    assert_eq!(db.config().slow_query_ms, 5);
    drop(watch);
    db.close().await.unwrap();

    let spill = dir.path().join("app.db.audit-spill.jsonl");
    assert!(!spill.exists(), "spilled: {:?}", std::fs::read_to_string(&spill));
    let conn = rusqlite::Connection::open(&db_path).unwrap();
    let audited: i64 = conn
        .query_row("SELECT count(*) FROM audit WHERE action = 'config.reload'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(audited, 0);
}
