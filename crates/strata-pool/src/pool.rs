//! `Pool`: the public handle over the reader pool and the writer thread, with
//! `read`, `write`, `metrics` and `close`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use deadpool::managed::{Metrics, RecycleError, RecycleResult};
use deadpool_sqlite::{Manager, QueueMode, Runtime, Timeouts};
use rusqlite::Connection;
use strata_core::{Config, Error, ReplicationMode, Result};
use tokio::sync::{mpsc, oneshot};

use crate::checkpoint::Checkpointer;
use crate::connection::{self, Settings};
use crate::health::{self, Cause, Health, PoolState};
use crate::live::Live;
use crate::lockfile;
use crate::metrics::{self, Counters, MetricsSnapshot, ReaderGauges};
use crate::timing::{self, PoolWork, StatementHook, Timing, WorkHook};
use crate::transaction::Transaction;
use crate::writer::{self, CloseReport, Exclusive, Job, Msg, Reopen, Writer};

/// A connection pool for one SQLite database file: N `query_only` readers and one
/// writer thread with group commit ([`Pool::open`]), or readers alone
/// ([`Pool::open_read_only`]). Cheap to clone; every clone is the same pool.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    readers: Readers,
    /// The writer thread's queue; `None` for a pool opened read-only.
    writes: Option<mpsc::Sender<Msg>>,
    /// For a read-only pool: the empty `-wal`/`-shm` its readers may create, removed
    /// again at close.
    sidecars: Option<connection::Sidecars>,
    counters: Arc<Counters>,
    timing: Arc<Timing>,
    closed: AtomicBool,
    created: bool,
    /// This pool's entry in the registry of open databases; taken when released.
    registered: std::sync::Mutex<Option<std::path::PathBuf>>,
    /// The lock file held shared while the pool is open (`None` where it cannot be
    /// had, e.g. a read-only directory); dropped, which unlocks it, when released.
    lock_file: std::sync::Mutex<Option<std::fs::File>>,
    /// The pool's health state, its watch and the file identity it was opened on.
    health: Arc<Health>,
    /// The settings [`Pool::reload`] changes (with the slow-query threshold in `timing`).
    live: Arc<Live>,
    /// The runtime the pool was opened on: deadpool lets a reader connection go on a
    /// blocking thread of the current runtime, so a pool dropped outside one enters this.
    runtime: tokio::runtime::Handle,
}

impl Inner {
    /// Removes this pool from the registry of open databases and unlocks its lock
    /// file (once).
    fn release(&self) {
        let key = self.registered.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(key) = key {
            crate::registry::release(&key);
        }
        drop(self.lock_file.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take());
    }
}

impl Drop for Inner {
    /// A pool dropped without `close()` lets its idle readers go inside the runtime it
    /// was opened on: deadpool hands each one to a blocking thread of the current
    /// runtime and panics in plain synchronous code, where the last clone of a pool
    /// is often dropped. After that runtime has shut down, a reader closes right here.
    /// The writer thread sees its channel close, finishes the writes already queued
    /// and closes its connection.
    fn drop(&mut self) {
        self.release();
        let _runtime = self.runtime.enter();
        drop(self.readers.retain(|_, _| false).removed);
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("path", &self.inner.config.path).finish_non_exhaustive()
    }
}

impl Pool {
    /// Opens (creating with mode 0600 if missing) the database at `config.path`,
    /// starts the writer thread and checks that a reader can connect. Fails with a
    /// typed error for a missing directory, a permission problem, a read-only
    /// location, or a file that is not a database (left untouched).
    pub async fn open(config: &Config) -> Result<Pool> {
        config.validate()?;
        let config = config.clone();
        let path = config.path.clone();
        // The lock first: a restore running in another process keeps the pool out
        // (E5011) before it creates or opens anything.
        let (lock_file, created) = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                let lock_file = lockfile::lock_shared(&path)?;
                Ok::<_, Error>((lock_file, connection::ensure_file(&path)?))
            })
            .await
            .map_err(join_error)??
        };
        let counters = Arc::new(Counters::default());
        let timing = Timing::new(Duration::from_millis(config.slow_query_ms));
        let live = Arc::new(Live::new(&config));

        let (writes, rx) = mpsc::channel(config.pool.write_queue);
        let (ready_tx, ready_rx) = oneshot::channel();
        {
            let config = config.clone();
            let counters = Arc::clone(&counters);
            let timing = Arc::clone(&timing);
            let live = Arc::clone(&live);
            std::thread::Builder::new()
                .name("strata-writer".into())
                .spawn(move || {
                    // `[replication]` adjusts the PRAGMAs (Litestream owns checkpoints).
                    let sqlite = config.connection_settings();
                    let replicated = config.replication.mode == ReplicationMode::Litestream;
                    let opened = connection::open_writer(&config.path, &sqlite).and_then(|conn| {
                        if replicated {
                            connection::leave_checkpoints_to_replicator(&conn)?;
                        }
                        timing::install(&conn);
                        writer::count_commits(&conn, &counters)?;
                        Ok(conn)
                    });
                    match opened {
                        Ok(conn) => {
                            let _ = ready_tx.send(Ok(()));
                            let checkpointer = Checkpointer::start(&config.path, &sqlite, &counters);
                            Writer {
                                conn,
                                rx,
                                config,
                                counters,
                                timing,
                                live,
                                last_batch: 1,
                                commit_cost: Duration::ZERO,
                                checkpointer,
                                lost: None,
                            }
                            .run();
                        }
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                        }
                    }
                })
                .map_err(|e| Error::file_io("spawn writer thread for", &path, &e))?;
        }
        let opened = ready_rx.await.unwrap_or(Err(Error::PoolClosed));
        if let Err(err) = opened {
            if created {
                // Nothing of ours is in the empty file we made; do not leave it behind.
                let _ = std::fs::remove_file(&path);
            }
            return Err(err);
        }

        let health = Arc::new(Health::new(&path));
        let readers = build_readers(&config, false, &health)?;
        let pool = Pool {
            inner: Arc::new(Inner {
                config,
                readers,
                health,
                live,
                writes: Some(writes),
                sidecars: None,
                counters,
                timing,
                closed: AtomicBool::new(false),
                created,
                registered: std::sync::Mutex::new(Some(crate::registry::register(&path))),
                lock_file: std::sync::Mutex::new(lock_file),
                runtime: tokio::runtime::Handle::current(),
            }),
        };
        // Connect one reader now so that a reader problem shows at open.
        pool.read(|_| Ok(())).await?;
        pool.inner.health.remember_files();
        pool.spawn_watchdog();
        Ok(pool)
    }

    /// Opens the existing database at `config.path` for inspection: readers only,
    /// each opened with `SQLITE_OPEN_READ_ONLY` (through a `mode=ro` URI) and
    /// `query_only`, with no PRAGMA that writes (the journal mode stays what it is),
    /// no writer thread and no checkpointer. Nothing is created: a missing file is
    /// E2004. [`Pool::write`] and [`Pool::exclusive`] fail with E2011 (and so does
    /// [`Pool::settings`], which reads the writer's), and [`Pool::close`] runs no
    /// optimize and no checkpoint; it only removes the empty `-wal` and `-shm` that
    /// reading a WAL database without them created, when no other connection uses it.
    /// Another process holding the write lock does not delay any of this. When the
    /// database's lock file exists, the pool holds it shared like any pool (so a
    /// restore refuses to run under it, and a restore in progress refuses this open
    /// with E5011); it never creates one.
    pub async fn open_read_only(config: &Config) -> Result<Pool> {
        config.validate()?;
        let config = config.clone();
        connection::require_file(&config.path)?;
        let lock_file = lockfile::lock_shared_if_present(&config.path)?;
        let sidecars = connection::Sidecars::before_open(&config.path);
        let health = Arc::new(Health::new(&config.path));
        let readers = build_readers(&config, true, &health)?;
        // The writer's queue is never created: every write is refused before it.
        let pool = Pool {
            inner: Arc::new(Inner {
                readers,
                health,
                live: Arc::new(Live::new(&config)),
                writes: None,
                sidecars: Some(sidecars),
                counters: Arc::new(Counters::default()),
                timing: Timing::new(Duration::from_millis(config.slow_query_ms)),
                closed: AtomicBool::new(false),
                created: false,
                registered: std::sync::Mutex::new(Some(crate::registry::register(&config.path))),
                lock_file: std::sync::Mutex::new(lock_file),
                runtime: tokio::runtime::Handle::current(),
                config,
            }),
        };
        // Connect one reader now, so that a file that is not a database fails here.
        if let Err(err) =
            pool.read(|conn| Ok(conn.query_row(SCHEMA_COOKIE, [], |r| r.get::<_, i64>(0))?)).await
        {
            let _ = pool.close().await;
            return Err(err);
        }
        pool.inner.health.remember_files();
        pool.spawn_watchdog();
        Ok(pool)
    }

    /// Whether the pool was opened with [`Pool::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.inner.writes.is_none()
    }

    /// Runs `f` on a reader connection (`query_only`, so writes fail with E4003).
    /// Waits at most `pool.acquire_timeout_ms` for a free reader. A reader that `f`
    /// leaves inside a transaction is discarded, never lent again.
    pub async fn read<F, T>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let conn = self.acquire_reader().await?;
        let timing = Arc::clone(&self.inner.timing);
        let outcome = conn
            .interact(move |conn| {
                let result = timing::scoped(&timing, || timing.time(PoolWork::Read, || f(conn)));
                (result, conn.is_autocommit())
            })
            .await;
        let result = self.finish_read(conn, outcome);
        if let Err(err) = &result {
            self.note(err, false);
        }
        result
    }

    /// [`Pool::read`] for closures that finish in microseconds, such as a lookup by
    /// primary key: `f` runs on the calling thread instead of a blocking thread, which
    /// saves the two thread hand-offs that are most of the cost of such a read (with
    /// 10 concurrent readers on 2 cores, most of its latency). Waiting for a free reader
    /// connection still yields, and a reader left in a transaction or by a panic is
    /// discarded as with `read`. While `f` runs, the runtime's worker thread runs
    /// nothing else: anything that may scan, sort or wait for the disk belongs in `read`.
    pub async fn read_inline<F, T>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T>,
    {
        let conn = self.acquire_reader().await?;
        let outcome = match conn.lock() {
            Ok(guard) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let timing = &self.inner.timing;
                let result = timing::scoped(timing, || timing.time(PoolWork::Read, || f(&guard)));
                (result, guard.is_autocommit())
            }))
            .map_err(deadpool_sqlite::InteractError::Panic),
            // Only a panic while the lock was held poisons it, and such a reader is
            // discarded before it can be lent again; if one still comes back, treat
            // it like a closure that panicked, without running `f`.
            Err(_) => Err(deadpool_sqlite::InteractError::Cancelled),
        };
        let result = self.finish_read(conn, outcome);
        if let Err(err) = &result {
            self.note(err, false);
        }
        result
    }

    /// A reader connection from the pool, counted in the metrics; E2005 when none is
    /// free within the acquire timeout.
    async fn acquire_reader(&self) -> Result<Object> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(Error::PoolClosed);
        }
        self.admit().await?;
        let started = Instant::now();
        let conn = match inner.readers.get().await {
            Ok(conn) => conn,
            Err(e) => {
                let err = self.acquire_error(e, started);
                self.note(&err, false);
                return Err(err);
            }
        };
        inner.counters.record_acquire(started.elapsed());
        Counters::bump(&inner.counters.reader_acquires);
        Ok(conn)
    }

    /// The answer of a read closure; a reader that it left in a transaction, or that
    /// it panicked on, is discarded instead of going back to the pool, and the panic
    /// goes on in the caller.
    fn finish_read<T>(
        &self,
        conn: Object,
        outcome: std::result::Result<(Result<T>, bool), deadpool_sqlite::InteractError>,
    ) -> Result<T> {
        match outcome {
            Ok((result, true)) => result,
            Ok((result, false)) => {
                Counters::bump(&self.inner.counters.discarded_readers);
                tracing::warn!(target: "strata::pool", "a read closure left a transaction open; reader discarded");
                drop(Object::take(conn));
                result
            }
            Err(deadpool_sqlite::InteractError::Panic(panic)) => {
                Counters::bump(&self.inner.counters.discarded_readers);
                drop(Object::take(conn));
                std::panic::resume_unwind(panic)
            }
            Err(deadpool_sqlite::InteractError::Cancelled) => {
                Counters::bump(&self.inner.counters.discarded_readers);
                drop(Object::take(conn));
                Err(Error::PoolClosed)
            }
        }
    }

    /// Runs `f` on the writer connection inside a group-commit transaction, and
    /// answers after the transaction committed. `Ok` keeps the closure's changes,
    /// `Err` and a panic roll back only its own (a panic becomes E2007): a closure
    /// runs in a SAVEPOINT of the batch's transaction when other closures' changes
    /// are already in it. `f` runs exactly once (`FnOnce`): another closure of the
    /// batch failing does not run it again, and neither does Busy, which is retried
    /// at BEGIN and COMMIT only. When the batch's COMMIT fails for good, every
    /// closure whose changes it held is answered with that error. When the write
    /// queue stays full for `pool.acquire_timeout_ms`, the call fails with E2005
    /// instead of queueing without bound. For statements separated by awaits, see
    /// [`Pool::transaction`].
    pub async fn write<F, T>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let inner = &self.inner;
        let (reply, answer) = oneshot::channel();
        self.enqueue(Msg::Write(Box::new(Job { f: Some(f), value: None, reply }))).await?;
        inner.counters.queued_writes.fetch_add(1, Ordering::Relaxed);
        let result = await_answer(answer).await;
        inner.counters.queued_writes.fetch_sub(1, Ordering::Relaxed);
        match &result {
            Ok(_) => inner.health.wrote(),
            Err(err) => self.note(err, true),
        }
        result
    }

    /// Begins an explicit transaction on the writer (`BEGIN IMMEDIATE`), for work whose
    /// statements are separated by awaits: each [`Transaction::run`] runs on the
    /// writer inside it, and [`Transaction::commit`] commits. While it is open the
    /// writer runs nothing else, so it is bounded: past `pool.transaction_max_ms`
    /// after it began, the writer rolls it back and takes other writes again, and the
    /// handle answers E2050. Dropping the handle rolls back. Answers once the
    /// transaction has begun: after the writes queued before it, and within the
    /// retry policy when another process holds the write lock (E2008 after).
    pub async fn transaction(&self) -> Result<Transaction> {
        let limit = Duration::from_millis(self.inner.config.pool.transaction_max_ms);
        let (tx, begin, ready) = Transaction::new(limit);
        self.enqueue(Msg::Transaction(begin)).await?;
        ready.await.unwrap_or(Err(Error::PoolClosed))?;
        Ok(tx)
    }

    /// Runs `f` alone on the writer connection, between group-commit batches and
    /// outside any transaction, for work that manages its own transactions or needs
    /// settings that cannot change inside one (migrations turn `foreign_keys` off
    /// before `BEGIN`). The connection must be back in autocommit mode when `f`
    /// returns; a transaction left open is rolled back and the call fails (E6001).
    pub async fn exclusive<F, T>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.enqueue(Msg::Exclusive(Box::new(Exclusive { f, reply }))).await?;
        let result = answer.await.unwrap_or(Err(Error::PoolClosed));
        if let Err(err) = &result {
            self.note(err, true);
        }
        result
    }

    /// Puts a message on the writer's queue, waiting at most the acquire timeout;
    /// E2011 for a read-only pool.
    async fn enqueue(&self, msg: Msg) -> Result<()> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(Error::PoolClosed);
        }
        let Some(writes) = &inner.writes else {
            return Err(Error::PoolReadOnly { path: inner.config.path.clone() });
        };
        self.admit().await?;
        // Room in the queue is the common case: take it without arming a timer.
        let msg = match writes.try_send(msg) {
            Ok(()) => {
                inner.counters.record_acquire(Duration::ZERO);
                Counters::bump(&inner.counters.writer_acquires);
                return Ok(());
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(Error::PoolClosed),
            Err(mpsc::error::TrySendError::Full(msg)) => msg,
        };
        let started = Instant::now();
        let timeout = Duration::from_millis(inner.config.pool.acquire_timeout_ms);
        match writes.send_timeout(msg, timeout).await {
            Ok(()) => {}
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                Counters::bump(&inner.counters.acquire_timeouts);
                return Err(Error::AcquireTimeout {
                    pool: "writer",
                    waited_ms: started.elapsed().as_millis() as u64,
                });
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => return Err(Error::PoolClosed),
        }
        inner.counters.record_acquire(started.elapsed());
        Counters::bump(&inner.counters.writer_acquires);
        Ok(())
    }

    /// The named counter `name` of this pool (and its clones), registered on first use
    /// and shown in [`MetricsSnapshot::counters`]: a layer above counts its own events
    /// in the pool's metrics without the pool knowing what they are. Every call with
    /// one name returns the same counter.
    pub fn counter(&self, name: &'static str) -> Arc<AtomicU64> {
        self.inner.counters.named(name)
    }

    /// A copy of the pool's metrics now.
    pub fn metrics(&self) -> MetricsSnapshot {
        let status = self.inner.readers.status();
        let gauges = ReaderGauges {
            max: status.max_size,
            open: status.size,
            idle: status.available,
            in_use: status.size.saturating_sub(status.available),
            waiting: status.waiting,
        };
        metrics::snapshot(&self.inner.counters, gauges, self.inner.timing.slow_count())
    }

    /// Sets the function every timed statement is reported to (for query statistics
    /// in a higher layer). Only one hook per pool: a second call is E6001.
    pub fn set_statement_hook(&self, hook: StatementHook) -> Result<()> {
        self.inner.timing.set_hook(hook)
    }

    /// Sets the function every read closure, write closure and COMMIT is reported to,
    /// timed with the monotonic clock in microseconds (for query statistics in a
    /// higher layer). Only one per pool: a second call is E6001. Until one is set, the
    /// pool reads no clock for it.
    pub fn set_work_hook(&self, hook: WorkHook) -> Result<()> {
        self.inner.timing.set_work_hook(hook)
    }

    /// The settings the writer connection and one reader run with, as SQLite
    /// reports them: `(writer, reader)`.
    pub async fn settings(&self) -> Result<(Settings, Settings)> {
        let writer = self.write(connection::settings).await?;
        let reader = self.read(connection::settings).await?;
        Ok((writer, reader))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.config.path
    }

    /// The configuration the pool was opened with. The settings [`Pool::reload`]
    /// changed since are [`Pool::slow_query_threshold`], [`Pool::retry_policy`] and
    /// [`Pool::waits_when_unavailable`].
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Takes the pool's reloadable settings from `config` (validated first): the
    /// slow-query threshold (`slow_query_ms`), the retry policy (`retry`: the writer's
    /// BEGIN and COMMIT from their next batch, the background reopen from its next
    /// start) and `pool.wait_when_unavailable` (calls from now on). Every other
    /// setting stays as the pool opened with it; [`strata_core::config::SETTINGS`]
    /// is the list.
    pub fn reload(&self, config: &Config) -> Result<()> {
        config.validate()?;
        self.inner.timing.set_slow(Duration::from_millis(config.slow_query_ms));
        self.inner.live.set(config);
        Ok(())
    }

    /// The slow-query threshold now (`slow_query_ms`, as opened or reloaded).
    pub fn slow_query_threshold(&self) -> Duration {
        self.inner.timing.slow()
    }

    /// The retry policy now (`retry`, as opened or reloaded).
    pub fn retry_policy(&self) -> strata_core::RetryPolicy {
        self.inner.live.retry()
    }

    /// Whether calls wait while the pool is unavailable (`pool.wait_when_unavailable`,
    /// as opened or reloaded).
    pub fn waits_when_unavailable(&self) -> bool {
        self.inner.live.wait_when_unavailable()
    }

    /// Whether `open` created the database file.
    pub fn created(&self) -> bool {
        self.inner.created
    }

    /// Whether `close` has begun.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// The pool's health now: [`PoolState::Healthy`], [`PoolState::Degraded`] (the
    /// file was removed or replaced, a connection failed, the disk is full, the volume
    /// is read-only), [`PoolState::Unavailable`] (the retry policy was spent) or
    /// [`PoolState::Closed`].
    pub fn state(&self) -> PoolState {
        self.inner.health.state()
    }

    /// A receiver that sees every change of [`Pool::state`] (`changed().await`, or
    /// `wait_for(PoolState::is_healthy)`).
    pub fn watch_state(&self) -> tokio::sync::watch::Receiver<PoolState> {
        self.inner.health.subscribe()
    }

    /// Stops new work, waits for reads and queued writes in flight, closes the
    /// readers, then closes the writer last, so that SQLite removes the `-wal` and
    /// `-shm` files when it can. A pool that committed something first runs `PRAGMA
    /// optimize` and `wal_checkpoint(TRUNCATE)` on the writer, each given up after
    /// about 100 ms when another connection holds the lock they need; a pool that
    /// committed nothing (and a read-only pool) runs neither, so it never waits for
    /// another process's write lock. The [`CloseReport`] says what ran.
    pub async fn close(&self) -> Result<CloseReport> {
        let inner = &self.inner;
        if inner.closed.swap(true, Ordering::AcqRel) {
            return Err(Error::PoolClosed);
        }
        inner.health.closed();
        // Let reads in flight finish, then close every reader here and now:
        // deadpool would drop them on a background thread, and the writer must be
        // the last connection for SQLite to remove the -wal and -shm files.
        let deadline = Instant::now() + Duration::from_millis(inner.config.pool.acquire_timeout_ms);
        loop {
            let status = inner.readers.status();
            if status.available >= status.size || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        for reader in inner.readers.retain(|_, _| false).removed {
            let closed = reader
                .interact(|conn| {
                    let placeholder = Connection::open_in_memory()?;
                    std::mem::replace(conn, placeholder).close().map_err(|(_, e)| e)
                })
                .await;
            if !matches!(closed, Ok(Ok(()))) {
                tracing::warn!(target: "strata::pool", "a reader connection did not close cleanly");
            }
        }
        inner.readers.close();
        let Some(writes) = &inner.writes else {
            if let Some(sidecars) = &inner.sidecars {
                let sidecars = sidecars.clone();
                let _ = tokio::task::spawn_blocking(move || sidecars.clean()).await;
            }
            inner.release();
            return Ok(CloseReport { read_only: true, ..CloseReport::default() });
        };
        let (reply, answer) = oneshot::channel();
        let sent = writes.send(Msg::Close(reply)).await.map_err(|_| Error::PoolClosed);
        let closed = match sent {
            Ok(()) => answer.await.unwrap_or(Err(Error::PoolClosed)),
            Err(err) => Err(err),
        };
        inner.release();
        closed
    }

    /// Lets a call in: at once while the pool takes calls; while it is degraded or
    /// unavailable, E2040 at once, or with `pool.wait_when_unavailable` after waiting
    /// for it to take calls again, at most `pool.acquire_timeout_ms` (E2040 then,
    /// saying how long it waited). One atomic load on the healthy path.
    #[inline]
    async fn admit(&self) -> Result<()> {
        let health = &self.inner.health;
        match health.check() {
            Err(Error::PoolUnavailable { .. }) if self.inner.live.wait_when_unavailable() => {
                self.wait_until_available().await
            }
            checked => checked,
        }
    }

    /// Waits on the state's watch until calls may run (healthy, or degraded by a full
    /// disk or a read-only volume) or the pool closes, at most the acquire timeout.
    async fn wait_until_available(&self) -> Result<()> {
        let inner = &self.inner;
        let timeout_ms = inner.config.pool.acquire_timeout_ms;
        Counters::bump(&self.counter(UNAVAILABLE_WAITS));
        let mut states = inner.health.subscribe();
        let health = Arc::clone(&inner.health);
        let waited = tokio::time::timeout(
            Duration::from_millis(timeout_ms),
            states.wait_for(move |_| !health.is_blocked() || health.is_closed()),
        )
        .await;
        match waited {
            // The gate changes before the state is published, so it is current here.
            Ok(_) => inner.health.check(),
            Err(_) => match inner.health.unavailable() {
                Error::PoolUnavailable { path, state, cause } => Err(Error::PoolUnavailable {
                    path,
                    state,
                    cause: format!("{cause}; waited {timeout_ms} ms for it to come back"),
                }),
                other => Err(other),
            },
        }
    }

    /// Leaves [`PoolState::Healthy`] when `err` says a connection is no longer good
    /// (see [`health::classify`]).
    fn note(&self, err: &Error, write: bool) {
        if let Some(cause) = health::classify(err, write) {
            self.degrade(cause);
        }
    }

    /// Moves the pool to [`PoolState::Degraded`]; a lost connection is named more
    /// precisely when the file was removed or replaced. Starts the background reopen
    /// when calls now fail fast.
    fn degrade(&self, cause: Cause) {
        let cause = match cause {
            Cause::ConnectionLost { .. } => self.inner.health.file_changed().unwrap_or(cause),
            other => other,
        };
        if self.inner.health.degrade(cause) {
            self.spawn_recovery();
        }
    }

    /// Looks at the file every [`WATCH_INTERVAL`] while the pool lives: removed, or
    /// replaced by another inode, degrades the pool (a connection keeps reading the
    /// old file, unlinked or not, without an error, so only a look at the path tells).
    fn spawn_watchdog(&self) {
        let weak = Arc::downgrade(&self.inner);
        self.inner.runtime.spawn(async move {
            let mut tick = tokio::time::interval(WATCH_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                if inner.closed.load(Ordering::Acquire) {
                    return;
                }
                if inner.health.is_blocked() {
                    continue;
                }
                if let Some(cause) = inner.health.file_changed() {
                    Pool { inner }.degrade(cause);
                }
            }
        });
    }

    /// Reopens the connections in the background, waiting between attempts as the
    /// retry policy says (exponential backoff with jitter, capped); once the policy is
    /// spent the pool is [`PoolState::Unavailable`] and attempts go on at the policy's
    /// largest delay. Ends when an attempt succeeds (healthy again), or the pool is
    /// closed or dropped.
    fn spawn_recovery(&self) {
        let weak = Arc::downgrade(&self.inner);
        let policy = self.inner.live.retry();
        self.inner.runtime.spawn(async move {
            let mut delays = policy.delays();
            let cap = Duration::from_millis(policy.max_delay_ms.max(1));
            let mut attempt = 1u32;
            loop {
                let Some(inner) = weak.upgrade() else { return };
                if inner.closed.load(Ordering::Acquire) {
                    inner.health.recovering.store(false, Ordering::Release);
                    return;
                }
                let pool = Pool { inner };
                match pool.reopen().await {
                    Ok(()) => {
                        pool.inner.health.recovering.store(false, Ordering::Release);
                        pool.inner.health.healthy();
                        tracing::info!(target: "strata::pool", attempt, "pool reopened");
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(target: "strata::pool", attempt, code = err.code(), error = %err, "pool reopen failed");
                    }
                }
                let delay = match delays.next() {
                    Some(delay) => delay,
                    None => {
                        pool.inner.health.spent();
                        cap
                    }
                };
                drop(pool);
                attempt = attempt.saturating_add(1);
                tokio::time::sleep(delay).await;
            }
        });
    }

    /// One attempt at reopening: the file must be at the path (it is never created
    /// here); the idle readers close and no reader of the old file is lent again; the
    /// writer closes its connection and opens the file again; a new reader reads page
    /// 1 as the probe.
    async fn reopen(&self) -> Result<()> {
        let inner = &self.inner;
        let path = inner.config.path.clone();
        tokio::task::spawn_blocking(move || connection::require_file(&path)).await.map_err(join_error)??;
        inner.health.new_epoch();
        for reader in inner.readers.retain(|_, _| false).removed {
            let _ = reader
                .interact(|conn| {
                    let placeholder = Connection::open_in_memory()?;
                    std::mem::replace(conn, placeholder).close().map_err(|(_, e)| e)
                })
                .await;
        }
        if let Some(writes) = &inner.writes {
            let (reply, answer) = oneshot::channel();
            let health = Arc::clone(&inner.health);
            let between = Box::new(move || health.set_aside_old_sidecars());
            writes.send(Msg::Reopen(Reopen { between, reply })).await.map_err(|_| Error::PoolClosed)?;
            answer.await.unwrap_or(Err(Error::PoolClosed))?;
        } else {
            let health = Arc::clone(&inner.health);
            tokio::task::spawn_blocking(move || health.set_aside_old_sidecars())
                .await
                .map_err(join_error)??;
        }
        let started = Instant::now();
        let conn = inner.readers.get().await.map_err(|e| self.acquire_error(e, started))?;
        let outcome = conn
            .interact(|conn| {
                let probe = conn.query_row(SCHEMA_COOKIE, [], |r| r.get::<_, i64>(0)).map_err(Error::from);
                (probe, conn.is_autocommit())
            })
            .await;
        self.finish_read(conn, outcome).map(drop)
    }

    fn acquire_error(&self, err: PoolError, started: Instant) -> Error {
        match err {
            PoolError::Timeout(_) => {
                Counters::bump(&self.inner.counters.acquire_timeouts);
                Error::AcquireTimeout { pool: "reader", waited_ms: started.elapsed().as_millis() as u64 }
            }
            PoolError::Closed => Error::PoolClosed,
            PoolError::Backend(e) => e.into(),
            PoolError::PostCreateHook(HookError::Backend(e)) => e.into(),
            PoolError::PostCreateHook(HookError::Message(m)) => {
                Error::CannotOpen { code: rusqlite::ffi::SQLITE_CANTOPEN, message: m.into_owned() }
            }
            PoolError::NoRuntimeSpecified => Error::CannotOpen {
                code: rusqlite::ffi::SQLITE_MISUSE,
                message: "reader pool built without a runtime".into(),
            },
        }
    }
}

/// The reader connections' pool manager: deadpool-sqlite's, except for recycling.
/// deadpool-sqlite checks every connection it lends again with a `SELECT` on a
/// blocking thread, a thread round trip on every read; a connection to a local SQLite
/// file does not go stale, so this one only checks, on the acquiring thread, that the
/// connection's mutex is not poisoned and that no transaction was left open.
/// It also never creates the database file (deadpool-sqlite's connections would: a
/// reader opened after the file was removed would leave an empty database behind),
/// and drops readers of a file the pool has reopened since.
struct ReaderManager {
    manager: Manager,
    /// The database file (the manager's path may be a `mode=ro` URI).
    path: std::path::PathBuf,
    health: Arc<Health>,
}

impl std::fmt::Debug for ReaderManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderManager").field("path", &self.path).finish_non_exhaustive()
    }
}

/// A reader connection lent by the pool.
type Object = deadpool::managed::Object<ReaderManager>;
type Readers = deadpool::managed::Pool<ReaderManager>;
type PoolError = deadpool::managed::PoolError<rusqlite::Error>;
type Hook = deadpool::managed::Hook<ReaderManager>;
type HookError = deadpool::managed::HookError<rusqlite::Error>;

impl deadpool::managed::Manager for ReaderManager {
    type Type = <Manager as deadpool::managed::Manager>::Type;
    type Error = rusqlite::Error;

    async fn create(&self) -> std::result::Result<Self::Type, Self::Error> {
        if !self.path.exists() {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!("{} does not exist", self.path.display())),
            ));
        }
        self.manager.create().await
    }

    async fn recycle(&self, conn: &mut Self::Type, metrics: &Metrics) -> RecycleResult<Self::Error> {
        if self.health.is_stale(metrics.created) {
            return Err(RecycleError::message("reader of a file the pool has reopened since"));
        }
        let guard = conn.lock().map_err(|_| RecycleError::message("reader mutex poisoned"))?;
        if guard.is_autocommit() {
            Ok(())
        } else {
            Err(RecycleError::message("reader left inside a transaction"))
        }
    }
}

/// The reader pool: deadpool with deadpool-sqlite's connections, PRAGMAs and
/// `query_only` after create, statement timing, and a recycle check that drops any
/// connection left in a transaction.
/// With `read_only`, every reader opens the file through a `mode=ro` URI.
fn build_readers(config: &Config, read_only: bool, health: &Arc<Health>) -> Result<Readers> {
    let path = if read_only { connection::read_only_uri(&config.path) } else { config.path.clone() };
    let manager = ReaderManager {
        manager: Manager::from_config(&deadpool_sqlite::Config::new(path), Runtime::Tokio1),
        path: config.path.clone(),
        health: Arc::clone(health),
    };
    let sqlite = config.connection_settings();
    let replicated = config.replication.mode == ReplicationMode::Litestream;
    let wait = Duration::from_millis(config.pool.acquire_timeout_ms);
    Readers::builder(manager)
        .max_size(config.pool.readers)
        // The reader returned last is lent first: its page cache and the CPU caches
        // are warm, and idle readers beyond what the load needs stay idle.
        .queue_mode(QueueMode::Lifo)
        .timeouts(Timeouts { wait: Some(wait), create: Some(wait), recycle: Some(wait) })
        .runtime(Runtime::Tokio1)
        .post_create(Hook::async_fn(move |conn, _| {
            let sqlite = sqlite.clone();
            Box::pin(async move {
                let prepared = conn
                    .interact(move |conn| {
                        connection::prepare_reader(conn, &sqlite)?;
                        if replicated {
                            connection::leave_checkpoints_to_replicator(conn)?;
                        }
                        timing::install(conn);
                        Ok::<_, Error>(())
                    })
                    .await
                    .map_err(|e| HookError::message(format!("reader setup did not run: {e}")))?;
                prepared.map_err(|e| HookError::message(crate::render_error(&e)))
            })
        }))
        .build()
        .map_err(|e| Error::CannotOpen { code: rusqlite::ffi::SQLITE_CANTOPEN, message: e.to_string() })
}

/// The named counter of calls that began waiting for an unavailable pool
/// (`pool.wait_when_unavailable`).
const UNAVAILABLE_WAITS: &str = "pool.unavailable_waits";

/// How often the watchdog looks whether the database file was removed or replaced:
/// one `stat` of the path each time.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// A read of page 1: proves the file is a database (E5002 otherwise).
const SCHEMA_COOKIE: &str = "PRAGMA schema_version";

fn join_error(err: tokio::task::JoinError) -> Error {
    Error::task_failed("open", err)
}

/// How long a caller of [`Pool::write`] polls for its answer before it parks.
const ANSWER_SPIN: Duration = Duration::from_micros(50);

/// The answer to a queued write. The writer usually answers within tens of
/// microseconds, and a thread that parked meanwhile is woken late: on a VM whose idle
/// vCPU halts, a wake-up took about 30 us, and a one-row write through the pool took
/// 37 us against 8 us for the same transaction on one raw connection; polling first,
/// 9.4 us. So for [`ANSWER_SPIN`] the caller polls, and between polls yields to the
/// async runtime (its other tasks run) and to the OS (the writer thread may need this
/// CPU: without that yield, 100-task queue claims were 2% slower); then it awaits.
async fn await_answer<T>(mut answer: oneshot::Receiver<Result<T>>) -> Result<T> {
    let started = Instant::now();
    loop {
        match answer.try_recv() {
            Ok(result) => return result,
            Err(oneshot::error::TryRecvError::Closed) => return Err(Error::PoolClosed),
            Err(oneshot::error::TryRecvError::Empty) if started.elapsed() < ANSWER_SPIN => {
                std::thread::yield_now();
                tokio::task::yield_now().await;
            }
            Err(oneshot::error::TryRecvError::Empty) => break,
        }
    }
    answer.await.unwrap_or(Err(Error::PoolClosed))
}
