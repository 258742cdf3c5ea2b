//! A second process that holds a database open while `strata` runs: the test binary
//! runs its own test again (`STRATA_HOLDER` names the role and the database), the
//! child says so on stdout once it has the database and holds it until its stdin
//! closes. The child is killed when the handle is dropped, whatever happened.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const HOLDER_ENV: &str = "STRATA_HOLDER";
/// What the child prints once it holds the database; libtest may print the test's
/// name on the same line first.
const READY: &str = "strata-holder: holding";
/// How long a child may take to hold the database: generous, for a loaded machine.
const DEADLINE: Duration = Duration::from_secs(60);

/// How the child holds the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A strata pool (what a running service has) with one write in its `-wal`.
    Pool,
    /// A plain rusqlite connection inside an open read transaction.
    ReadTransaction,
}

const ROLES: [(Role, &str); 2] = [(Role::Pool, "pool"), (Role::ReadTransaction, "read")];

/// The running child.
pub struct Holder {
    child: Child,
}

impl Holder {
    /// Runs the test `test` (its full name) again as a child that holds `db` as
    /// `role`; returns once the child says it holds it.
    pub fn start(test: &str, role: Role, db: &Path) -> Holder {
        let name = ROLES.iter().find(|(r, _)| *r == role).unwrap().1;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(HOLDER_ENV, format!("{name}:{}", db.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // A thread reads the child's stdout to its end (so the child never writes
        // into a closed pipe) and reports when the child holds the database.
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if line.contains(READY) {
                    let _ = tx.send(());
                }
            }
        });
        let holder = Holder { child };
        let held = rx.recv_timeout(DEADLINE);
        assert!(held.is_ok(), "the {name} holder did not hold the database: {held:?}");
        holder
    }

    /// Closes the child's stdin, so that it lets the database go, and waits for it
    /// to exit successfully.
    pub fn stop(&mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the holder failed: {status}");
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// When this process is a holder child: holds the database as told and returns
/// `true` once it may exit. `false` in the test itself.
pub fn run_as_child() -> bool {
    let Some(value) = std::env::var_os(HOLDER_ENV) else { return false };
    let value = value.to_string_lossy().into_owned();
    let (name, path) = value.split_once(':').unwrap();
    let role = ROLES.iter().find(|(_, n)| *n == name).unwrap().0;
    let db = PathBuf::from(path);
    match role {
        Role::Pool => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let mut config = strata::Config::for_path(&db);
                // No checkpointer: the -wal, -shm and database stay as they are while held.
                config.sqlite.wal_autocheckpoint = 0;
                let pool = strata::Pool::open(&config).await.unwrap();
                pool.write(|conn| Ok(conn.execute_batch("INSERT INTO notes(body) VALUES ('held')")?))
                    .await
                    .unwrap();
                println!("{READY}");
                tokio::task::spawn_blocking(wait_for_stdin_to_close).await.unwrap();
                pool.close().await.unwrap();
            });
        }
        Role::ReadTransaction => {
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.execute_batch("BEGIN").unwrap();
            let _: i64 = conn.query_row("SELECT count(*) FROM notes", [], |r| r.get(0)).unwrap();
            println!("{READY}");
            wait_for_stdin_to_close();
            conn.execute_batch("COMMIT").unwrap();
            conn.close().unwrap();
        }
    }
    true
}

fn wait_for_stdin_to_close() {
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// The bytes of `db`, `-wal` and `-shm`, all of which must exist.
pub fn contents(db: &Path) -> Vec<Vec<u8>> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            let path = format!("{}{suffix}", db.display());
            std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
        })
        .collect()
}
