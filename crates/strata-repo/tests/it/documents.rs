//! The document store: streamed round trips, dedup, MIME detection from real formats,
//! every validation refusal leaving nothing behind, soft delete, purge, gc, keyset
//! listing by tag, and the modes of what it creates.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use strata_core::{DocumentsConfig, ErrorKind};
use strata_repo::{Documents, NewDocument, PageRequest};

use crate::migrated;

async fn store(dir: &Path, config: DocumentsConfig) -> Documents {
    let pool = migrated(dir).await;
    Documents::new(pool, config).unwrap()
}

/// Every file under `dir` (recursively), relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn empty_and_small_documents_round_trip_and_live_beside_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let docs = store(dir.path(), DocumentsConfig::default()).await;
    assert_eq!(docs.dir(), dir.path().join("test.db.files"));

    let empty = docs.put(NewDocument::named("empty.bin"), b"").await.unwrap();
    assert_eq!(empty.size, 0);
    assert_eq!(empty.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(docs.read(empty.id).await.unwrap(), b"");

    let kb: Vec<u8> = (0..1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let doc = docs
        .put(NewDocument::named("one.kb").tag("b").tag("a").metadata(json!({"k": 1})).created_by("ann"), &kb)
        .await
        .unwrap();
    assert_eq!(doc.size, 1024);
    assert_eq!(doc.tags, ["a", "b"]);
    assert_eq!(doc.metadata, json!({"k": 1}));
    assert_eq!(doc.created_by.as_deref(), Some("ann"));
    assert_eq!(docs.read(doc.id).await.unwrap(), kb);
    assert_eq!(docs.find_by_name("one.kb").await.unwrap().id, doc.id);
    let path = docs.path_of(&doc.sha256).unwrap();
    assert_eq!(path.parent(), Some(docs.dir().join(&doc.sha256[..2]).as_path()));
    assert_eq!(std::fs::read(&path).unwrap(), kb);
}

#[cfg(unix)]
#[tokio::test]
async fn files_are_0600_and_directories_0700() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let docs = store(dir.path(), DocumentsConfig::default()).await;
    let doc = docs.put(NewDocument::named("a.txt"), b"hello").await.unwrap();
    let file = docs.path_of(&doc.sha256).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    assert_eq!(mode(file.parent().unwrap().parent().unwrap()), 0o700);
    assert_eq!(mode(docs.dir()), 0o700);
}

#[tokio::test]
async fn identical_content_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let docs = store(dir.path(), DocumentsConfig::default()).await;
    let a = docs.put(NewDocument::named("a"), b"same bytes").await.unwrap();
    let b = docs.put(NewDocument::named("b"), b"same bytes").await.unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(a.sha256, b.sha256);
    let stored: Vec<String> = files_under(docs.dir()).into_iter().filter(|f| !f.starts_with("tmp")).collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(files_under(&docs.dir().join("tmp")).is_empty());
    // Deleting one keeps the shared file for the other.
    docs.delete(a.id).await.unwrap();
    docs.purge(Duration::ZERO).await.unwrap();
    assert_eq!(docs.read(b.id).await.unwrap(), b"same bytes");
}

/// Minimal but real files of each format, as their own tools write them.
fn formats() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    // A 1x1 PNG.
    let png: Vec<u8> = vec![
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00,
        0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00,
        0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01,
        0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];
    // A gzip stream of empty content (header, an empty fixed deflate block, crc, size).
    let gzip: Vec<u8> =
        vec![0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];
    // An empty ZIP archive with one stored entry's local header.
    let mut zip: Vec<u8> = b"PK\x03\x04\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
    zip.extend_from_slice(&[0; 12]);
    zip.extend_from_slice(b"PK\x05\x06");
    zip.extend_from_slice(&[0; 18]);
    let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec();
    let gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;".to_vec();
    let jpeg: Vec<u8> = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0, 0, 1, 0, 1, 0, 0,
        0xFF, 0xD9,
    ];
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&[
        58, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 24, 0,
    ]);
    bmp.extend_from_slice(&[0; 28]);
    let mut wav = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x44\xac\x00\x00\x88\x58\x01\x00\x02\x00\x10\x00data".to_vec();
    wav.extend_from_slice(&[0; 4]);
    // A real SQLite database file, written by SQLite.
    let db_dir = tempfile::tempdir().unwrap();
    let db_path = db_dir.path().join("x.db");
    {
        let conn = rusqlite::Connection::open(&db_path).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
    }
    let sqlite = std::fs::read(&db_path).unwrap();
    let json = serde_json::to_vec(&json!({"a": [1, 2, 3]})).unwrap();
    vec![
        ("image.png", png.clone(), "image/png"),
        ("archive.gz", gzip, "application/gzip"),
        ("archive.zip", zip, "application/zip"),
        ("paper.pdf", pdf, "application/pdf"),
        ("anim.gif", gif, "image/gif"),
        ("photo.jpg", jpeg, "image/jpeg"),
        ("picture.bmp", bmp, "image/bmp"),
        ("sound.wav", wav, "audio/x-wav"),
        ("data.sqlite", sqlite, "application/vnd.sqlite3"),
        ("data.json", json, "application/json"),
        ("notes.txt", b"plain words\n".to_vec(), "text/plain"),
        ("README", "plain words, no extension: \u{e9}\n".as_bytes().to_vec(), "text/plain"),
        ("table.csv", b"a,b\n1,2\n".to_vec(), "text/csv"),
        // The extension lies: the bytes are a PNG.
        ("innocent.txt", png, "image/png"),
        // The extension lies the other way: it says PNG, the bytes are text.
        ("photo.png", b"no image here\n".to_vec(), "text/plain"),
        ("blob", vec![0, 1, 2, 3, 0, 0xFF], "application/octet-stream"),
    ]
}

#[tokio::test]
async fn the_mime_type_comes_from_the_content_then_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let docs = store(dir.path(), DocumentsConfig::default()).await;
    let mut wrong = Vec::new();
    for (name, bytes, expected) in formats() {
        let doc = docs.put(NewDocument::named(name), &bytes).await.unwrap();
        if doc.mime != expected {
            wrong.push(format!("{name}: {} (expected {expected})", doc.mime));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn the_allow_list_refuses_other_types_and_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = DocumentsConfig {
        allowed_types: vec!["image/*".into(), "application/pdf".into()],
        ..Default::default()
    };
    let docs = store(dir.path(), config).await;
    let formats = formats();
    let png = &formats[0].1;
    docs.put(NewDocument::named("ok.png"), png).await.unwrap();
    docs.put(NewDocument::named("ok.pdf"), &formats[3].1).await.unwrap();
    let err = docs.put(NewDocument::named("lying.png"), b"just text").await.unwrap_err();
    assert_eq!(err.code(), "E6082", "{err}");
    // The extension says PNG, the bytes are text: the bytes win.
    assert!(err.to_string().contains("text/plain"), "{err}");
    let err = docs.put(NewDocument::named("x.txt"), b"text").await.unwrap_err();
    assert_eq!(err.code(), "E6082", "{err}");
    assert_eq!(docs.list(None, PageRequest::first(10)).await.unwrap().items.len(), 2);
    assert!(files_under(&docs.dir().join("tmp")).is_empty());
    assert_eq!(files_under(docs.dir()).len(), 2);
}

#[tokio::test]
async fn a_document_over_the_limit_is_refused_while_streaming() {
    let dir = tempfile::tempdir().unwrap();
    let config = DocumentsConfig { max_bytes: 100_000, ..Default::default() };
    let docs = store(dir.path(), config).await;
    // A reader that would go on forever: the put must stop at the limit, not at the end.
    let endless = tokio::io::repeat(b'x');
    let err = docs.put_reader(NewDocument::named("endless"), endless).await.unwrap_err();
    assert_eq!(err.code(), "E6081", "{err}");
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(!err.hint().is_empty());
    docs.put(NewDocument::named("fits"), &vec![b'y'; 100_000]).await.unwrap();
    assert_eq!(files_under(docs.dir()).len(), 1, "{:?}", files_under(docs.dir()));
}

#[tokio::test]
async fn every_bad_name_is_refused_with_e6080_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let docs = store(dir.path(), DocumentsConfig::default()).await;
    let long = "a".repeat(256);
    for name in
        ["", "a/b", "a\\b", "..", "../etc/passwd", "x..y", ".", "nul\0", "tab\there", "bell\u{7}", &long]
    {
        let err = docs.put(NewDocument::named(name), b"content").await.unwrap_err();
        assert_eq!(err.code(), "E6080", "{name:?}: {err}");
        assert!(!err.hint().is_empty());
    }
    let err = docs.put(NewDocument::named("ok").tag(""), b"content").await.unwrap_err();
    assert_eq!(err.code(), "E6001", "{err}");
    assert!(files_under(docs.dir()).is_empty(), "{:?}", files_under(docs.dir()));
    assert!(docs.list(None, PageRequest::first(10)).await.unwrap().items.is_empty());
    // Unicode that is not a control character is a fine name.
    docs.put(NewDocument::named("résumé 2026.pdf"), b"%PDF-1.4").await.unwrap();
}

#[tokio::test]
async fn delete_is_soft_and_purge_removes_rows_then_unreferenced_files() {
    let dir = tempfile::tempdir().unwrap();
    let docs = store(dir.path(), DocumentsConfig::default()).await;
    let doc = docs.put(NewDocument::named("gone"), b"to be purged").await.unwrap();
    let path = docs.path_of(&doc.sha256).unwrap();
    docs.delete(doc.id).await.unwrap();
    assert_eq!(docs.get(doc.id).await.unwrap_err().code(), "E4002");
    assert_eq!(docs.delete(doc.id).await.unwrap_err().code(), "E4002");
    assert!(path.is_file(), "a soft delete keeps the file");
    let report = docs.purge(Duration::from_secs(3600)).await.unwrap();
    assert_eq!(report.rows, 0, "deleted just now: inside the retention");
    assert!(path.is_file());
    let report = docs.purge(Duration::ZERO).await.unwrap();
    assert_eq!((report.rows, report.files, report.bytes), (1, 1, 12));
    assert!(!path.exists());
}

#[tokio::test]
async fn gc_removes_old_orphans_and_temp_files_but_not_referenced_or_young_ones() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let young = Documents::new(pool.clone(), DocumentsConfig::default()).unwrap();
    let docs = Documents::new(pool, DocumentsConfig { gc_grace_secs: 0, ..Default::default() }).unwrap();
    let kept = docs.put(NewDocument::named("kept"), b"kept").await.unwrap();
    // What a crash leaves: a file renamed into place whose row never committed, and a
    // temporary file of a put that never finished.
    let orphan_digest = "ab".repeat(32);
    let orphan = docs.path_of(&orphan_digest).unwrap();
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"orphan").unwrap();
    std::fs::write(docs.dir().join("tmp").join("x.part"), b"half").unwrap();

    let report = young.gc().await.unwrap();
    assert_eq!((report.files, report.temp_files, report.kept_young), (0, 0, 1));
    assert!(orphan.is_file());

    let report = docs.gc().await.unwrap();
    assert_eq!((report.files, report.temp_files, report.bytes), (1, 1, 10), "{report:?}");
    assert!(!orphan.exists());
    assert_eq!(docs.read(kept.id).await.unwrap(), b"kept");
}

#[tokio::test]
async fn listing_is_keyset_paged_and_filters_by_tag() {
    let dir = tempfile::tempdir().unwrap();
    let docs = store(dir.path(), DocumentsConfig::default()).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut new = NewDocument::named(format!("d{i}"));
        if i % 2 == 0 {
            new = new.tag("even");
        }
        ids.push(docs.put(new, format!("content {i}").as_bytes()).await.unwrap().id);
    }
    docs.delete(ids[2]).await.unwrap();
    let mut seen = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let p = docs.list(None, page).await.unwrap();
        seen.extend(p.items.iter().map(|d| d.id));
        match p.next {
            Some(next) => page = PageRequest::after(next, 2),
            None => break,
        }
    }
    let live: Vec<i64> = ids.iter().copied().filter(|id| *id != ids[2]).collect();
    assert_eq!(seen, live);
    let even = docs.list(Some("even"), PageRequest::first(10)).await.unwrap();
    let even_ids: Vec<i64> = even.items.iter().map(|d| d.id).collect();
    assert_eq!(even_ids, [ids[0], ids[4], ids[6]]);
    assert!(even.items.iter().all(|d| d.tags == ["even"]));
}

#[tokio::test]
async fn a_changed_file_fails_a_verified_read_with_e5030() {
    let dir = tempfile::tempdir().unwrap();
    let docs = store(dir.path(), DocumentsConfig::default()).await;
    let doc = docs.put(NewDocument::named("x"), b"original").await.unwrap();
    let path = docs.path_of(&doc.sha256).unwrap();
    std::fs::write(&path, b"tampered").unwrap();
    let err = docs.read(doc.id).await.unwrap_err();
    assert_eq!(err.code(), "E5030", "{err}");
    // Unverified, the read hands back what the file holds; a short file is caught by
    // the verified read's size check before any hashing.
    assert_eq!(docs.read_with(doc.id, false).await.unwrap(), b"tampered");
    std::fs::write(&path, b"short").unwrap();
    let err = docs.read(doc.id).await.unwrap_err();
    assert!(err.to_string().contains("holds 5 bytes"), "{err}");
    std::fs::remove_file(&path).unwrap();
    for verify in [true, false] {
        let err = docs.read_with(doc.id, verify).await.unwrap_err();
        assert_eq!(err.code(), "E5030", "{err}");
        assert!(err.to_string().contains("missing"), "{err}");
    }
}

#[tokio::test]
async fn a_document_that_would_not_fit_on_the_volume_is_refused_before_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let docs = store(dir.path(), DocumentsConfig { max_bytes: u64::MAX, ..Default::default() }).await;
    let free = fs4::available_space(dir.path()).unwrap();
    let mut new = NewDocument::named("huge.bin");
    new.size_hint = Some(free + 1024 * 1024 * 1024);
    // The reader never ends: the refusal must come before reading it.
    let reader = tokio::io::repeat(0);
    let err = docs.put_reader(new, reader).await.unwrap_err();
    assert_eq!(err.code(), "E5031", "{err}");
    assert_eq!(err.kind(), ErrorKind::Storage);
    assert!(err.to_string().contains("needs"), "{err}");
    assert!(files_under(docs.dir()).is_empty(), "{:?}", files_under(docs.dir()));
    // Over the size limit is refused before reading too.
    let small_dir = tempfile::tempdir().unwrap();
    let small = store(small_dir.path(), DocumentsConfig { max_bytes: 10, ..Default::default() }).await;
    let err = small.put(NewDocument::named("eleven"), b"eleven byte").await.unwrap_err();
    assert_eq!(err.code(), "E6081", "{err}");
}

/// Content of `size` bytes that differs from other sizes' content.
fn sized(size: usize) -> Vec<u8> {
    (0..size).map(|i| ((i * 31 + size) % 253) as u8).collect()
}

#[tokio::test]
async fn documents_on_either_side_of_the_inline_read_and_parallel_hash_sizes_round_trip() {
    use strata_repo::documents::{INLINE_READ, PARALLEL_HASH};
    let dir = tempfile::tempdir().unwrap();
    let docs = store(dir.path(), DocumentsConfig::default()).await;
    let inline = usize::try_from(INLINE_READ).unwrap();
    for size in [inline, inline + 1, PARALLEL_HASH - 1, PARALLEL_HASH, 2 * PARALLEL_HASH + 3] {
        let bytes = sized(size);
        let put =
            docs.put(NewDocument::named(format!("{size}.bin")).tag("z").tag("a"), &bytes).await.unwrap();
        // What put returns without reading the row back is what the row holds.
        assert_eq!(put, docs.get(put.id).await.unwrap(), "size {size}");
        assert_eq!(put.metadata, json!({}));
        assert_eq!(put.tags, ["a", "z"]);
        assert_eq!(docs.read(put.id).await.unwrap(), bytes, "verified read of {size}");
        assert_eq!(docs.read_with(put.id, false).await.unwrap(), bytes, "unverified read of {size}");
        // The streamed put of the same content has the same address and shares the file.
        let streamed =
            docs.put_reader(NewDocument::named(format!("{size}.again")), &bytes[..]).await.unwrap();
        assert_eq!(streamed.sha256, put.sha256, "size {size}");
        assert_eq!(docs.read(streamed.id).await.unwrap(), bytes);
    }
    let stored: Vec<String> = files_under(docs.dir()).into_iter().filter(|f| !f.starts_with("tmp")).collect();
    assert_eq!(stored.len(), 5, "one file per distinct content, no temporary file left: {stored:?}");
}

#[tokio::test]
async fn a_large_changed_or_missing_file_fails_a_read_like_a_small_one() {
    let dir = tempfile::tempdir().unwrap();
    let docs = store(dir.path(), DocumentsConfig::default()).await;
    let bytes = sized(300 * 1024);
    let doc = docs.put(NewDocument::named("large.bin"), &bytes).await.unwrap();
    let path = docs.path_of(&doc.sha256).unwrap();
    let mut changed = bytes.clone();
    changed[200_000] ^= 1;
    std::fs::write(&path, &changed).unwrap();
    let err = docs.read(doc.id).await.unwrap_err();
    assert_eq!(err.code(), "E5030", "{err}");
    assert!(err.to_string().contains("sha256"), "{err}");
    assert_eq!(docs.read_with(doc.id, false).await.unwrap(), changed);
    std::fs::remove_file(&path).unwrap();
    for verify in [true, false] {
        let err = docs.read_with(doc.id, verify).await.unwrap_err();
        assert_eq!(err.code(), "E5030", "{err}");
    }
    let err = docs.read_with(doc.id + 1, false).await.unwrap_err();
    assert_eq!(err.code(), "E4002", "an unknown id: {err}");
    docs.delete(doc.id).await.unwrap();
    assert_eq!(docs.read_with(doc.id, false).await.unwrap_err().code(), "E4002", "a deleted document");
}

#[tokio::test]
async fn every_document_operation_runs_in_a_span_with_its_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let docs = store(dir.path(), DocumentsConfig::default()).await;
    let lines = crate::op_spans::logged(async {
        let doc = docs.put(NewDocument::named("a.txt"), b"hello").await.unwrap();
        docs.read(doc.id).await.unwrap();
        docs.list(None, PageRequest::first(10)).await.unwrap();
        assert_eq!(docs.get(doc.id + 100).await.unwrap_err().code(), "E4002");
        assert_eq!(docs.put(NewDocument::named("../x"), b"x").await.unwrap_err().code(), "E6080");
    })
    .await;
    for expected in [
        "op=\"documents.put\" tables=\"documents,document_tags\" rows=1",
        "op=\"documents.read\" tables=\"documents\" rows=1",
        "op=\"documents.list\" tables=\"documents,document_tags\" rows=1",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(expected) && l.contains("outcome=\"ok\"")),
            "{expected} in {lines:#?}"
        );
    }
    for (op, code) in [("documents.get", "E4002"), ("documents.put", "E6080")] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("op=\"{op}\"")) && l.contains(&format!("code=\"{code}\""))),
            "{op} failing with {code} in {lines:#?}"
        );
    }
}

/// On a multi-thread runtime a small put does its file work on the calling worker
/// (`block_in_place`) instead of the blocking pool: puts from many concurrent tasks
/// all land with their rows and files, identical content is stored once, and a task
/// that only ticks keeps running beside them (the worker's other tasks are handed on);
/// a large put and a large read, and a damaged file's E5030, behave as on the blocking pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_puts_from_concurrent_tasks_on_a_multi_thread_runtime_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let docs = store(dir.path(), DocumentsConfig::default()).await;
    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let ticking = tokio::spawn({
        let ticks = std::sync::Arc::clone(&ticks);
        async move {
            loop {
                ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    let mut puts = tokio::task::JoinSet::new();
    for i in 0..48u32 {
        let docs = docs.clone();
        puts.spawn(async move {
            let content = format!("content {}", i % 8).into_bytes();
            let doc = docs.put(NewDocument::named(format!("d{i}.txt")), &content).await.unwrap();
            (doc, content)
        });
    }
    let mut stored = Vec::new();
    while let Some(done) = puts.join_next().await {
        stored.push(done.unwrap());
    }
    ticking.abort();
    assert!(ticks.load(std::sync::atomic::Ordering::Relaxed) > 0, "the ticking task never ran");
    assert_eq!(stored.len(), 48);
    for (doc, content) in &stored {
        assert_eq!(&docs.read(doc.id).await.unwrap(), content, "{}", doc.name);
    }
    assert_eq!(docs.list(None, PageRequest::first(100)).await.unwrap().items.len(), 48);
    let files: Vec<String> = files_under(docs.dir()).into_iter().filter(|f| !f.starts_with("tmp")).collect();
    assert_eq!(files.len(), 8, "one file per distinct content: {files:?}");
    assert!(files_under(&docs.dir().join("tmp")).is_empty());

    // A large put (its hash beside the write) and a large read (past the inline read)
    // take the same path.
    let large: Vec<u8> = (0..300 * 1024u32).map(|i| (i % 253) as u8).collect();
    let doc = docs.put(NewDocument::named("large.bin"), &large).await.unwrap();
    assert_eq!(docs.read(doc.id).await.unwrap(), large);
    assert_eq!(docs.read_with(doc.id, false).await.unwrap(), large);
    std::fs::write(docs.path_of(&doc.sha256).unwrap(), b"changed behind strata's back").unwrap();
    let err = docs.read(doc.id).await.unwrap_err();
    assert_eq!(err.code(), "E5030", "{err}");
}
