//! Workspace integration tests through the facade: what an application sees when it
//! opens a strata database.

use strata::{Config, Database, ErrorKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_opens_writes_reads_and_closes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&Config::for_path(dir.path().join("app.db"))).await.unwrap();
    db.pool()
        .write(|c| Ok(c.execute_batch("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL)")?))
        .await
        .unwrap();
    db.pool().write(|c| Ok(c.execute("INSERT INTO notes(body) VALUES (?1)", ["hello"])?)).await.unwrap();
    let body: String = db
        .pool()
        .read(|c| Ok(c.query_row("SELECT body FROM notes WHERE id = 1", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(body, "hello");
    let report = db.close().await.unwrap();
    assert!(report.wal_removed);

    let reopened = Database::open(&Config::for_path(dir.path().join("app.db"))).await.unwrap();
    let n: i64 = reopened
        .pool()
        .read(|c| Ok(c.query_row("SELECT count(*) FROM notes", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(n, 1, "what was committed survives a close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_null_in_a_not_null_column_is_a_constraint_error_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&Config::for_path(dir.path().join("app.db"))).await.unwrap();
    db.pool()
        .write(|c| {
            c.execute_batch("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL); INSERT INTO notes(body) VALUES ('kept');")?;
            Ok(())
        })
        .await
        .unwrap();
    let err =
        db.pool().write(|c| Ok(c.execute("INSERT INTO notes(body) VALUES (NULL)", [])?)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Constraint);
    assert_eq!(err.constraint(), Some(strata::ConstraintKind::NotNull));
    let n: i64 =
        db.pool().read(|c| Ok(c.query_row("SELECT count(*) FROM notes", [], |r| r.get(0))?)).await.unwrap();
    assert_eq!(n, 1);
}
