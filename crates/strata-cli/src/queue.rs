//! `strata queue stats|list|retry ID|cancel ID|purge-dead`: the task queue as an
//! operator sees it. Every subcommand needs an existing database with the reference
//! schema (E2004 otherwise; nothing is created). `retry`, `cancel` and `purge-dead`
//! append an audit row (`task.retry`, `task.cancel`, `queue.purge_dead`) with the
//! actor of `--actor` after their change commits.

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use serde_json::json;
use strata::repo::clock::to_millis;
use strata::repo::{NewAuditEntry, PageRequest, Queue, QueueStats, Task, TaskStatus};
use strata::{Config, Database};

use crate::audit::{Access, ActorArg, record, short_json, time_text, with_db};
use crate::output::{Outcome, Output, table};

/// `strata queue [--actor NAME] ...`
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// Who acts.
    #[command(flatten)]
    pub actor: ActorArg,
    /// What to do.
    #[command(subcommand)]
    pub command: QueueCommand,
}

/// The subcommands of `strata queue`.
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Tasks per queue and state, and how many pending tasks are ready to claim now.
    Stats,
    /// Tasks in id order, one page at a time; the next page is `--after` the cursor
    /// printed under the table.
    List {
        /// Only tasks of this queue.
        #[arg(long, value_name = "NAME")]
        queue: Option<String>,
        /// Only tasks in this state.
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// Tasks per page (1 to 1000).
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: usize,
        /// The cursor of the previous page (the `next` it printed).
        #[arg(long, value_name = "ID")]
        after: Option<i64>,
    },
    /// Put a dead, failed or cancelled task back to pending, claimable now, with its
    /// attempts reset (E4006 for a task in another state, E4002 for no such task).
    Retry {
        /// The task's id.
        id: i64,
    },
    /// Cancel a pending, running or failed task and every live descendant (E4006 for
    /// a task that is completed, cancelled or dead).
    Cancel {
        /// The task's id.
        id: i64,
    },
    /// Delete the dead tasks, of every queue or of one.
    PurgeDead {
        /// Only the dead tasks of this queue.
        #[arg(long, value_name = "NAME")]
        queue: Option<String>,
    },
}

/// A task state, as `--status` accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    /// Waiting for a worker.
    Pending,
    /// Held by a worker under a lease.
    Running,
    /// Finished successfully.
    Completed,
    /// Given up by its worker; waits for an operator.
    Failed,
    /// Cancelled by an operator.
    Cancelled,
    /// Out of attempts; waits for an operator.
    Dead,
}

impl From<StatusArg> for TaskStatus {
    fn from(status: StatusArg) -> Self {
        match status {
            StatusArg::Pending => TaskStatus::Pending,
            StatusArg::Running => TaskStatus::Running,
            StatusArg::Completed => TaskStatus::Completed,
            StatusArg::Failed => TaskStatus::Failed,
            StatusArg::Cancelled => TaskStatus::Cancelled,
            StatusArg::Dead => TaskStatus::Dead,
        }
    }
}

/// The `queue stats` document.
#[derive(Serialize)]
struct Stats {
    queues: Vec<QueueStats>,
}

/// The `queue list` document.
#[derive(Serialize)]
struct TaskPage {
    tasks: Vec<Task>,
    next: Option<i64>,
}

/// The `queue retry` document.
#[derive(Serialize)]
struct Retried {
    task: Task,
    audit_id: Option<i64>,
}

/// The `queue cancel` document.
#[derive(Serialize)]
struct Cancelled {
    task_id: i64,
    cancelled: u64,
    audit_id: Option<i64>,
}

/// The `queue purge-dead` document.
#[derive(Serialize)]
struct Purged {
    queue: Option<String>,
    purged: u64,
    audit_id: Option<i64>,
}

/// The database's queue, configured by the `[queue]` section of the config.
fn queue(db: &Database) -> strata::Result<Queue> {
    Ok(db.queue().clone())
}

/// Runs one `strata queue` subcommand.
pub async fn run(args: &QueueArgs, config: &Config, out: &Output) -> strata::Result<Outcome> {
    match &args.command {
        QueueCommand::Stats => {
            let queues =
                with_db(config, Access::Read, &["tasks"], async |db| queue(db)?.stats().await).await?;
            out.print(&Stats { queues }, render_stats);
        }
        QueueCommand::List { queue: name, status, limit, after } => {
            let page = PageRequest { after: *after, limit: *limit };
            let status = status.map(TaskStatus::from);
            let found = with_db(config, Access::Read, &["tasks"], async |db| {
                queue(db)?.list(name.as_deref(), status, page).await
            })
            .await?;
            out.print(&TaskPage { tasks: found.items, next: found.next }, render_list);
        }
        QueueCommand::Retry { id } => {
            let actor = args.actor.resolve()?;
            let id = *id;
            let retried = with_db(config, Access::Write, &["tasks", "audit"], async |db| {
                let task = queue(db)?.retry(id).await?;
                let entry = NewAuditEntry::by(actor)
                    .action("task.retry")
                    .task(id)
                    .data(json!({ "queue": task.queue, "kind": task.kind }))
                    .result("pending");
                Ok(Retried { audit_id: record(db, entry).await, task })
            })
            .await?;
            out.print(&retried, |r| {
                format!(
                    "task {} ({} on {}) is pending again, attempts reset\n",
                    r.task.id, r.task.kind, r.task.queue
                )
            });
        }
        QueueCommand::Cancel { id } => {
            let actor = args.actor.resolve()?;
            let id = *id;
            let cancelled = with_db(config, Access::Write, &["tasks", "audit"], async |db| {
                let cancelled = queue(db)?.cancel(id).await?;
                let entry = NewAuditEntry::by(actor)
                    .action("task.cancel")
                    .task(id)
                    .data(json!({ "cancelled": cancelled }))
                    .result("cancelled");
                Ok(Cancelled { task_id: id, cancelled, audit_id: record(db, entry).await })
            })
            .await?;
            out.print(&cancelled, |c| {
                format!("cancelled task {} and {} descendant(s)\n", c.task_id, c.cancelled.saturating_sub(1))
            });
        }
        QueueCommand::PurgeDead { queue: name } => {
            let actor = args.actor.resolve()?;
            let purged = with_db(config, Access::Write, &["tasks", "audit"], async |db| {
                let purged = queue(db)?.purge_dead(name.as_deref()).await?;
                let entry = NewAuditEntry::by(actor)
                    .action("queue.purge_dead")
                    .data(json!({ "queue": name, "purged": purged }));
                Ok(Purged { queue: name.clone(), purged, audit_id: record(db, entry).await })
            })
            .await?;
            out.print(&purged, |p| match &p.queue {
                Some(queue) => format!("purged {} dead task(s) of queue {queue}\n", p.purged),
                None => format!("purged {} dead task(s)\n", p.purged),
            });
        }
    }
    Ok(Outcome::Success)
}

fn render_stats(stats: &Stats) -> String {
    if stats.queues.is_empty() {
        return "no tasks\n".to_string();
    }
    let row = |s: &QueueStats| {
        [s.pending, s.ready_now, s.running, s.completed, s.failed, s.cancelled, s.dead]
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
    };
    let mut rows: Vec<Vec<String>> =
        stats.queues.iter().map(|s| [vec![s.queue.clone()], row(s)].concat()).collect();
    if stats.queues.len() > 1 {
        let mut total = QueueStats { queue: "(total)".to_string(), ..QueueStats::default() };
        for s in &stats.queues {
            total.pending += s.pending;
            total.ready_now += s.ready_now;
            total.running += s.running;
            total.completed += s.completed;
            total.failed += s.failed;
            total.cancelled += s.cancelled;
            total.dead += s.dead;
        }
        rows.push([vec![total.queue.clone()], row(&total)].concat());
    }
    table(&["queue", "pending", "ready now", "running", "completed", "failed", "cancelled", "dead"], rows)
}

fn render_list(page: &TaskPage) -> String {
    if page.tasks.is_empty() {
        return "no tasks match\n".to_string();
    }
    let dash = || "-".to_string();
    let mut text = table(
        &[
            "id",
            "queue",
            "kind",
            "status",
            "priority",
            "attempts",
            "parent",
            "submitted",
            "payload",
            "last error",
        ],
        page.tasks.iter().map(|t| {
            vec![
                t.id.to_string(),
                t.queue.clone(),
                t.kind.clone(),
                t.status.to_string(),
                t.priority.to_string(),
                format!("{}/{}", t.attempts, t.max_attempts),
                t.parent_task_id.map_or_else(dash, |p| p.to_string()),
                time_text(to_millis(t.submitted_at)),
                short_json(&t.payload, 40),
                t.last_error
                    .as_deref()
                    .map_or_else(dash, |e| e.replace('\n', " ").chars().take(60).collect()),
            ]
        }),
    );
    if let Some(next) = page.next {
        text += &format!("next page: --after {next}\n");
    }
    text
}
