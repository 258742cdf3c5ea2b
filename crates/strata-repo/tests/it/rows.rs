//! Raw-row helpers shared by the orchestration repository tests: parent tasks, row
//! counts, and the shape every constraint error must have.

use strata_core::{ConstraintKind, Error};
use strata_pool::Pool;

/// Inserts a bare pending task (the parent of agents, checkpoints and state) and
/// returns its id.
pub async fn task(pool: &Pool) -> i64 {
    pool.write(|c| {
        c.execute("INSERT INTO tasks (kind, submitted_at) VALUES ('test', 0)", [])?;
        Ok(c.last_insert_rowid())
    })
    .await
    .unwrap()
}

/// The number of rows of `table`.
pub async fn count(pool: &Pool, table: &'static str) -> i64 {
    pool.read(move |c| Ok(c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?))
        .await
        .unwrap()
}

/// Runs one raw statement through the writer, as a caller bypassing the repositories
/// would.
pub async fn raw_write(pool: &Pool, sql: &'static str) -> strata_core::Result<usize> {
    pool.write(move |c| Ok(c.execute(sql, [])?)).await
}

/// Asserts that `err` is E4001 of constraint kind `kind`, with a hint.
pub fn assert_constraint(err: &Error, kind: ConstraintKind) {
    assert_eq!(err.code(), "E4001", "{err}");
    assert_eq!(err.constraint(), Some(kind), "{err}");
    assert!(!err.hint().is_empty());
}
