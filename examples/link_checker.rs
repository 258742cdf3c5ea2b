//! A small link checker on strata's public API alone: its own table beside the
//! reference schema, a queue worker with retries and a dead letter, a flag, the audit
//! log, a verified backup and a health check, on a database in a temp directory.
//! `cargo run --example link_checker` runs it to completion (CI runs it as a test).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use strata::repo::{FlagChange, NewAuditEntry, PageRequest, TaskStatus};
use strata::{Config, Ctx, Database, Job, JobError, JobKind, Migrations, NewTask, Worker};

/// One link to check: a `file://` path (the site is a directory here, so the example
/// needs no network).
#[derive(Serialize, Deserialize)]
struct CheckLink {
    url: String,
}

impl JobKind for CheckLink {
    const KIND: &'static str = "check_link";
    const TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));
}

const RECORD: &str =
    "INSERT INTO links(url, bytes) VALUES (?1, ?2) ON CONFLICT(url) DO UPDATE SET bytes = ?2";

/// Reads the page behind the link and records its size; a missing page is retried,
/// a link that is not `file://` can never work and goes straight to dead.
async fn check_link(job: Job<CheckLink>, ctx: Ctx) -> Result<i64, JobError> {
    let url = job.payload.url;
    let path =
        url.strip_prefix("file://").ok_or_else(|| JobError::permanent(format!("unsupported: {url}")))?;
    let bytes = i64::try_from(std::fs::metadata(path)?.len())?;
    let (pool, entry) =
        (ctx.queue().pool(), NewAuditEntry::by(ctx.worker()).action("link.checked").task(job.task.id));
    pool.write(move |c| Ok(c.execute(RECORD, strata::params![url, bytes])?))
        .await
        .map_err(JobError::retry)?;
    strata::repo::Audit::new(pool.clone()).append(entry).await.map_err(JobError::retry)?;
    Ok(bytes)
}

/// Checks four links on a temp dir and asserts what was checked and dead-lettered.
#[tokio::main]
pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let site = dir.path().join("site");
    std::fs::create_dir(&site)?;
    std::fs::write(site.join("index.html"), "<a href=about.html>about</a>")?;
    std::fs::write(site.join("about.html"), "about us")?;

    // The reference schema (queue, flags, audit) and the application's own migrations
    // (examples/migrations/link_checker, embedded), each in its own history namespace.
    let own = strata::embed_migrations!("examples/migrations/link_checker")?.with_namespace("links")?;
    let config = Config::for_path(dir.path().join("links.db"));
    let db = Database::open_with(&config, [Migrations::Reference, own.into()]).await?;

    db.flags()
        .set("checker.enabled", true.into(), FlagChange::by("ops").description("run the checker"))
        .await?;
    if !db.flags().is_enabled("checker.enabled", false).await? {
        return Ok(());
    }
    let urls =
        ["index.html", "about.html", "missing.html"].map(|p| format!("file://{}", site.join(p).display()));
    let mut ids = Vec::new();
    for url in urls.into_iter().chain(["ftp://example.invalid/".to_string()]) {
        let task = NewTask::job(&CheckLink { url })?.max_attempts(2);
        ids.push(db.queue().enqueue(task).await?.id);
    }

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = Worker::builder(&db).concurrency(4).handle::<CheckLink>(check_link);
    let worker = tokio::spawn(worker.run(async move { stopped.await.unwrap_or(()) }));
    for id in ids {
        let task = db.queue().wait_for(id, Duration::from_secs(60)).await?;
        println!(
            "{:<12} {:?} {}",
            format!("{:?}", task.status),
            task.result,
            task.last_error.unwrap_or_default()
        );
    }
    let _ = stop.send(());
    let report = worker.await??;
    println!("worker: {report:?}");

    let dead =
        db.queue().list(Some(strata::DEFAULT_QUEUE), Some(TaskStatus::Dead), PageRequest::first(10)).await?;
    let checked: i64 =
        db.pool().read(|c| Ok(c.query_row("SELECT count(*) FROM links", [], |r| r.get(0))?)).await?;
    let audited = db.audit().tail(0, 100).await?.len();
    println!("checked {checked}, dead {}, audit entries {audited}", dead.items.len());
    assert_eq!((checked, dead.items.len()), (2, 2), "two pages exist, one is missing, one is not a file");

    let backup = db.backup().await?;
    let health = db.health(strata::ops::CheckLevel::Quick).await?;
    println!("backup {}, health {:?}", backup.path.display(), health.status);
    db.close().await?;
    Ok(())
}
