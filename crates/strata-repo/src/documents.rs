//! The document store (tables `documents` and `document_tags`, migration V10, and the
//! files in `documents.dir` beside the database).
//!
//! A document's content is a file named by its SHA-256 in the store's sharded layout
//! (`strata_core::store`): identical content is stored once and shared by every row
//! that holds it. [`Documents::put`] streams the content into a 0600 temporary file in
//! the store's `tmp/`, hashing it and refusing it as soon as it passes
//! `documents.max_bytes`; fsyncs it; renames it into place (or drops it when the
//! content is already stored); fsyncs the directory; and only then inserts the row
//! through the writer, whose closure checks that the file is still there. A crash at
//! any point leaves the complete document or no row; what it can leave is a file no
//! row references, which [`Documents::gc`] removes once it is older than
//! `documents.gc_grace_secs`. `gc` and [`Documents::purge`] remove files from inside
//! a writer closure after checking that no row references them, so they never race a
//! put's insert.
//!
//! The MIME type comes from the content's magic bytes (`infer`), else from the name's
//! extension (`mime_guess`; not when the extension names a type with magic bytes the
//! content lacks), else `text/plain` for UTF-8 text without NUL bytes and
//! `application/octet-stream` for anything else; `documents.allowed_types` can refuse
//! it (E6082). A name is a label, never a path (E6080): no user string is ever joined
//! onto a filesystem path, only hex digests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use strata_core::store::{self, BlobFile};
use strata_core::{DocumentsConfig, Error, Result};
use strata_pool::{Pool, operation};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::clock::{now_ms, to_datetime};
use crate::row::{json_column, json_text, plus_one};
use crate::{Page, PageRequest};

/// Bytes read and written per step of a streamed put or get: memory stays at one
/// chunk whatever the document's size.
pub const CHUNK: usize = 64 * 1024;

/// From this size up, [`Documents::put`] hashes on one blocking thread while another
/// writes and fsyncs; below it one blocking call does both (a second thread costs
/// more than hashing a few KiB).
pub const PARALLEL_HASH: usize = 256 * 1024;

/// Up to this size (from the row), [`Documents::read_with`] reads the file on the
/// caller's thread in the same call that reads the row, as `read_inline` does key
/// lookups: a page-cache read of a few KiB costs less than a hop to the blocking pool.
pub const INLINE_READ: u64 = 64 * 1024;

/// Bytes of the content's start that MIME detection looks at.
const SNIFF: usize = 8 * 1024;

/// The longest document name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// One stored document (a row of `documents` with its tags).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// The document's id.
    pub id: i64,
    /// Its name: a label, not a path.
    pub name: String,
    /// The MIME type detected when it was stored.
    pub mime: String,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 of its content, 64 lowercase hex digits: its file's address.
    pub sha256: String,
    /// Its tags, sorted.
    pub tags: Vec<String>,
    /// Free-form metadata, a JSON value (`{}` by default).
    pub metadata: Value,
    /// When it was stored (UTC; RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was soft-deleted, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
    /// Who stored it, when the caller said.
    pub created_by: Option<String>,
}

strata_pool::one_row!(Document);

impl strata_pool::Affected for PurgeReport {
    fn affected(&self) -> u64 {
        self.rows
    }
}

impl strata_pool::Affected for GcReport {
    fn affected(&self) -> u64 {
        self.files + self.temp_files
    }
}

/// A document to store: its name and what goes with it. The content is given to
/// [`Documents::put`] or [`Documents::put_reader`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewDocument {
    /// Its name (E6080 when it is empty, over 255 bytes, or holds a path separator,
    /// `..`, NUL or a control character).
    pub name: String,
    /// Its tags (each non-empty, without control characters).
    pub tags: Vec<String>,
    /// Free-form metadata (`Value::Null` stores `{}`).
    pub metadata: Value,
    /// Who stores it.
    pub created_by: Option<String>,
    /// The content's size when known beforehand ([`Documents::put`] sets it): a
    /// document over `documents.max_bytes` is refused before anything is read
    /// (E6081), and one that would not fit in the free space of the store's volume
    /// before anything is written (E5031).
    pub size_hint: Option<u64>,
}

impl NewDocument {
    /// A document called `name`, untagged, without metadata.
    pub fn named(name: impl Into<String>) -> Self {
        NewDocument { name: name.into(), ..NewDocument::default() }
    }

    /// Adds a tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Sets the metadata.
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }

    /// Says who stores it.
    pub fn created_by(mut self, who: impl Into<String>) -> Self {
        self.created_by = Some(who.into());
        self
    }
}

/// What [`Documents::purge`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PurgeReport {
    /// Rows removed (deleted longer ago than the retention).
    pub rows: u64,
    /// Files removed because no row referenced them any more.
    pub files: u64,
    /// Bytes those files held.
    pub bytes: u64,
}

/// What [`Documents::gc`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GcReport {
    /// Content files no row referenced, removed.
    pub files: u64,
    /// Temporary files of puts that never finished, removed.
    pub temp_files: u64,
    /// Bytes removed in all.
    pub bytes: u64,
    /// Unreferenced files kept because they are younger than `documents.gc_grace_secs`
    /// (a put in flight may be about to insert their row).
    pub kept_young: u64,
}

/// A put's row: name, mime, size, sha256, metadata JSON, created_by, sorted tags.
type RowToInsert = (String, String, i64, String, String, Option<String>, Vec<String>);

/// Files removed per writer closure by `gc` and `purge`.
const REMOVE_CHUNK: usize = 256;

/// The document store repository: rows through the pool, files in [`Documents::dir`].
#[derive(Debug, Clone)]
pub struct Documents {
    pool: Pool,
    dir: PathBuf,
    config: DocumentsConfig,
}

impl Documents {
    /// The store of the pool's database with `config` (validated, E1003): its files
    /// live in `config.dir_for(pool.path())`, created on the first put.
    pub fn new(pool: Pool, config: DocumentsConfig) -> Result<Self> {
        config.validate()?;
        let dir = config.dir_for(pool.path());
        Ok(Documents { pool, dir, config })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The store's settings.
    pub fn config(&self) -> &DocumentsConfig {
        &self.config
    }

    /// Where the content with SHA-256 `digest` is stored; `None` when `digest` is not
    /// a digest.
    pub fn path_of(&self, digest: &str) -> Option<PathBuf> {
        store::blob_path(&self.dir, digest)
    }

    /// Stores `bytes` as a new document, with the guarantees and refusals of
    /// [`Documents::put_reader`]. The content is in memory already, so it is written
    /// in one blocking call instead of chunk by chunk: small content is hashed, written,
    /// fsynced and renamed into place in that call, on the calling thread when the
    /// runtime is multi-threaded (see `file_work`); from [`PARALLEL_HASH`] bytes up the
    /// hash runs on a blocking-pool thread while the write and fsync run.
    pub async fn put(&self, new: NewDocument, bytes: &[u8]) -> Result<Document> {
        operation("documents.put", "documents,document_tags", self.put_bytes(new, bytes)).await
    }

    async fn put_bytes(&self, new: NewDocument, bytes: &[u8]) -> Result<Document> {
        let size = bytes.len() as u64;
        self.admit(&new, Some(size))?;
        let mime = detect_mime(&bytes[..bytes.len().min(SNIFF)], &new.name);
        if !self.config.allows(&mime) {
            return Err(Error::DocumentTypeRefused { name: new.name, mime });
        }
        let mut temp = TempFile::reserve(self.temp_path(), &self.dir, &new.name);
        // The blocking pool needs owned bytes: one copy, cheaper than a hop per chunk.
        let content: Arc<[u8]> = Arc::from(bytes);
        let target = temp.target.clone();
        let (digest, placed) = if bytes.len() < PARALLEL_HASH {
            let dir = self.dir.clone();
            file_work("document put", move || -> Result<(String, Option<bool>)> {
                let digest = hex_sha256(&content);
                target.write_synced(&content)?;
                let final_path = blob_path(&dir, &digest)?;
                Ok((digest, Some(place_sync(&target.path, &final_path, &dir)?)))
            })
            .await?
        } else {
            // The hash starts on the blocking pool first, so it runs beside the write
            // wherever the write runs (on this thread or on the blocking pool too).
            let hashed = Arc::clone(&content);
            let hashing = tokio::task::spawn_blocking(move || hex_sha256(&hashed));
            file_work("document put", move || target.write_synced(&content)).await?;
            (hashing.await.map_err(|e| Error::task_failed("document put", e))?, None)
        };
        let final_path = blob_path(&self.dir, &digest)?;
        match placed {
            Some(placed) => temp.placed = placed,
            None => temp.place(&final_path).await?,
        }
        self.record(new, mime, size, digest, &final_path, temp).await
    }

    /// Streams `reader` into the store as a new document and returns its row. The
    /// content is read [`CHUNK`] bytes at a time, never whole. Refusals (E6080 name,
    /// E6081 size, E6082 type, E6001 tag) and failures (E5031 no space, E5005 file
    /// errors) leave no row and no file of this put behind.
    pub async fn put_reader<R: AsyncRead + Unpin>(&self, new: NewDocument, reader: R) -> Result<Document> {
        operation("documents.put", "documents,document_tags", self.put_stream(new, reader)).await
    }

    async fn put_stream<R: AsyncRead + Unpin>(&self, new: NewDocument, mut reader: R) -> Result<Document> {
        self.admit(&new, new.size_hint)?;
        let mut temp = TempFile::create(self.temp_path(), &self.dir, &new.name).await?;

        let mut hasher = Sha256::new();
        let mut head: Vec<u8> = Vec::new();
        let mut size: u64 = 0;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = reader.read(&mut buf).await.map_err(|e| Error::file_io("read", &new.name, &e))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            if size > self.config.max_bytes {
                return Err(Error::DocumentTooLarge { name: new.name, limit: self.config.max_bytes });
            }
            let chunk = &buf[..n];
            hasher.update(chunk);
            if head.len() < SNIFF {
                let take = (SNIFF - head.len()).min(n);
                head.extend_from_slice(&chunk[..take]);
            }
            temp.write(chunk).await?;
        }
        let mime = detect_mime(&head, &new.name);
        if !self.config.allows(&mime) {
            return Err(Error::DocumentTypeRefused { name: new.name, mime });
        }
        let digest = hex_digest(hasher);
        let final_path = blob_path(&self.dir, &digest)?;
        temp.place(&final_path).await?;
        self.record(new, mime, size, digest, &final_path, temp).await
    }

    /// The checks of a put before any byte is stored: name, tags, the size when known
    /// (against `documents.max_bytes` and the volume's free space); creates the store
    /// and its `tmp/` when missing.
    fn admit(&self, new: &NewDocument, size: Option<u64>) -> Result<()> {
        check_name(&new.name)?;
        for tag in &new.tags {
            check_tag(tag)?;
        }
        if let Some(size) = size
            && size > self.config.max_bytes
        {
            return Err(Error::DocumentTooLarge { name: new.name.clone(), limit: self.config.max_bytes });
        }
        // One stat when the store exists (every put but the first): its `tmp/` is in it.
        let tmp = self.dir.join(store::TMP_DIR);
        if !tmp.is_dir() {
            create_private_dir(&self.dir)?;
            create_private_dir(&tmp)?;
        }
        if let Some(size) = size
            && let Ok(free) = fs4::available_space(&self.dir)
            && size > free
        {
            return Err(Error::StoreFull {
                what: format!("document {}", new.name),
                path: self.dir.clone(),
                message: format!("it needs {size} bytes and the volume has {free} free"),
            });
        }
        Ok(())
    }

    /// A fresh temporary path in the store's `tmp/`.
    fn temp_path(&self) -> PathBuf {
        self.dir.join(store::TMP_DIR).join(format!(
            "{:016x}{:016x}.part",
            fastrand::u64(..),
            fastrand::u64(..)
        ))
    }

    /// Writes the row of a put whose content is in place and returns it as stored.
    async fn record(
        &self,
        new: NewDocument,
        mime: String,
        size: u64,
        digest: String,
        final_path: &Path,
        mut temp: TempFile,
    ) -> Result<Document> {
        let NewDocument { name, mut tags, metadata, created_by, .. } = new;
        tags.sort();
        tags.dedup();
        let metadata = if metadata.is_null() { Value::Object(serde_json::Map::new()) } else { metadata };
        let size_sql = i64::try_from(size).map_err(|_| Error::invalid("size", "over i64::MAX bytes"))?;
        let row = (name, mime, size_sql, digest, json_text(&metadata), created_by, tags);
        let (id, created_at) = match self.insert_row(final_path, row.clone()).await {
            // The content was stored already, so this put dropped nothing yet, and a gc
            // removed that file (unreferenced, past its grace) before the row was
            // written: place this put's own copy and write the row again.
            Err(Error::FileIo { action: "find", .. }) if !temp.placed => {
                temp.place(final_path).await?;
                self.insert_row(final_path, row.clone()).await?
            }
            other => other?,
        };
        temp.finish();
        let (name, mime, _, sha256, _, created_by, tags) = row;
        Ok(Document {
            id,
            name,
            mime,
            size,
            sha256,
            tags,
            metadata,
            created_at: to_datetime(created_at),
            deleted_at: None,
            created_by,
        })
    }

    /// Inserts a put's row (and tags) through the writer, after checking inside the
    /// writer closure that its file is still at `path`: gc and purge remove files
    /// inside writer closures after checking that no row references them, so the file
    /// is either still here (and now referenced) or gone, and then no row is written.
    async fn insert_row(&self, path: &Path, row: RowToInsert) -> Result<(i64, i64)> {
        let path = path.to_path_buf();
        let (name, mime, size, digest, metadata, created_by, tags) = row;
        self.pool
            .write(move |conn| {
                if !path.is_file() {
                    return Err(Error::FileIo {
                        action: "find",
                        path: path.clone(),
                        message: "the stored file was removed before its row was written".into(),
                    });
                }
                let created_at = now_ms();
                let id: i64 = conn
                    .prepare_cached(Self::INSERT)?
                    .query_row(params![name, mime, size, digest, metadata, created_at, created_by], |r| {
                        r.get(0)
                    })?;
                let mut tag_stmt = conn.prepare_cached(Self::INSERT_TAG)?;
                for tag in &tags {
                    tag_stmt.execute(params![id, tag])?;
                }
                Ok((id, created_at))
            })
            .await
    }

    const INSERT: &str = "INSERT INTO documents (name, mime, size, sha256, metadata, created_at, created_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id";

    const INSERT_TAG: &str = "INSERT INTO document_tags (document_id, tag) VALUES (?1, ?2)";

    const GET: &str = "SELECT id, name, mime, size, sha256, metadata, created_at, deleted_at, created_by \
         FROM documents WHERE id = ?1 AND deleted_at IS NULL";

    const TAGS: &str = "SELECT tag FROM document_tags WHERE document_id = ?1 ORDER BY tag";

    /// The live document `id`; E4002 when there is none (or it was deleted).
    pub async fn get(&self, id: i64) -> Result<Document> {
        operation("documents.get", "documents,document_tags", async move {
            self.pool
                .read_inline(move |conn| {
                    let doc = conn.prepare_cached(Self::GET)?.query_row([id], document).optional()?;
                    let mut doc = doc.ok_or_else(|| not_found(format!("document {id}")))?;
                    doc.tags = tags_of(conn, id)?;
                    Ok(doc)
                })
                .await
        })
        .await
    }

    const BY_NAME: &str = "SELECT id, name, mime, size, sha256, metadata, created_at, deleted_at, created_by \
         FROM documents WHERE name = ?1 AND deleted_at IS NULL ORDER BY id DESC LIMIT 1";

    /// The newest live document called `name`; E4002 when there is none.
    pub async fn find_by_name(&self, name: &str) -> Result<Document> {
        operation("documents.find_by_name", "documents,document_tags", async move {
            let name = name.to_owned();
            self.pool
                .read_inline(move |conn| {
                    let doc = conn.prepare_cached(Self::BY_NAME)?.query_row([&name], document).optional()?;
                    let mut doc = doc.ok_or_else(|| not_found(format!("document named {name:?}")))?;
                    doc.tags = tags_of(conn, doc.id)?;
                    Ok(doc)
                })
                .await
        })
        .await
    }

    /// Streams the content of the live document `id` into `writer`, [`CHUNK`] bytes
    /// at a time, and returns its row. With `verify`, the size and SHA-256 of what was
    /// read are checked against the row once the end is reached: a difference is
    /// E5030 (after the bytes were written: write to a temporary place and keep it only
    /// on success). A missing file is E5030 before anything is written.
    pub async fn read_to<W: AsyncWrite + Unpin>(
        &self,
        id: i64,
        mut writer: W,
        verify: bool,
    ) -> Result<Document> {
        operation("documents.read", "documents", async move {
            let doc = self.get(id).await?;
            let path = self.path_of(&doc.sha256).ok_or_else(|| damaged(id, "its sha256 is not a digest"))?;
            let mut file = match tokio::fs::File::open(&path).await {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(damaged(id, &format!("its file {} is missing", path.display())));
                }
                Err(e) => return Err(Error::file_io("open", &path, &e)),
            };
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = file.read(&mut buf).await.map_err(|e| Error::file_io("read", &path, &e))?;
                if n == 0 {
                    break;
                }
                size += n as u64;
                if verify {
                    hasher.update(&buf[..n]);
                }
                writer.write_all(&buf[..n]).await.map_err(|e| Error::file_io("write", "the output", &e))?;
            }
            writer.flush().await.map_err(|e| Error::file_io("write", "the output", &e))?;
            if verify {
                let digest = hex_digest(hasher);
                if size != doc.size {
                    return Err(damaged(
                        id,
                        &format!("its file holds {size} bytes, its row says {}", doc.size),
                    ));
                }
                if digest != doc.sha256 {
                    return Err(damaged(
                        id,
                        &format!("its file's sha256 is {digest}, its row says {}", doc.sha256),
                    ));
                }
            }
            Ok(doc)
        })
        .await
    }

    /// The whole content of the live document `id`, verified (E5030 on a mismatch).
    /// For small documents; stream large ones with [`Documents::read_to`].
    pub async fn read(&self, id: i64) -> Result<Vec<u8>> {
        self.read_with(id, true).await
    }

    const FILE_OF: &str = "SELECT size, sha256 FROM documents WHERE id = ?1 AND deleted_at IS NULL";

    /// The whole content of the live document `id`; with `verify`, its size and
    /// SHA-256 are checked against the row (E5030 on a mismatch). A missing file is
    /// E5030 either way, an unknown or deleted id E4002. Up to [`INLINE_READ`] bytes
    /// the file is read in the same call as the row, on the caller's thread; larger
    /// ones in one blocking call (see `file_work`). For small documents; stream large ones with
    /// [`Documents::read_to`].
    pub async fn read_with(&self, id: i64, verify: bool) -> Result<Vec<u8>> {
        let read = async { self.read_whole(id, verify).await.map(Content) };
        Ok(operation("documents.read", "documents", read).await?.0)
    }

    async fn read_whole(&self, id: i64, verify: bool) -> Result<Vec<u8>> {
        let dir = self.dir.clone();
        let found = self
            .pool
            .read_inline(move |conn| {
                let row = conn
                    .prepare_cached(Self::FILE_OF)?
                    .query_row([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                    .optional()?;
                let (size, sha256) = row.ok_or_else(|| not_found(format!("document {id}")))?;
                let path = store::blob_path(&dir, &sha256)
                    .ok_or_else(|| damaged(id, "its sha256 is not a digest"))?;
                // The CHECK keeps size >= 0.
                let file = StoredFile { id, path, size: u64::try_from(size).unwrap_or(0), sha256 };
                if file.size <= INLINE_READ {
                    file.read(verify).map(Whole::Read)
                } else {
                    Ok(Whole::Large(file))
                }
            })
            .await?;
        match found {
            Whole::Read(bytes) => Ok(bytes),
            Whole::Large(file) => file_work("document read", move || file.read(verify)).await,
        }
    }

    const DELETE: &str =
        "UPDATE documents SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL RETURNING id";

    /// Soft-deletes the live document `id`: it is no longer listed or read, and its row
    /// and file stay until [`Documents::purge`]. E4002 when there is no live document
    /// `id`.
    pub async fn delete(&self, id: i64) -> Result<()> {
        operation("documents.delete", "documents", async move {
            let found: Option<i64> = self
                .pool
                .write(move |conn| {
                    Ok(conn
                        .prepare_cached(Self::DELETE)?
                        .query_row(params![id, now_ms()], |r| r.get(0))
                        .optional()?)
                })
                .await?;
            found.map(|_| ()).ok_or_else(|| not_found(format!("document {id}")))
        })
        .await
    }

    const PURGE: &str = "DELETE FROM documents WHERE id IN \
         (SELECT id FROM documents WHERE deleted_at <= ?1 LIMIT +?2) RETURNING sha256";

    const REFERENCED: &str = "SELECT 1 FROM documents WHERE sha256 = ?1 LIMIT 1";

    /// Removes the rows deleted `retention` ago or longer (in chunks of one writer
    /// closure each), then the files that no row references any more.
    pub async fn purge(&self, retention: Duration) -> Result<PurgeReport> {
        operation("documents.purge", "documents", async move {
            let cutoff = now_ms().saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
            let mut report = PurgeReport::default();
            let mut digests = Vec::new();
            loop {
                let chunk: Vec<String> = self
                    .pool
                    .write(move |conn| {
                        let mut stmt = conn.prepare_cached(Self::PURGE)?;
                        let rows = stmt.query_map(params![cutoff, REMOVE_CHUNK as i64], |r| r.get(0))?;
                        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
                    })
                    .await?;
                report.rows += chunk.len() as u64;
                let done = chunk.len() < REMOVE_CHUNK;
                digests.extend(chunk);
                if done {
                    break;
                }
            }
            digests.sort();
            digests.dedup();
            let files: Vec<BlobFile> = digests
                .into_iter()
                .filter_map(|digest| {
                    let path = self.path_of(&digest)?;
                    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                    Some(BlobFile { digest, path, size, modified: None })
                })
                .collect();
            let (removed, bytes) = self.remove_unreferenced(files).await?;
            report.files = removed;
            report.bytes = bytes;
            Ok(report)
        })
        .await
    }

    /// Removes what a crash or a purge left behind: content files that no row (live or
    /// deleted) references and temporary files, once they are older than
    /// `documents.gc_grace_secs`.
    pub async fn gc(&self) -> Result<GcReport> {
        operation("documents.gc", "documents", async move {
            let grace = Duration::from_secs(self.config.gc_grace_secs);
            let old = |file: &BlobFile| {
                file.modified
                    .and_then(|m| SystemTime::now().duration_since(m).ok())
                    .is_some_and(|age| age >= grace)
            };
            let dir = self.dir.clone();
            let (blobs, temps) = tokio::task::spawn_blocking(move || {
                let blobs = store::blob_files(&dir).map_err(|e| Error::file_io("list", &dir, &e))?;
                let temps = store::tmp_files(&dir).map_err(|e| Error::file_io("list", &dir, &e))?;
                Ok::<_, Error>((blobs, temps))
            })
            .await
            .map_err(|e| Error::task_failed("documents gc", e))??;
            let mut report = GcReport::default();
            for temp in temps.iter().filter(|t| old(t)) {
                if remove_if_exists(&temp.path)? {
                    report.temp_files += 1;
                    report.bytes += temp.size;
                }
            }
            let (candidates, young): (Vec<BlobFile>, Vec<BlobFile>) = blobs.into_iter().partition(|b| old(b));
            let referenced = self.referenced(young.iter().map(|b| b.digest.clone()).collect()).await?;
            report.kept_young = young.len().saturating_sub(referenced) as u64;
            let (files, bytes) = self.remove_unreferenced(candidates).await?;
            report.files = files;
            report.bytes += bytes;
            Ok(report)
        })
        .await
    }

    /// How many of `digests` a row references.
    async fn referenced(&self, digests: Vec<String>) -> Result<usize> {
        self.pool
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(Self::REFERENCED)?;
                let mut n = 0;
                for digest in &digests {
                    if stmt.exists([digest])? {
                        n += 1;
                    }
                }
                Ok(n)
            })
            .await
    }

    /// Removes each of `files` that no row references, checking and removing inside
    /// writer closures so that no put inserts a row for a file being removed.
    async fn remove_unreferenced(&self, files: Vec<BlobFile>) -> Result<(u64, u64)> {
        let (mut removed, mut bytes) = (0u64, 0u64);
        for chunk in files.chunks(REMOVE_CHUNK) {
            let chunk = chunk.to_vec();
            let (n, b) = self
                .pool
                .write(move |conn| {
                    let mut stmt = conn.prepare_cached(Self::REFERENCED)?;
                    let (mut n, mut b) = (0u64, 0u64);
                    for file in &chunk {
                        if !stmt.exists([&file.digest])? && remove_if_exists(&file.path)? {
                            n += 1;
                            b += file.size;
                        }
                    }
                    Ok((n, b))
                })
                .await?;
            removed += n;
            bytes += b;
        }
        Ok((removed, bytes))
    }

    const LIST: &str = "SELECT id, name, mime, size, sha256, metadata, created_at, deleted_at, created_by \
         FROM documents WHERE id > ?1 AND deleted_at IS NULL ORDER BY id LIMIT +?2";

    const LIST_BY_TAG: &str = "SELECT d.id, d.name, d.mime, d.size, d.sha256, d.metadata, d.created_at, d.deleted_at, d.created_by \
         FROM document_tags t JOIN documents d ON d.id = t.document_id \
         WHERE t.tag = ?1 AND t.document_id > ?2 AND d.deleted_at IS NULL ORDER BY t.document_id LIMIT +?3";

    /// The live documents, oldest first, keyset by id; only those tagged `tag` when
    /// given.
    pub async fn list(&self, tag: Option<&str>, page: PageRequest) -> Result<Page<Document>> {
        operation("documents.list", "documents,document_tags", async move {
            let limit = page.sql_limit()?;
            let tag = tag.map(str::to_owned);
            self.pool
                .read(move |conn| {
                    let after = page.after.unwrap_or(i64::MIN);
                    let mut rows = match &tag {
                        None => conn
                            .prepare_cached(Self::LIST)?
                            .query_map(params![after, plus_one(limit)], document)?
                            .collect::<rusqlite::Result<Vec<_>>>()?,
                        Some(tag) => conn
                            .prepare_cached(Self::LIST_BY_TAG)?
                            .query_map(params![tag, after, plus_one(limit)], document)?
                            .collect::<rusqlite::Result<Vec<_>>>()?,
                    };
                    for doc in &mut rows {
                        doc.tags = tags_of(conn, doc.id)?;
                    }
                    Ok(Page::from_rows(rows, page.limit, |d| d.id))
                })
                .await
        })
        .await
    }
}

/// Every statement of this module, for the explain test.
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("documents.insert", Documents::INSERT),
    ("documents.insert_tag", Documents::INSERT_TAG),
    ("documents.get", Documents::GET),
    ("documents.file_of", Documents::FILE_OF),
    ("documents.tags", Documents::TAGS),
    ("documents.by_name", Documents::BY_NAME),
    ("documents.delete", Documents::DELETE),
    ("documents.purge", Documents::PURGE),
    ("documents.referenced", Documents::REFERENCED),
    ("documents.list", Documents::LIST),
    ("documents.list_by_tag", Documents::LIST_BY_TAG),
];

/// The MIME type of content starting with `head` and called `name`: magic bytes,
/// then the extension (unless it names a type with magic bytes that the content does
/// not have), then UTF-8 text, then `application/octet-stream`.
pub fn detect_mime(head: &[u8], name: &str) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_string();
    }
    if let Some(guess) = mime_guess::from_path(name).first_raw() {
        // An extension naming a type whose magic bytes infer knows, on content without
        // them, is a lie (`photo.png` holding text): the content decides below.
        if !infer::is_mime_supported(guess) {
            return guess.to_string();
        }
    }
    if !head.is_empty() && !head.contains(&0) && looks_like_utf8(head) {
        return "text/plain".to_string();
    }
    "application/octet-stream".to_string()
}

/// UTF-8, allowing a character cut at the end of the sniffed head.
fn looks_like_utf8(head: &[u8]) -> bool {
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    }
}

/// Refuses a name that could be read as a path or hides characters (E6080).
pub fn check_name(name: &str) -> Result<()> {
    let refuse = |reason: &str| Err(Error::DocumentName { name: format!("{name:?}"), reason: reason.into() });
    if name.is_empty() {
        return refuse("it is empty");
    }
    if name.len() > MAX_NAME_BYTES {
        return refuse("it is longer than 255 bytes");
    }
    if name.contains('\0') {
        return refuse("it holds a NUL character");
    }
    if name.chars().any(char::is_control) {
        return refuse("it holds a control character");
    }
    if name.contains('/') || name.contains('\\') {
        return refuse("it holds a path separator");
    }
    if name == "." || name.contains("..") {
        return refuse("it holds `..` or is `.`");
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<()> {
    if tag.is_empty() || tag.chars().any(char::is_control) {
        return Err(Error::invalid("tag", format!("{tag:?} is empty or holds a control character")));
    }
    Ok(())
}

fn document(row: &Row<'_>) -> rusqlite::Result<Document> {
    let size: i64 = row.get(3)?;
    Ok(Document {
        id: row.get(0)?,
        name: row.get(1)?,
        mime: row.get(2)?,
        // The CHECK keeps size >= 0.
        size: u64::try_from(size).unwrap_or(0),
        sha256: row.get(4)?,
        tags: Vec::new(),
        metadata: json_column(row, 5)?,
        created_at: to_datetime(row.get(6)?),
        deleted_at: row.get::<_, Option<i64>>(7)?.map(to_datetime),
        created_by: row.get(8)?,
    })
}

fn tags_of(conn: &Connection, id: i64) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(Documents::TAGS)?;
    Ok(stmt.query_map([id], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?)
}

fn not_found(what: String) -> Error {
    Error::NotFound { what }
}

fn damaged(id: i64, reason: &str) -> Error {
    Error::DocumentDamaged { id, reason: reason.into() }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| Error::file_io("create directory", dir, &e))
}

fn remove_if_exists(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::file_io("remove", path, &e)),
    }
}

fn fsync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let file = std::fs::File::open(dir).map_err(|e| Error::file_io("open directory", dir, &e))?;
        file.sync_all().map_err(|e| Error::file_io("fsync directory", dir, &e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A document's whole content, one row to the operation log (not a row per byte).
struct Content(Vec<u8>);

strata_pool::one_row!(Content);

/// A live document's file as its row describes it.
struct StoredFile {
    id: i64,
    path: PathBuf,
    size: u64,
    sha256: String,
}

/// What [`Documents::read_with`]'s row lookup leaves: the content, or a file too large
/// to read on the caller's thread.
enum Whole {
    Read(Vec<u8>),
    Large(StoredFile),
}

impl StoredFile {
    /// The whole file, checked against the row's size and SHA-256 with `verify`.
    fn read(&self, verify: bool) -> Result<Vec<u8>> {
        let id = self.id;
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(damaged(id, &format!("its file {} is missing", self.path.display())));
            }
            Err(e) => return Err(Error::file_io("read", &self.path, &e)),
        };
        if verify {
            if bytes.len() as u64 != self.size {
                return Err(damaged(
                    id,
                    &format!("its file holds {} bytes, its row says {}", bytes.len(), self.size),
                ));
            }
            let digest = hex_sha256(&bytes);
            if digest != self.sha256 {
                return Err(damaged(
                    id,
                    &format!("its file's sha256 is {digest}, its row says {}", self.sha256),
                ));
            }
        }
        Ok(bytes)
    }
}

/// Where a put's temporary file is, and how its I/O errors read.
#[derive(Debug, Clone)]
struct TempTarget {
    path: PathBuf,
    store: PathBuf,
    what: String,
}

impl TempTarget {
    /// An I/O error of this put: no space is E5031, anything else E5005.
    fn io_error(&self, action: &'static str, err: &std::io::Error) -> Error {
        if err.kind() == std::io::ErrorKind::StorageFull || err.raw_os_error() == Some(28) {
            Error::StoreFull { what: self.what.clone(), path: self.store.clone(), message: err.to_string() }
        } else {
            Error::file_io(action, &self.path, err)
        }
    }

    /// Creates the file (0600, never over an existing one), writes `bytes` and fsyncs
    /// it, in the calling (blocking) thread.
    fn write_synced(&self, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&self.path).map_err(|e| Error::file_io("create", &self.path, &e))?;
        file.write_all(bytes).map_err(|e| self.io_error("write", &e))?;
        file.sync_all().map_err(|e| self.io_error("fsync", &e))
    }
}

/// A put's temporary file: removed when dropped unless [`TempFile::finish`]ed, so that
/// every refusal and failure leaves nothing behind.
struct TempFile {
    target: TempTarget,
    file: Option<tokio::fs::File>,
    /// Set once the file was renamed into place (then there is nothing to remove).
    placed: bool,
}

impl TempFile {
    /// A temporary file at `path` that a blocking write creates ([`TempTarget::write_synced`]);
    /// removed when dropped unless placed, like one [`TempFile::create`]d.
    fn reserve(path: PathBuf, store: &Path, name: &str) -> TempFile {
        TempFile {
            target: TempTarget { path, store: store.to_path_buf(), what: format!("document {name}") },
            file: None,
            placed: false,
        }
    }

    /// Creates the temporary file at `path` (0600) for a streamed put.
    async fn create(path: PathBuf, store: &Path, name: &str) -> Result<TempFile> {
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let file = options.open(&path).await.map_err(|e| Error::file_io("create", &path, &e))?;
        let mut temp = TempFile::reserve(path, store, name);
        temp.file = Some(file);
        Ok(temp)
    }

    async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        let Some(file) = self.file.as_mut() else { return Ok(()) };
        file.write_all(chunk).await.map_err(|e| self.target.io_error("write", &e))
    }

    /// Syncs the file and moves it to `target` (its content's address), or keeps it
    /// when that content is already stored ([`place_sync`]).
    async fn place(&mut self, target: &Path) -> Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush().await.map_err(|e| self.target.io_error("write", &e))?;
            file.sync_all().await.map_err(|e| self.target.io_error("fsync", &e))?;
        }
        let (path, target, store) =
            (self.target.path.clone(), target.to_path_buf(), self.target.store.clone());
        let placed = file_work("document put", move || place_sync(&path, &target, &store)).await?;
        self.placed = placed;
        Ok(())
    }

    /// The row is written: the file (when it was not placed) may go.
    fn finish(self) {}
}

/// Moves the synced temporary file `path` to `target` (its content's address) and
/// fsyncs the directories that changed; `false` when that content is stored already
/// (then `path` stays until the row is written, in case a gc takes that file first).
fn place_sync(path: &Path, target: &Path, store: &Path) -> Result<bool> {
    // Only hex digests are joined under the store, so the parent is the shard.
    let shard = target.parent().unwrap_or(store).to_path_buf();
    if target.is_file() {
        // Keep that file untouched: the store's watcher takes a time change for a write.
        return Ok(false);
    }
    let created = !shard.is_dir();
    if created {
        create_private_dir(&shard)?;
    }
    std::fs::rename(path, target).map_err(|e| Error::file_io("rename", path, &e))?;
    fsync_dir(&shard)?;
    if created {
        // A new shard directory must survive a crash too: its entry is in the store.
        fsync_dir(store)?;
    }
    Ok(true)
}

/// Runs blocking file work (a put's write, fsyncs and rename, a large read) and answers
/// its result; `what` names it in the E9002 of a panic.
/// On a multi-thread runtime it runs on the calling thread with
/// `tokio::task::block_in_place`, which first hands the worker's other tasks to another
/// thread: the put waits for its fsyncs either way, and two thread hops (to a
/// blocking-pool thread and back) cost a 4 KiB put about a fifth of its time. A
/// current-thread runtime cannot hand its tasks over, so there the work goes to the
/// blocking pool.
async fn file_work<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::runtime::Handle::current().runtime_flavor() {
        // A panic in the work is E9002 here too, as from the blocking pool.
        tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                .unwrap_or_else(|panic| Err(Error::task_failed(what, crate::queue::panic_message(panic))))
        }),
        _ => tokio::task::spawn_blocking(work).await.map_err(|e| Error::task_failed(what, e))?,
    }
}

/// The store path of a digest this module computed (64 hex characters always have one).
fn blob_path(dir: &Path, digest: &str) -> Result<PathBuf> {
    store::blob_path(dir, digest).ok_or_else(|| Error::invalid("sha256", "not a digest"))
}

/// A finished hash as the lowercase hex of a content address.
fn hex_digest(hasher: Sha256) -> String {
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The content address of `bytes`.
fn hex_sha256(bytes: &[u8]) -> String {
    hex_digest(Sha256::new_with_prefix(bytes))
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.placed {
            // Best effort: a temporary file left behind is removed by gc.
            let _ = std::fs::remove_file(&self.target.path);
        }
    }
}
