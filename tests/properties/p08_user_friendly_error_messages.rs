//! Property 8: User-friendly error messages.
//!
//! Every code of `strata_core::CATALOG` has a message, a cause and a hint written for a
//! person, and every error that real faults produce (a missing directory, a file that
//! is not a database, a held lock, a write to a read-only pool, a constraint, bad SQL,
//! a failing migration, drift, a panic in a closure, a closed pool, a bad config value)
//! carries its catalog code, reads like its catalog template and renders with its hint.

use std::path::Path;

use proptest::prelude::*;
use strata::core::CATALOG;
use strata::schema::Migration;
use strata::{Config, Database, Error, MigrationSet, Migrations};

/// Whether `text` reads like `template`: the literal pieces between the template's
/// `{placeholders}` appear in order, the first at the start and the last at the end.
fn matches_template(template: &str, text: &str) -> bool {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        pieces.push(&rest[..open]);
        let Some(close) = rest[open..].find('}') else { return false };
        rest = &rest[open + close + 1..];
    }
    pieces.push(rest);
    let (first, last) = (pieces[0], pieces[pieces.len() - 1]);
    if !text.starts_with(first) || !text.ends_with(last) || text.len() < first.len() + last.len() {
        return pieces.len() == 1 && text == first;
    }
    let mut at = first.len();
    let end = text.len() - last.len();
    for piece in &pieces[1..pieces.len() - 1] {
        match text[at..end].find(piece) {
            Some(found) => at += found + piece.len(),
            None => return false,
        }
    }
    at <= end
}

/// Sentence-level rules for text shown to a person: not empty, starts lowercase, no
/// full stop at the end, no leftover placeholder braces of a format string.
fn is_friendly(text: &str) -> bool {
    !text.trim().is_empty() && !text.ends_with('.') && text.starts_with(|c: char| !c.is_uppercase())
}

/// Proves that the whole catalog is written for a person: every code has a message
/// template, a cause and a hint (all lowercase, no full stop, the hint different
/// from the message and the cause), codes are unique, and `docs/errors.md` lists
/// every code with its hint. An entry with an empty hint, or a code missing from the
/// page, fails it.
#[test]
fn p08_user_friendly_error_messages_every_catalog_code_has_message_cause_and_hint() {
    assert!(CATALOG.len() > 50, "the whole catalog: {} codes", CATALOG.len());
    let page = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/errors.md"))
        .expect("docs/errors.md");
    let mut seen = std::collections::HashSet::new();
    for info in CATALOG {
        assert!(seen.insert(info.code), "{} is listed twice", info.code);
        for (what, text) in [("message", info.message), ("cause", info.cause), ("hint", info.hint)] {
            assert!(is_friendly(text), "{} {what} is not a friendly sentence: `{text}`", info.code);
        }
        assert!(
            info.hint.split_whitespace().count() >= 3,
            "{} hint says too little: `{}`",
            info.code,
            info.hint
        );
        assert_ne!(info.hint, info.message, "{}: the hint repeats the message", info.code);
        assert_ne!(info.hint, info.cause, "{}: the hint repeats the cause", info.code);
        assert!(page.contains(info.code), "docs/errors.md lacks {}", info.code);
        // The page escapes `|` inside table cells; compare a prefix without one.
        let hint: String = info.hint.chars().take_while(|&c| c != '|' && c != '`').take(40).collect();
        assert!(page.contains(&hint), "docs/errors.md lacks the hint of {}: `{hint}`", info.code);
    }
}

/// A real fault, injected into a fresh directory.
#[derive(Debug, Clone)]
enum Fault {
    /// The database's directory does not exist.
    MissingDirectory(String),
    /// The file holds bytes that are not SQLite's.
    NotADatabase(Vec<u8>),
    /// Another process (here: another exclusive lock holder) holds the lock file.
    LockHeld,
    /// A write through a pool opened for inspection.
    WriteReadOnly,
    /// A duplicate key.
    Duplicate(i64),
    /// A statement naming a table that does not exist.
    UnknownTable(String),
    /// A migration whose second statement fails.
    FailingMigration(String),
    /// A table created behind the migrations' back, with drift = error.
    Drift(String),
    /// A write closure that panics.
    Panic(String),
    /// A read after close.
    Closed,
    /// A config value out of range.
    BadConfig(usize),
    /// A rollback of a migration without a down file.
    NoDownFile,
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,11}"
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        name().prop_map(Fault::MissingDirectory),
        prop::collection::vec(any::<u8>(), 100..2000).prop_map(Fault::NotADatabase),
        Just(Fault::LockHeld),
        Just(Fault::WriteReadOnly),
        any::<i64>().prop_map(Fault::Duplicate),
        name().prop_map(Fault::UnknownTable),
        name().prop_map(Fault::FailingMigration),
        name().prop_map(Fault::Drift),
        "[a-z ]{1,30}".prop_map(Fault::Panic),
        Just(Fault::Closed),
        (65usize..1000).prop_map(Fault::BadConfig),
        Just(Fault::NoDownFile),
    ]
}

/// The migration set of these faults: one table of keys.
fn keys_set() -> MigrationSet {
    let keys = Migration::new("V1__keys", "CREATE TABLE keys(k INTEGER PRIMARY KEY);", None).unwrap();
    MigrationSet::new([keys]).unwrap()
}

/// Injects `fault` and answers the error strata returned for it, with the code the
/// fault must produce.
async fn provoke(dir: &Path, fault: Fault) -> (Error, &'static str) {
    let path = dir.join("app.db");
    let config = Config::for_path(&path);
    let open = || Database::open_with(&config, Migrations::from(keys_set()));
    match fault {
        Fault::MissingDirectory(sub) => {
            let err = Database::open_with(&Config::for_path(dir.join(sub).join("app.db")), Migrations::None)
                .await
                .unwrap_err();
            (err, "E2001")
        }
        Fault::NotADatabase(mut bytes) => {
            // Never the SQLite header, whatever the generator drew.
            bytes[0] = b'#';
            std::fs::write(&path, &bytes).unwrap();
            (open().await.unwrap_err(), "E5002")
        }
        Fault::LockHeld => {
            std::fs::write(&path, b"").unwrap();
            let _held = strata::pool::lock_exclusive(&path).unwrap();
            (open().await.unwrap_err(), "E5011")
        }
        Fault::WriteReadOnly => {
            open().await.unwrap().close().await.unwrap();
            let db = Database::open_read_only(&config).await.unwrap();
            let err =
                db.pool().write(|c| Ok(c.execute("INSERT INTO keys VALUES (1)", [])?)).await.unwrap_err();
            db.close().await.unwrap();
            (err, "E2011")
        }
        Fault::Duplicate(k) => {
            let db = open().await.unwrap();
            const INSERT: &str = "INSERT INTO keys(k) VALUES (?1)";
            db.pool().write(move |c| Ok(c.execute(INSERT, [k])?)).await.unwrap();
            let err = db.pool().write(move |c| Ok(c.execute(INSERT, [k])?)).await.unwrap_err();
            db.close().await.unwrap();
            (err, "E4001")
        }
        Fault::UnknownTable(table) => {
            let db = open().await.unwrap();
            let sql = format!("SELECT count(*) FROM missing_{table}");
            let err = db
                .pool()
                .read(move |c| Ok(c.query_row(&sql, [], |r| r.get::<_, i64>(0))?))
                .await
                .unwrap_err();
            db.close().await.unwrap();
            (err, "E4004")
        }
        Fault::FailingMigration(table) => {
            let up = format!("CREATE TABLE {table}_t(x);\nINSERT INTO missing_{table} VALUES (1);");
            let set = MigrationSet::new([Migration::new("V1__broken", &up, None).unwrap()]).unwrap();
            (Database::open_with(&config, Migrations::from(set)).await.unwrap_err(), "E3002")
        }
        Fault::Drift(table) => {
            open().await.unwrap().close().await.unwrap();
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(&format!("ALTER TABLE keys ADD COLUMN extra_{table} TEXT;")).unwrap();
            drop(conn);
            (open().await.unwrap_err(), "E3014")
        }
        Fault::Panic(message) => {
            let db = open().await.unwrap();
            let err =
                db.pool().write(move |_| -> strata::Result<()> { panic!("{message}") }).await.unwrap_err();
            db.close().await.unwrap();
            (err, "E2007")
        }
        Fault::Closed => {
            let db = open().await.unwrap();
            db.close().await.unwrap();
            (
                db.pool()
                    .read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
                    .await
                    .unwrap_err(),
                "E2006",
            )
        }
        Fault::BadConfig(readers) => {
            let text = format!("path = \"{}\"\n[pool]\nreaders = {readers}\n", path.display());
            (Config::from_toml_str(&text).and_then(|c| c.validate()).unwrap_err(), "E1003")
        }
        Fault::NoDownFile => {
            let db = open().await.unwrap();
            let err = db.rollback(strata::DownTarget::To(0)).await.unwrap_err();
            db.close().await.unwrap();
            (err, "E3006")
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 36, ..ProptestConfig::default() })]

    /// Proves that the errors of real faults are user-friendly: each carries the code
    /// the fault calls for, that code is in the catalog, its text reads like the
    /// catalog's message template (so docs/errors.md describes what a person sees),
    /// it starts lowercase, and `strata::core::render` shows it as `E#### message`
    /// followed by the catalog's hint. An error without a catalog entry, with a
    /// message that does not follow its template, or rendered without its hint,
    /// fails it.
    #[test]
    fn p08_user_friendly_error_messages_real_faults_render_code_message_and_hint(fault in fault()) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (err, code) = runtime.block_on(provoke(dir.path(), fault.clone()));
        prop_assert_eq!(err.code(), code, "{:?}: {}", fault, err);
        let info = CATALOG.iter().find(|info| info.code == err.code());
        prop_assert!(info.is_some(), "{} is not in the catalog", err.code());
        let info = info.unwrap();
        prop_assert_eq!(info.kind, err.kind());
        let text = err.to_string();
        prop_assert!(is_friendly(text.lines().next().unwrap_or("")), "{}: `{}`", code, text);
        // E4001's template describes its variants; its text is `{kind} constraint failed: {where}`.
        let template = match code {
            "E4001" => "{constraint} constraint failed: {detail}",
            _ => info.message,
        };
        prop_assert!(matches_template(template, &text), "{}: `{}` does not follow `{}`", code, text, template);
        prop_assert!(!err.hint().is_empty());
        let rendered = strata::core::render(&err);
        prop_assert_eq!(rendered, format!("{} {}\nhint: {}", code, text, err.hint()));
    }
}

#[test]
fn the_template_matcher_tells_a_following_text_from_another() {
    assert!(matches_template("cannot open database: {message}", "cannot open database: no such file"));
    assert!(matches_template("the connection pool is closed", "the connection pool is closed"));
    assert!(matches_template("{action} {path}: {message}", "create /tmp/x: denied"));
    assert!(!matches_template("cannot open database: {message}", "could not open database: x"));
    assert!(!matches_template(
        "no {pool} connection free within {waited_ms} ms",
        "no reader connection free"
    ));
    assert!(!matches_template("the connection pool is closed", "the connection pool is open"));
}
