//! `strata docs put|get|ls|rm|verify|gc`: the document store beside a strata database
//! (V10's `documents` and the files in `documents.dir`). `put` streams a file in and
//! `get` streams one out (verifying its hash; `-o` writes a temporary file and renames
//! it only when the content verified), with a progress bar on a terminal for large
//! files; `verify` exits 1 when a document is missing or damaged. Every subcommand
//! needs an existing database with the reference schema (E2004, E3001 otherwise).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use strata::Config;
use strata::ops::StoreReport;
use strata::repo::{Document, GcReport, NewDocument, PageRequest, PurgeReport};
use tokio::io::{AsyncRead, ReadBuf};

use crate::audit::{Access, datetime_text, with_db};
use crate::check::bytes;
use crate::output::{Outcome, Output, table};

/// The tables every `strata docs` subcommand needs.
const TABLES: &[&str] = &["documents", "document_tags"];

/// Files at least this large get a progress bar (on a terminal).
const BAR_FROM_BYTES: u64 = 8 * 1024 * 1024;

/// The subcommands of `strata docs`.
#[derive(Debug, Subcommand)]
pub enum DocsCommand {
    /// Store a file (streamed; its MIME type detected from its content); prints the
    /// new document.
    Put {
        /// The file to store.
        file: PathBuf,
        /// The document's name [default: the file's name].
        #[arg(long, value_name = "N")]
        name: Option<String>,
        /// A tag (repeatable).
        #[arg(long = "tag", value_name = "T")]
        tags: Vec<String>,
        /// Who stores it, kept with the document.
        #[arg(long, value_name = "WHO")]
        by: Option<String>,
    },
    /// Write a document's content to stdout or to a file, verifying its hash (E5030
    /// when the stored file was changed or removed).
    Get {
        /// The document's id, or its name (the newest live document of that name).
        document: String,
        /// Write to this file instead of stdout (written beside it, renamed once
        /// verified).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// The live documents in id order, one page at a time; the next page is `--after`
    /// the id printed under the table.
    Ls {
        /// Only documents with this tag.
        #[arg(long, value_name = "T")]
        tag: Option<String>,
        /// Documents per page (1 to 1000).
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: usize,
        /// The cursor of the previous page (the `next` it printed).
        #[arg(long, value_name = "ID")]
        after: Option<i64>,
    },
    /// Soft-delete a document: no longer listed or read; `gc` removes it after the
    /// retention (`documents.retention_days`).
    Rm {
        /// The document's id.
        id: i64,
    },
    /// Check every live document's file (size and SHA-256) and list the files no
    /// document references; exit 1 when a document is missing or damaged.
    Verify,
    /// Purge documents deleted longer ago than the retention, then remove files no
    /// document references once they are older than `documents.gc_grace_secs`.
    Gc,
}

/// The `docs ls` document.
#[derive(Serialize)]
struct DocumentPage {
    documents: Vec<Document>,
    next: Option<i64>,
}

/// The `docs get` document (with `-o`).
#[derive(Serialize)]
struct Got {
    document: Document,
    output: PathBuf,
}

/// The `docs rm` document.
#[derive(Serialize)]
struct Removed {
    id: i64,
    deleted: bool,
}

/// The `docs gc` document.
#[derive(Serialize)]
struct Collected {
    purged: PurgeReport,
    gc: GcReport,
}

/// Runs one `strata docs` subcommand.
pub async fn run(
    command: &DocsCommand,
    config: &Config,
    out: &Output,
    json: bool,
) -> strata::Result<Outcome> {
    match command {
        DocsCommand::Put { file, name, tags, by } => {
            let name = match name {
                Some(name) => name.clone(),
                None => file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .ok_or_else(|| strata::Error::invalid("FILE", "has no file name; pass --name"))?,
            };
            let mut new = NewDocument::named(name);
            new.tags = tags.clone();
            new.created_by = by.clone();
            let reader =
                tokio::fs::File::open(file).await.map_err(|e| strata::Error::file_io("open", file, &e))?;
            let size = reader.metadata().await.map(|m| m.len()).unwrap_or(0);
            new.size_hint = Some(size);
            let bar = progress_bar(size, "storing");
            let doc = with_db(config, Access::Write, TABLES, async |db| {
                db.documents().put_reader(new, Counted { inner: reader, bar: bar.clone() }).await
            })
            .await;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            out.print(&doc?, render_document);
        }
        DocsCommand::Get { document, output } => {
            if json && output.is_none() {
                return Err(strata::Error::invalid(
                    "-o",
                    "--json prints a report: pass -o FILE for the content",
                ));
            }
            let got = with_db(config, Access::Read, TABLES, async |db| {
                let docs = db.documents();
                let doc = match document.parse::<i64>() {
                    Ok(id) => docs.get(id).await?,
                    Err(_) => docs.find_by_name(document).await?,
                };
                match output {
                    Some(path) => {
                        let bar = progress_bar(doc.size, "reading");
                        let result = write_file(db, doc.id, path).await;
                        if let Some(bar) = bar {
                            bar.finish_and_clear();
                        }
                        result.map(|doc| Some(Got { document: doc, output: path.clone() }))
                    }
                    None => docs.read_to(doc.id, tokio::io::stdout(), true).await.map(|_| None),
                }
            })
            .await?;
            if let Some(got) = got {
                out.print(&got, |g| {
                    format!(
                        "document {} ({}) written to {}\n",
                        g.document.id,
                        bytes(g.document.size),
                        g.output.display()
                    )
                });
            }
        }
        DocsCommand::Ls { tag, limit, after } => {
            let page = PageRequest { after: *after, limit: *limit };
            let found = with_db(config, Access::Read, TABLES, async |db| {
                db.documents().list(tag.as_deref(), page).await
            })
            .await?;
            out.print(&DocumentPage { documents: found.items, next: found.next }, render_list);
        }
        DocsCommand::Rm { id } => {
            with_db(config, Access::Write, TABLES, async |db| db.documents().delete(*id).await).await?;
            out.print(&Removed { id: *id, deleted: true }, |r| format!("document {} deleted\n", r.id));
        }
        DocsCommand::Verify => {
            let report =
                with_db(config, Access::Read, TABLES, async |db| db.verify_documents(true).await).await?;
            // with_db checked that the tables exist, so there is a report.
            let Some(report) = report else { return Ok(Outcome::Success) };
            out.print(&report, render_verify);
            if report.has_damage() {
                return Ok(Outcome::Problems);
            }
        }
        DocsCommand::Gc => {
            let retention = Duration::from_secs(config.documents.retention_days.saturating_mul(86_400));
            let collected = with_db(config, Access::Write, TABLES, async |db| {
                let purged = db.documents().purge(retention).await?;
                let gc = db.documents().gc().await?;
                Ok(Collected { purged, gc })
            })
            .await?;
            out.print(&collected, |c| {
                format!(
                    "purged: {} deleted document(s), {} file(s)\ngc: {} unreferenced file(s), {} temporary file(s), {} freed; {} kept (younger than documents.gc_grace_secs)\n",
                    c.purged.rows,
                    c.purged.files,
                    c.gc.files,
                    c.gc.temp_files,
                    bytes(c.purged.bytes + c.gc.bytes),
                    c.gc.kept_young
                )
            });
        }
    }
    Ok(Outcome::Success)
}

/// Streams document `id` into a temporary file beside `path`, renamed to `path` once
/// its hash verified; a failure removes the temporary file.
async fn write_file(db: &strata::Database, id: i64, path: &Path) -> strata::Result<Document> {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".strata-{}.part", std::process::id()));
    let tmp = path.with_file_name(name);
    let file = tokio::fs::File::create(&tmp).await.map_err(|e| strata::Error::file_io("create", &tmp, &e))?;
    match db.documents().read_to(id, file, true).await {
        Ok(doc) => {
            tokio::fs::rename(&tmp, path).await.map_err(|e| strata::Error::file_io("rename", &tmp, &e))?;
            Ok(doc)
        }
        Err(err) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            Err(err)
        }
    }
}

/// A progress bar on stderr for `total` bytes, when stderr is a terminal and the file
/// is large enough to be worth one.
fn progress_bar(total: u64, what: &str) -> Option<ProgressBar> {
    if total < BAR_FROM_BYTES || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(total);
    // The template is a constant known to be valid; fall back to the default style.
    let style = ProgressStyle::with_template("{msg:>9} [{bar:32}] {bytes}/{total_bytes} {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_string());
    Some(bar)
}

/// A reader that moves a progress bar by the bytes read through it.
struct Counted<R> {
    inner: R,
    bar: Option<ProgressBar>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Counted<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Some(bar) = &self.bar {
            bar.inc((buf.filled().len() - before) as u64);
        }
        polled
    }
}

fn render_document(d: &Document) -> String {
    let mut text = format!(
        "document {}: {}\ntype: {}\nsize: {} ({} bytes)\nsha256: {}\ncreated: {}\n",
        d.id,
        d.name,
        d.mime,
        bytes(d.size),
        d.size,
        d.sha256,
        datetime_text(d.created_at)
    );
    if !d.tags.is_empty() {
        text += &format!("tags: {}\n", d.tags.join(", "));
    }
    text
}

fn render_list(page: &DocumentPage) -> String {
    if page.documents.is_empty() {
        return "no documents\n".to_string();
    }
    let mut text = table(
        &["id", "name", "type", "size", "tags", "created at"],
        page.documents.iter().map(|d| {
            vec![
                d.id.to_string(),
                d.name.clone(),
                d.mime.clone(),
                bytes(d.size),
                d.tags.join(","),
                datetime_text(d.created_at),
            ]
        }),
    );
    if let Some(next) = page.next {
        text += &format!("next: --after {next}\n");
    }
    text
}

fn render_verify(r: &StoreReport) -> String {
    let mut text = format!(
        "store: {}\ndocuments: {} checked ({}), {} file(s), {}\n",
        r.dir.display(),
        r.documents,
        if r.hashed { "size and sha256" } else { "size" },
        r.files,
        bytes(r.bytes)
    );
    for p in &r.missing {
        text += &format!("missing: document {} ({}): {}\n", p.id, p.name, p.reason);
    }
    for p in &r.changed {
        text += &format!("changed: document {} ({}): {}\n", p.id, p.name, p.reason);
    }
    for o in &r.orphans {
        text += &format!("orphan: {} ({}), no document references it\n", o.sha256, bytes(o.size));
    }
    if r.temp_files > 0 {
        text += &format!("temporary files: {} (puts in flight or interrupted)\n", r.temp_files);
    }
    text += if r.has_damage() {
        "verdict: damaged documents found\n"
    } else {
        "verdict: every document has its file\n"
    };
    text
}
