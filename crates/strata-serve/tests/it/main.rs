//! Integration tests of strata-serve: a real server on an ephemeral loopback port over
//! a real SQLite file, read with a plain HTTP/1.1 client and with headless Chromium.

mod browser;
mod http;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use strata::repo::{NewTask, Queue, QueueConfig};
use strata::{CloseReport, Config, Database};
use strata_serve::ServeOptions;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running dashboard: its address, and how to stop it.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<strata::Result<CloseReport>>,
}

impl Server {
    /// Serves `db` on 127.0.0.1:0.
    pub async fn start(db: Database, options: ServeOptions) -> Server {
        let listener = strata_serve::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(strata_serve::serve(listener, db, options, async {
            let _ = stopped.await;
        }));
        Server { addr, stop: Some(stop), task }
    }

    /// Asks for a graceful shutdown and waits for `serve` to return.
    pub async fn stop(mut self) -> strata::Result<CloseReport> {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap()
    }
}

/// A database with the reference schema in `dir`, with tasks on two queues and query
/// statistics, opened read-write (as an application that mounts the router would).
pub async fn app_db(dir: &Path) -> Database {
    let mut config = config(dir);
    config.monitor.query_stats = true;
    let db = Database::open(&config).await.unwrap();
    let queue = Queue::new(db.pool().clone(), QueueConfig::default()).unwrap();
    for i in 0..30 {
        let mut task = NewTask::new("mail.send", serde_json::json!({ "n": i }));
        task.queue = if i % 3 == 0 { "reports".into() } else { "mail".into() };
        queue.enqueue(task).await.unwrap();
    }
    db
}

/// The config of the database in `dir`, without free-disk thresholds: the health
/// status the tests expect must not depend on the machine's free space.
pub fn config(dir: &Path) -> Config {
    let mut config = Config::for_path(dir.join("app.db"));
    config.monitor.free_disk_warn_mb = 0;
    config.monitor.free_disk_critical_mb = 0;
    config
}

/// The database file of `dir`.
pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("app.db")
}
