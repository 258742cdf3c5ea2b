//! The TTL cache (table `cache`, migration V7): one value per `(namespace, key)`,
//! JSON text or bytes, with an optional expiry, a max entry size, an optional size
//! budget per namespace that evicts the least recently read entries, a per-process
//! single flight for [`Cache::get_or_set_with`], and the sweeper that deletes expired
//! rows in bounded batches ([`Cache::sweep_expired`], [`spawn_sweeper`]).
//!
//! An expired entry is never returned, swept or not: every read compares `expires_at`
//! with the cache's clock in the statement that reads it. A hit is a write: it sets
//! `read_at` and `hits` in the same statement (`UPDATE ... RETURNING`, group-committed
//! by the pool's writer), because eviction needs to know what was read last.
//!
//! The hit, miss, eviction, load and sweep counters live on the [`Cache`] handle
//! ([`Cache::stats`], shared by its clones, counting since the handle was made); hits,
//! misses and evictions are also counted in the pool's metrics, as the named counters
//! [`HITS_COUNTER`], [`MISSES_COUNTER`] and [`EVICTIONS_COUNTER`] of
//! `MetricsSnapshot::counters` (every cache handle on the pool adds to them). The pool
//! keeps them without knowing what they count (`Pool::counter`).
//!
//! An entry is named by a [`CacheKey`], a struct with named fields so that a call
//! cannot swap the namespace and the key. Every public operation runs in its
//! `strata.op` span (`cache.<op>`, table `cache`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Row, params};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use strata_core::{CacheConfig, Error, Result};
use strata_pool::{Affected, Pool, operation};
use time::OffsetDateTime;
use tokio::sync::{OwnedMutexGuard, watch};

use crate::clock::{Clock, SystemClock, to_datetime};

/// Which entry: `CacheKey { namespace: "pages", key: "/about" }`, with named fields so
/// that a call cannot swap the namespace and the key.
///
/// ```no_run
/// # use strata_repo::{Cache, CacheKey};
/// # async fn run(cache: Cache) -> strata_core::Result<()> {
/// let id = CacheKey { namespace: "pages", key: "/about" };
/// cache.set(id, "<h1>about</h1>", None).await?;
/// let page: Option<String> = cache.get(id).await?;
/// # Ok(())
/// # }
/// ```
///
/// Two bare strings, which could be given in either order, do not compile:
///
/// ```compile_fail
/// # use strata_repo::Cache;
/// # async fn run(cache: Cache) -> strata_core::Result<()> {
/// let page: Option<String> = cache.get("pages", "/about").await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey<'a> {
    /// The namespace.
    pub namespace: &'a str,
    /// The key within the namespace.
    pub key: &'a str,
}

/// A cached value as stored: JSON text or bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheValue {
    /// JSON text (column `format = 'json'`).
    Json(String),
    /// Bytes (column `format = 'bytes'`).
    Bytes(Vec<u8>),
}

impl CacheValue {
    /// The value's size in bytes, as counted against the limits.
    pub fn size(&self) -> u64 {
        let len = match self {
            CacheValue::Json(text) => text.len(),
            CacheValue::Bytes(bytes) => bytes.len(),
        };
        u64::try_from(len).unwrap_or(u64::MAX)
    }

    fn format(&self) -> &'static str {
        match self {
            CacheValue::Json(_) => "json",
            CacheValue::Bytes(_) => "bytes",
        }
    }

    fn into_sql(self) -> SqlValue {
        match self {
            CacheValue::Json(text) => SqlValue::Text(text),
            CacheValue::Bytes(bytes) => SqlValue::Blob(bytes),
        }
    }
}

/// One live entry, as a hit returns it (after the hit was counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// The value.
    pub value: CacheValue,
    /// Its size in bytes.
    pub size: u64,
    /// When it expires (UTC); `None` never.
    pub expires_at: Option<OffsetDateTime>,
    /// When the key was first set (since it last expired).
    pub created_at: OffsetDateTime,
    /// When the value was set last.
    pub updated_at: OffsetDateTime,
    /// When it was read last (by a hit, this read; by [`Cache::peek`], the last hit
    /// before it, or the last set).
    pub read_at: OffsetDateTime,
    /// How many times it was read (a hit counts itself; a peek counts nothing).
    pub hits: i64,
}

strata_pool::one_row!(CacheEntry, NamespaceStats);

/// A sweep stands for the rows it deleted in the operation log.
impl Affected for SweepReport {
    fn affected(&self) -> u64 {
        self.deleted
    }
}

/// What a set or a load stands for in the operation log: the one entry it wrote.
struct Wrote<T>(T);

impl<T> Affected for Wrote<T> {
    fn affected(&self) -> u64 {
        1
    }
}

/// What one namespace holds, as [`Cache::namespace_stats`] counts it (a read: it
/// changes nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceStats {
    /// The namespace.
    pub namespace: String,
    /// Rows in it, live or expired-not-yet-swept.
    pub entries: u64,
    /// The sum of their sizes in bytes.
    pub bytes: u64,
    /// Rows expired by now that no sweep deleted yet (never returned by a read).
    pub expired: u64,
}

/// The cache's counters since the handle was made (shared by its clones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheStats {
    /// Reads that found a live entry.
    pub hits: u64,
    /// Reads that found nothing, or only an expired entry.
    pub misses: u64,
    /// Entries deleted to keep a namespace inside its budget.
    pub evictions: u64,
    /// Times a `get_or_set_with` loader ran.
    pub loads: u64,
    /// Expired entries deleted by sweeps.
    pub expired_swept: u64,
}

/// What one [`Cache::sweep_expired`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired rows deleted.
    pub deleted: u64,
    /// Write closures (batches) it took, the last one finding fewer rows than a batch.
    pub batches: u64,
    /// The longest time one batch's statement held the writer.
    pub longest_hold: Duration,
}

/// The TTL cache repository.
#[derive(Debug, Clone)]
pub struct Cache {
    pool: Pool,
    clock: Arc<dyn Clock>,
    /// The limits, shared by every clone; [`Cache::reload`] swaps them.
    config: Arc<RwLock<Arc<CacheConfig>>>,
    shared: Arc<Shared>,
}

/// The name of the cache's hit counter in the pool's metrics.
pub const HITS_COUNTER: &str = "cache.hits";
/// The name of the cache's miss counter in the pool's metrics.
pub const MISSES_COUNTER: &str = "cache.misses";
/// The name of the cache's eviction counter in the pool's metrics.
pub const EVICTIONS_COUNTER: &str = "cache.evictions";

#[derive(Debug)]
struct Shared {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    /// The pool's named counters of hits, misses and evictions.
    pool_hits: Arc<AtomicU64>,
    pool_misses: Arc<AtomicU64>,
    pool_evictions: Arc<AtomicU64>,
    loads: AtomicU64,
    expired_swept: AtomicU64,
    /// One gate per `(namespace, key)` that a `get_or_set_with` is loading.
    loading: Mutex<HashMap<EntryId, Arc<tokio::sync::Mutex<()>>>>,
}

impl Shared {
    fn new(pool: &Pool) -> Self {
        Shared {
            hits: AtomicU64::default(),
            misses: AtomicU64::default(),
            evictions: AtomicU64::default(),
            pool_hits: pool.counter(HITS_COUNTER),
            pool_misses: pool.counter(MISSES_COUNTER),
            pool_evictions: pool.counter(EVICTIONS_COUNTER),
            loads: AtomicU64::default(),
            expired_swept: AtomicU64::default(),
            loading: Mutex::default(),
        }
    }
}

/// `(namespace, key)`.
type EntryId = (String, String);

/// How many least recently read entries an over-budget set looks at per statement.
const EVICT_CHUNK: i64 = 32;

/// How many rows `delete_namespace` deletes per write closure.
const DELETE_CHUNK: i64 = 500;

impl Cache {
    /// The cache over `pool` with the default limits and the system clock.
    pub fn new(pool: Pool) -> Self {
        let shared = Arc::new(Shared::new(&pool));
        Cache {
            pool,
            clock: Arc::new(SystemClock),
            config: Arc::new(RwLock::new(Arc::new(CacheConfig::default()))),
            shared,
        }
    }

    /// The cache over `pool` with `config`'s limits (the `[cache]` section of the
    /// config) and time from `clock`; E1003 when a limit is zero.
    pub fn with_config(pool: Pool, config: CacheConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        config.validate()?;
        let shared = Arc::new(Shared::new(&pool));
        Ok(Cache { pool, clock, config: Arc::new(RwLock::new(Arc::new(config))), shared })
    }

    /// The limits this cache applies now.
    pub fn config(&self) -> Arc<CacheConfig> {
        Arc::clone(&self.config.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Takes new limits (a reloaded `[cache]` section) for this handle and every clone
    /// of it: the entry and namespace budgets from the next set, the sweeper's interval
    /// and batch from its next round. Whether a sweeper runs (`sweeper`) stays as it
    /// was. E1003 for a limit out of range (the old limits stay then).
    pub fn reload(&self, config: CacheConfig) -> Result<()> {
        config.validate()?;
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
        Ok(())
    }

    /// The counters since this handle (or the one it was cloned from) was made.
    pub fn stats(&self) -> CacheStats {
        let s = &self.shared;
        CacheStats {
            hits: s.hits.load(Ordering::Relaxed),
            misses: s.misses.load(Ordering::Relaxed),
            evictions: s.evictions.load(Ordering::Relaxed),
            loads: s.loads.load(Ordering::Relaxed),
            expired_swept: s.expired_swept.load(Ordering::Relaxed),
        }
    }

    /// The value of `key` in `namespace` read as `T` from its JSON, or `None` when
    /// there is no live entry. A hit sets the entry's `read_at` and `hits`. An entry
    /// stored as bytes, or JSON that is not a `T`, is E4005.
    pub async fn get<T: DeserializeOwned>(&self, id: CacheKey<'_>) -> Result<Option<T>> {
        let CacheKey { namespace, key } = id;
        operation("cache.get", "cache", async move {
            match self.read_counted(namespace, key).await? {
                Some(entry) => decode(namespace, key, &entry.value).map(Some),
                None => Ok(None),
            }
        })
        .await
    }

    /// The bytes of `key` in `namespace` (a JSON entry gives its text), or `None`.
    pub async fn get_bytes(&self, id: CacheKey<'_>) -> Result<Option<Vec<u8>>> {
        let CacheKey { namespace, key } = id;
        operation("cache.get_bytes", "cache", async move {
            Ok(self.read_counted(namespace, key).await?.map(|entry| match entry.value {
                CacheValue::Json(text) => text.into_bytes(),
                CacheValue::Bytes(bytes) => bytes,
            }))
        })
        .await
    }

    const READ_LIVE: &str = "UPDATE cache SET hits = hits + 1, read_at = ?3 \
         WHERE namespace = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3) \
         RETURNING format, value, size, expires_at, created_at, updated_at, read_at, hits";

    /// The live entry of `key` in `namespace`, or `None` (also when it has expired and
    /// was not swept yet). Counts a hit or a miss.
    pub async fn get_entry(&self, id: CacheKey<'_>) -> Result<Option<CacheEntry>> {
        let CacheKey { namespace, key } = id;
        operation("cache.get_entry", "cache", self.read_counted(namespace, key)).await
    }

    /// [`Cache::get_entry`] without its span.
    async fn read_counted(&self, namespace: &str, key: &str) -> Result<Option<CacheEntry>> {
        let found = self.lookup(namespace, key).await?;
        self.count(found.is_some());
        Ok(found)
    }

    async fn lookup(&self, namespace: &str, key: &str) -> Result<Option<CacheEntry>> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        let now = self.clock.now_ms();
        self.pool
            .write(move |conn| {
                Ok(conn
                    .prepare_cached(Self::READ_LIVE)?
                    .query_row(params![namespace, key, now], cache_entry)
                    .optional()?)
            })
            .await
    }

    const PEEK_LIVE: &str = "SELECT format, value, size, expires_at, created_at, updated_at, read_at, hits \
         FROM cache WHERE namespace = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)";

    /// The live entry of `key` in `namespace`, or `None` (also when it has expired and
    /// was not swept yet), read through the pool's readers: unlike
    /// [`Cache::get_entry`] it records no hit (`read_at`, `hits` and the handle's
    /// counters stay as they are), so it works on a read-only database and changes
    /// nothing. For inspection (`strata cache get`), not for eviction-aware reads.
    pub async fn peek(&self, id: CacheKey<'_>) -> Result<Option<CacheEntry>> {
        let CacheKey { namespace, key } = id;
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        let now = self.clock.now_ms();
        let read = self.pool.read(move |conn| {
            Ok(conn
                .prepare_cached(Self::PEEK_LIVE)?
                .query_row(params![namespace, key, now], cache_entry)
                .optional()?)
        });
        operation("cache.peek", "cache", read).await
    }

    const NAMESPACE_STATS: &str = "SELECT namespace, count(*), coalesce(sum(size), 0), \
         count(CASE WHEN expires_at <= ?1 THEN 1 END) FROM cache GROUP BY namespace ORDER BY namespace";

    /// Entries, bytes and expired-not-yet-swept rows of every namespace that has rows,
    /// in namespace order; a read through the pool's readers that changes nothing.
    /// One pass over the primary key.
    pub async fn namespace_stats(&self) -> Result<Vec<NamespaceStats>> {
        let now = self.clock.now_ms();
        let read = self.pool.read(move |conn| {
            Ok(conn
                .prepare_cached(Self::NAMESPACE_STATS)?
                .query_map(params![now], namespace_stats)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        });
        operation("cache.namespace_stats", "cache", read).await
    }

    const ONE_NAMESPACE_STATS: &str = "SELECT namespace, count(*), coalesce(sum(size), 0), \
         count(CASE WHEN expires_at <= ?1 THEN 1 END) FROM cache WHERE namespace = ?2 GROUP BY namespace";

    /// [`Cache::namespace_stats`] of one namespace; `None` when it has no rows.
    pub async fn namespace_stats_of(&self, namespace: &str) -> Result<Option<NamespaceStats>> {
        let now = self.clock.now_ms();
        let namespace = namespace.to_owned();
        let read = self.pool.read(move |conn| {
            Ok(conn
                .prepare_cached(Self::ONE_NAMESPACE_STATS)?
                .query_row(params![now, namespace], namespace_stats)
                .optional()?)
        });
        operation("cache.namespace_stats_of", "cache", read).await
    }

    fn count(&self, hit: bool) {
        let s = &self.shared;
        let (mine, pools) = if hit { (&s.hits, &s.pool_hits) } else { (&s.misses, &s.pool_misses) };
        mine.fetch_add(1, Ordering::Relaxed);
        pools.fetch_add(1, Ordering::Relaxed);
    }

    /// Stores `value` as JSON under `key` in `namespace`, replacing what was there,
    /// expiring after `ttl` (`None`: never). E6021 for a zero ttl, E6023 when serde
    /// cannot write the value, E4010 when it is over the entry size or the namespace's
    /// budget; each writes nothing.
    pub async fn set<T: Serialize + ?Sized>(
        &self,
        id: CacheKey<'_>,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let CacheKey { namespace, key } = id;
        operation("cache.set", "cache", async move {
            let text = serde_json::to_string(value).map_err(|e| invalid_value(namespace, key, &e))?;
            self.store(namespace, key, CacheValue::Json(text), ttl).await
        })
        .await
        .map(|Wrote(())| ())
    }

    /// Stores JSON text as it is (checked to be valid JSON first: E6023 otherwise).
    pub async fn set_json_text(&self, id: CacheKey<'_>, json: &str, ttl: Option<Duration>) -> Result<()> {
        let CacheKey { namespace, key } = id;
        operation("cache.set_json_text", "cache", async move {
            serde_json::from_str::<IgnoredAny>(json).map_err(|e| invalid_value(namespace, key, &e))?;
            self.store(namespace, key, CacheValue::Json(json.to_owned()), ttl).await
        })
        .await
        .map(|Wrote(())| ())
    }

    /// Stores bytes under `key` in `namespace` (limits as for [`Cache::set`]).
    pub async fn set_bytes(&self, id: CacheKey<'_>, bytes: &[u8], ttl: Option<Duration>) -> Result<()> {
        let CacheKey { namespace, key } = id;
        let store = self.store(namespace, key, CacheValue::Bytes(bytes.to_vec()), ttl);
        operation("cache.set_bytes", "cache", store).await.map(|Wrote(())| ())
    }

    const UPSERT_ENTRY: &str = "INSERT INTO cache \
         (namespace, key, format, value, size, expires_at, created_at, updated_at, read_at, hits) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?7, 0) \
         ON CONFLICT (namespace, key) DO UPDATE SET format = excluded.format, value = excluded.value, \
         size = excluded.size, expires_at = excluded.expires_at, updated_at = excluded.updated_at, \
         read_at = excluded.read_at, \
         created_at = CASE WHEN cache.expires_at <= excluded.updated_at THEN excluded.created_at ELSE cache.created_at END, \
         hits = CASE WHEN cache.expires_at <= excluded.updated_at THEN 0 ELSE cache.hits END";

    /// Stores `value` under `key` in `namespace` (limits as for [`Cache::set`]).
    pub async fn set_value(&self, id: CacheKey<'_>, value: CacheValue, ttl: Option<Duration>) -> Result<()> {
        let CacheKey { namespace, key } = id;
        operation("cache.set_value", "cache", self.store(namespace, key, value, ttl))
            .await
            .map(|Wrote(())| ())
    }

    /// [`Cache::set_value`] without its span.
    async fn store(
        &self,
        namespace: &str,
        key: &str,
        value: CacheValue,
        ttl: Option<Duration>,
    ) -> Result<Wrote<()>> {
        let now = self.clock.now_ms();
        let expires_at = expiry(namespace, key, now, ttl)?;
        let size = value.size();
        let config = self.config();
        let budget = config.namespace_budget(namespace);
        for (limit_name, limit) in
            [("max_entry_bytes", Some(config.max_entry_bytes)), ("max_namespace_bytes", budget)]
        {
            if let Some(limit) = limit.filter(|limit| size > *limit) {
                return Err(Error::CacheEntryTooLarge {
                    namespace: namespace.to_owned(),
                    key: key.to_owned(),
                    size,
                    limit_name,
                    limit,
                });
            }
        }
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        let format = value.format();
        let value = value.into_sql();
        // The entry size is at most max_entry_bytes, a u64 checked above; SQLite's own
        // limit on a value (1 GB by default) is far below i64::MAX.
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        let evicted = self
            .pool
            .write(move |conn| {
                conn.prepare_cached(Self::UPSERT_ENTRY)?
                    .execute(params![namespace, key, format, value, size, expires_at, now])?;
                match budget {
                    Some(budget) => evict_over_budget(conn, &namespace, &key, budget),
                    None => Ok(0),
                }
            })
            .await?;
        self.shared.evictions.fetch_add(evicted, Ordering::Relaxed);
        self.shared.pool_evictions.fetch_add(evicted, Ordering::Relaxed);
        Ok(Wrote(()))
    }

    /// The value of `key` in `namespace`; when there is no live entry, runs `loader`,
    /// stores what it returns (expiring after `ttl`) and returns it. Concurrent callers
    /// of one key in this process wait for the first one's loader instead of running
    /// their own, then read what it stored. A loader error is returned and nothing is
    /// stored. The ttl is checked before the loader runs (E6021).
    pub async fn get_or_set_with<T, F, Fut>(
        &self,
        id: CacheKey<'_>,
        ttl: Option<Duration>,
        loader: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let CacheKey { namespace, key } = id;
        let load = async move {
            expiry(namespace, key, self.clock.now_ms(), ttl)?;
            if let Some(entry) = self.lookup(namespace, key).await? {
                self.count(true);
                return decode(namespace, key, &entry.value).map(Wrote);
            }
            let _gate = self.enter_gate(namespace, key).await;
            if let Some(entry) = self.lookup(namespace, key).await? {
                self.count(true);
                return decode(namespace, key, &entry.value).map(Wrote);
            }
            self.count(false);
            self.shared.loads.fetch_add(1, Ordering::Relaxed);
            let value = loader().await?;
            let text = serde_json::to_string(&value).map_err(|e| invalid_value(namespace, key, &e))?;
            self.store(namespace, key, CacheValue::Json(text), ttl).await?;
            Ok(Wrote(value))
        };
        operation("cache.get_or_set_with", "cache", load).await.map(|Wrote(value)| value)
    }

    async fn enter_gate(&self, namespace: &str, key: &str) -> Gate {
        let id = (namespace.to_owned(), key.to_owned());
        let mutex = {
            // A panic while this lock is held cannot leave the map half-updated (one
            // insert or clone), so a poisoned lock is still a good map.
            let mut loading = self.shared.loading.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(loading.entry(id.clone()).or_default())
        };
        let guard = Arc::clone(&mutex).lock_owned().await;
        Gate { shared: Arc::clone(&self.shared), id, mutex, guard: Some(guard) }
    }

    const DELETE_ENTRY: &str = "DELETE FROM cache WHERE namespace = ?1 AND key = ?2";

    /// Deletes `key` in `namespace`; whether there was an entry (expired or not).
    pub async fn delete(&self, id: CacheKey<'_>) -> Result<bool> {
        let CacheKey { namespace, key } = id;
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        let write = self.pool.write(move |conn| {
            Ok(conn.prepare_cached(Self::DELETE_ENTRY)?.execute(params![namespace, key])? > 0)
        });
        operation("cache.delete", "cache", write).await
    }

    const DELETE_NAMESPACE_CHUNK: &str = "DELETE FROM cache WHERE rowid IN \
         (SELECT rowid FROM cache WHERE namespace = ?1 LIMIT +?2)";

    /// Deletes every entry of `namespace`, 500 rows per write closure so that other
    /// writes get the writer in between; how many it deleted.
    pub async fn delete_namespace(&self, namespace: &str) -> Result<u64> {
        operation("cache.delete_namespace", "cache", async move {
            let mut total = 0;
            loop {
                let namespace = namespace.to_owned();
                let deleted = self
                    .pool
                    .write(move |conn| {
                        Ok(conn
                            .prepare_cached(Self::DELETE_NAMESPACE_CHUNK)?
                            .execute(params![namespace, DELETE_CHUNK])?)
                    })
                    .await?;
                total += u64::try_from(deleted).unwrap_or(u64::MAX);
                if i64::try_from(deleted).unwrap_or(i64::MAX) < DELETE_CHUNK {
                    return Ok(total);
                }
            }
        })
        .await
    }

    const TOUCH_ENTRY: &str = "UPDATE cache SET expires_at = ?3, updated_at = ?4 \
         WHERE namespace = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?4)";

    /// Sets a live entry to expire `ttl` from now (`None`: never); whether there was a
    /// live entry. An expired entry is not revived. E6021 for a zero ttl.
    pub async fn touch(&self, id: CacheKey<'_>, ttl: Option<Duration>) -> Result<bool> {
        let CacheKey { namespace, key } = id;
        operation("cache.touch", "cache", async move {
            let now = self.clock.now_ms();
            let expires_at = expiry(namespace, key, now, ttl)?;
            let (namespace, key) = (namespace.to_owned(), key.to_owned());
            self.pool
                .write(move |conn| {
                    Ok(conn
                        .prepare_cached(Self::TOUCH_ENTRY)?
                        .execute(params![namespace, key, expires_at, now])?
                        > 0)
                })
                .await
        })
        .await
    }

    const DELETE_EXPIRED_CHUNK: &str = "DELETE FROM cache WHERE rowid IN \
         (SELECT rowid FROM cache WHERE expires_at <= ?1 LIMIT +?2)";

    /// Deletes the entries expired by now, at most `batch` rows per write closure (one
    /// statement each), until a batch finds fewer; E6001 when `batch` is 0. Reports
    /// the rows, the batches and the longest time one batch held the writer.
    pub async fn sweep_expired(&self, batch: usize) -> Result<SweepReport> {
        operation("cache.sweep_expired", "cache", self.sweep(batch)).await
    }

    /// [`Cache::sweep_expired`] without its span.
    async fn sweep(&self, batch: usize) -> Result<SweepReport> {
        let batch = i64::try_from(batch).ok().filter(|b| *b > 0).ok_or_else(|| Error::InvalidInput {
            field: "batch".into(),
            reason: "must be 1 or more".into(),
        })?;
        let now = self.clock.now_ms();
        let mut report = SweepReport::default();
        loop {
            let (deleted, held) = self
                .pool
                .write(move |conn| {
                    let started = Instant::now();
                    let deleted =
                        conn.prepare_cached(Self::DELETE_EXPIRED_CHUNK)?.execute(params![now, batch])?;
                    Ok((deleted, started.elapsed()))
                })
                .await?;
            report.batches += 1;
            report.deleted += u64::try_from(deleted).unwrap_or(u64::MAX);
            report.longest_hold = report.longest_hold.max(held);
            self.shared
                .expired_swept
                .fetch_add(u64::try_from(deleted).unwrap_or(u64::MAX), Ordering::Relaxed);
            if i64::try_from(deleted).unwrap_or(i64::MAX) < batch {
                return Ok(report);
            }
            // Let other tasks queue their writes between two batches.
            tokio::task::yield_now().await;
        }
    }
}

/// The background sweeper of a cache; [`Sweeper::stop`] ends it.
#[derive(Debug)]
pub struct Sweeper {
    stop: watch::Sender<bool>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Starts a tokio task that runs [`Cache::sweep_expired`] with the cache's
/// `sweep_batch` every `sweep_interval_ms`, first after one interval. A failed sweep
/// is reported through `tracing` and tried again at the next interval. The task ends
/// at [`Sweeper::stop`], or when the `Sweeper` is dropped.
pub fn spawn_sweeper(cache: Cache) -> Sweeper {
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            // Read each round: a reloaded config changes them. Validated at least 1.
            let config = cache.config();
            let (interval, batch) =
                (Duration::from_millis(config.sweep_interval_ms.max(1)), config.sweep_batch);
            tokio::select! {
                // A stop, or the Sweeper dropped (then `changed` fails).
                _ = stopped.changed() => return,
                () = tokio::time::sleep(interval) => {}
            }
            match cache.sweep_expired(batch).await {
                Ok(report) if report.deleted > 0 => tracing::debug!(
                    deleted = report.deleted,
                    batches = report.batches,
                    longest_hold_us = u64::try_from(report.longest_hold.as_micros()).unwrap_or(u64::MAX),
                    "cache sweep"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "cache sweep failed"),
            }
        }
    });
    Sweeper { stop, task: Mutex::new(Some(task)) }
}

impl Sweeper {
    /// Stops the sweeper and waits for a sweep in progress to end.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        // A panic while this lock is held cannot happen (one take), so a poisoned
        // lock still holds a good Option.
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// Holds the `get_or_set_with` gate of one key; on drop it lets the next caller in
/// and removes the gate from the map when nobody else holds or waits for it.
struct Gate {
    shared: Arc<Shared>,
    id: EntryId,
    mutex: Arc<tokio::sync::Mutex<()>>,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for Gate {
    fn drop(&mut self) {
        drop(self.guard.take());
        // See `enter_gate` on the poisoned lock.
        let mut loading = self.shared.loading.lock().unwrap_or_else(|p| p.into_inner());
        // Two references: the map's and ours (the guard is dropped). Anyone else who
        // cloned it took this lock to do so, so the count cannot grow meanwhile.
        if Arc::strong_count(&self.mutex) <= 2 {
            loading.remove(&self.id);
        }
    }
}

const NAMESPACE_SIZE: &str = "SELECT coalesce(sum(size), 0) FROM cache WHERE namespace = ?1";

const LEAST_RECENTLY_READ: &str =
    "SELECT key, size FROM cache WHERE namespace = ?1 AND key <> ?2 ORDER BY read_at LIMIT +?3";

/// Deletes the least recently read entries of `namespace` other than `key` until the
/// namespace fits `budget`; how many it deleted.
fn evict_over_budget(conn: &rusqlite::Connection, namespace: &str, key: &str, budget: u64) -> Result<u64> {
    let budget = i64::try_from(budget).unwrap_or(i64::MAX);
    let mut total: i64 = conn.prepare_cached(NAMESPACE_SIZE)?.query_row([namespace], |r| r.get(0))?;
    let mut evicted = 0;
    while total > budget {
        let victims = conn
            .prepare_cached(LEAST_RECENTLY_READ)?
            .query_map(params![namespace, key, EVICT_CHUNK], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if victims.is_empty() {
            break;
        }
        for (victim, size) in victims {
            conn.prepare_cached(Cache::DELETE_ENTRY)?.execute(params![namespace, victim])?;
            evicted += 1;
            total -= size;
            if total <= budget {
                break;
            }
        }
    }
    Ok(evicted)
}

/// Every statement this module issues, for the explain test.
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("cache.read_live", Cache::READ_LIVE),
    ("cache.peek_live", Cache::PEEK_LIVE),
    ("cache.namespace_stats", Cache::NAMESPACE_STATS),
    ("cache.one_namespace_stats", Cache::ONE_NAMESPACE_STATS),
    ("cache.upsert", Cache::UPSERT_ENTRY),
    ("cache.delete", Cache::DELETE_ENTRY),
    ("cache.delete_namespace_chunk", Cache::DELETE_NAMESPACE_CHUNK),
    ("cache.touch", Cache::TOUCH_ENTRY),
    ("cache.delete_expired_chunk", Cache::DELETE_EXPIRED_CHUNK),
    ("cache.namespace_size", NAMESPACE_SIZE),
    ("cache.least_recently_read", LEAST_RECENTLY_READ),
];

/// `now + ttl` in ms, or `None` for no ttl; E6021 for a ttl under 1 ms or one that
/// overflows.
fn expiry(namespace: &str, key: &str, now: i64, ttl: Option<Duration>) -> Result<Option<i64>> {
    let Some(ttl) = ttl else { return Ok(None) };
    let invalid = |reason: &str| Error::InvalidTtl {
        namespace: namespace.to_owned(),
        key: key.to_owned(),
        reason: reason.to_owned(),
    };
    if ttl.as_millis() == 0 {
        return Err(invalid("must be at least 1 ms"));
    }
    i64::try_from(ttl.as_millis())
        .ok()
        .and_then(|ms| now.checked_add(ms))
        .map(Some)
        .ok_or_else(|| invalid("too large: now + ttl overflows"))
}

fn invalid_value(namespace: &str, key: &str, error: &serde_json::Error) -> Error {
    Error::InvalidCacheValue {
        namespace: namespace.to_owned(),
        key: key.to_owned(),
        reason: error.to_string(),
    }
}

fn decode<T: DeserializeOwned>(namespace: &str, key: &str, value: &CacheValue) -> Result<T> {
    match value {
        CacheValue::Json(text) => serde_json::from_str(text).map_err(|e| Error::Conversion {
            message: format!("cache entry `{namespace}/{key}` is not a {}: {e}", std::any::type_name::<T>()),
        }),
        CacheValue::Bytes(_) => Err(Error::Conversion {
            message: format!("cache entry `{namespace}/{key}` holds bytes, not JSON; read it with get_bytes"),
        }),
    }
}

fn cache_entry(row: &Row<'_>) -> rusqlite::Result<CacheEntry> {
    let format: String = row.get(0)?;
    let value = match format.as_str() {
        "json" => CacheValue::Json(row.get(1)?),
        _ => CacheValue::Bytes(row.get(1)?),
    };
    Ok(CacheEntry {
        value,
        size: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
        expires_at: row.get::<_, Option<i64>>(3)?.map(to_datetime),
        created_at: to_datetime(row.get(4)?),
        updated_at: to_datetime(row.get(5)?),
        read_at: to_datetime(row.get(6)?),
        hits: row.get(7)?,
    })
}

fn namespace_stats(row: &Row<'_>) -> rusqlite::Result<NamespaceStats> {
    let count = |i: usize| -> rusqlite::Result<u64> { Ok(u64::try_from(row.get::<_, i64>(i)?).unwrap_or(0)) };
    Ok(NamespaceStats { namespace: row.get(0)?, entries: count(1)?, bytes: count(2)?, expired: count(3)? })
}
