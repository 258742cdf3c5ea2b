//! Test helpers: an isolated directory with a database file and a copy of the fixtures.

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use tempfile::TempDir;

/// The fixture migration set used by most tests: V1 users, V2 posts (FK), V3 users.email.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// A temporary directory with a database and an editable migration directory.
pub struct Scratch {
    pub dir: TempDir,
}

impl Scratch {
    /// A scratch directory whose `migrations/` is a copy of fixture `name`.
    pub fn with_fixture(name: &str) -> Scratch {
        let scratch = Scratch { dir: tempfile::tempdir().unwrap() };
        std::fs::create_dir_all(scratch.migrations()).unwrap();
        for entry in std::fs::read_dir(fixture(name)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), scratch.migrations().join(entry.file_name())).unwrap();
        }
        scratch
    }

    pub fn migrations(&self) -> PathBuf {
        self.dir.path().join("migrations")
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("app.db")
    }

    /// A new connection to the scratch database, foreign keys on like strata-pool's.
    pub fn open(&self) -> Connection {
        let conn = Connection::open(self.db_path()).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        conn
    }

    /// Writes (or replaces) a migration file.
    pub fn write(&self, file: &str, sql: &str) {
        std::fs::write(self.migrations().join(file), sql).unwrap();
    }

    pub fn set(&self) -> strata_schema::MigrationSet {
        strata_schema::MigrationSet::from_dir(self.migrations()).unwrap()
    }
}

/// Every schema object and every row of every table, in a stable order.
pub fn dump(conn: &Connection) -> String {
    let mut out = String::new();
    let mut stmt = conn
        .prepare("SELECT type, name, tbl_name, ifnull(sql, '') FROM sqlite_master ORDER BY type, name")
        .unwrap();
    let objects: Vec<(String, String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (kind, name, _, sql) in &objects {
        out.push_str(&format!("{kind} {name}: {sql}\n"));
        if kind == "table" {
            let mut rows = conn.prepare(&format!("SELECT * FROM \"{name}\" ORDER BY 1")).unwrap();
            let n = rows.column_count();
            let all: Vec<String> = rows
                .query_map([], |r| {
                    let mut cells = Vec::new();
                    for i in 0..n {
                        cells.push(format!("{:?}", r.get_ref(i)?));
                    }
                    Ok(cells.join("|"))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for row in all {
                out.push_str(&format!("  {row}\n"));
            }
        }
    }
    out
}

/// The tables of the main schema, sorted.
pub fn tables(conn: &Connection) -> Vec<String> {
    let mut stmt = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}
