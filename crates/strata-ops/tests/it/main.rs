//! strata-ops against real SQLite files in temp directories, one module per area:
//! corruption detection and recovery, backups, restore, the advisor, statistics and
//! the monitor.

mod advisor;
mod backup;
mod corruption;
mod holder;
mod in_use;
mod monitor;
mod nonblocking;
mod oplog;
mod restore;
mod stats;

use std::path::Path;

use rusqlite::Connection;
use strata_core::Config;
use strata_pool::Pool;

/// Rows of the `items` fixture.
pub const ITEMS: i64 = 2_000;

/// A raw connection in WAL mode (the file strata would leave), for building fixtures.
pub fn raw(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)).unwrap();
    conn
}

/// `items(id, name, pad)` with an index on `name` and `ITEMS` rows named
/// `value-000001`..., checkpointed into one file and closed.
pub fn items_db(path: &Path) {
    let conn = raw(path);
    conn.execute_batch(
        "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, pad TEXT NOT NULL);
         CREATE INDEX items_name ON items(name);
         CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
    )
    .unwrap();
    add_items(&conn, 1, ITEMS);
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    conn.close().unwrap();
}

/// Inserts items `from..=to` in one transaction.
pub fn add_items(conn: &Connection, from: i64, to: i64) {
    conn.execute(
        "WITH RECURSIVE n(x) AS (SELECT ?1 UNION ALL SELECT x + 1 FROM n WHERE x < ?2)
         INSERT INTO items(id, name, pad) SELECT x, printf('value-%06d', x), printf('%.200c', 'p') FROM n",
        [from, to],
    )
    .unwrap();
}

/// A pool with the default configuration on `path`.
pub async fn pool(path: &Path) -> Pool {
    Pool::open(&Config::for_path(path)).await.unwrap()
}

/// The number of rows of `table` in the file at `path`, read-only.
pub fn count(path: &Path, table: &str) -> i64 {
    let conn = strata_pool::open_read_only(path).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap()
}
