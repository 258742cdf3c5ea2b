//! `strata audit list|tail|replay`: the append-only audit log, newest first with
//! filters and keyset paging (`list`), or oldest first after an entry id, optionally
//! following new entries once a second (`tail --follow`); and the audit spill file,
//! shown or replayed (`replay [--dry-run]`). Also what the repository commands
//! (`queue`, `audit`, `flags`) share: opening an existing strata database without
//! creating or migrating it (read-only for the commands that only read), times as
//! RFC 3339, and who is acting (`--actor`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::Value;
use strata::repo::audit::{ReplayReport, SpillContents, SpilledEntry, inspect_spill, spill_path};
use strata::repo::clock::to_datetime;
use strata::repo::{Appended, Audit, AuditEntry, AuditFilter, NewAuditEntry, PageRequest};
use strata::{Config, Database, Error, Migrations, OpenReport};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use crate::output::{Outcome, Output, table};
use crate::replay::Pending;

/// `strata audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Entries newest first, filtered, one page at a time; the next page is
    /// `--after` the cursor printed under the table.
    List(ListArgs),
    /// Entries oldest first: the last `--limit` ones, or those after `--after ID`;
    /// with `--follow`, keeps printing new entries (polling once a second) until
    /// interrupted. With `--json --follow` the output is JSON Lines: one entry per line.
    Tail {
        /// Print the entries after this id [default: the last --limit entries].
        #[arg(long, value_name = "ID")]
        after: Option<i64>,
        /// At most this many entries (1 to 1000) before following.
        #[arg(long, value_name = "N", default_value_t = 20)]
        limit: usize,
        /// Keep printing new entries until Ctrl-C.
        #[arg(long, short)]
        follow: bool,
    },
    /// The audit spill file (`<db>.audit-spill.jsonl`: entries kept while the
    /// database was unavailable): replays it into the table, each entry once and in
    /// order, and empties it. Damaged lines (a crash mid-write) are reported, kept in
    /// `<spill>.damaged` and exit 1. With --dry-run, only shows what it holds (this
    /// works while the database is unavailable).
    Replay {
        /// Show the spill file's entries; replay nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// The filters and page of `strata audit list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only entries about this task.
    #[arg(long, value_name = "ID")]
    pub task: Option<i64>,
    /// Only entries of this actor.
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
    /// Only entries of this action (such as flag.set, task.retry).
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,
    /// Only entries at or after this time: RFC 3339 (2026-11-23T09:26:13Z) or integer
    /// milliseconds since the Unix epoch.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only entries before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Entries per page (1 to 1000).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    /// The cursor of the previous page (the `next` it printed).
    #[arg(long, value_name = "ID")]
    pub after: Option<i64>,
}

/// Who acts, for the audit rows of the commands that change something.
#[derive(Debug, Clone, Args)]
pub struct ActorArg {
    /// Who is acting, as recorded in the audit log by the commands that change
    /// something [default: $USER, else $USERNAME, else strata-cli].
    #[arg(long, global = true, value_name = "NAME")]
    pub actor: Option<String>,
}

impl ActorArg {
    /// The actor: `--actor`, else the OS user from `$USER` or `$USERNAME`, else
    /// `strata-cli`. An empty `--actor` is E6001.
    pub fn resolve(&self) -> strata::Result<String> {
        match self.actor.as_deref() {
            Some(actor) if actor.trim().is_empty() => Err(Error::invalid("--actor", "must not be empty")),
            Some(actor) => Ok(actor.to_string()),
            None => Ok(["USER", "USERNAME"]
                .iter()
                .filter_map(|name| std::env::var(name).ok())
                .find(|user| !user.trim().is_empty())
                .unwrap_or_else(|| "strata-cli".to_string())),
        }
    }
}

/// The `audit list` document.
#[derive(Serialize)]
struct AuditPage {
    entries: Vec<AuditEntry>,
    next: Option<i64>,
}

/// The `audit tail` document (without `--follow`).
#[derive(Serialize)]
struct AuditTail {
    entries: Vec<AuditEntry>,
    /// The id to pass as `--after` to continue: the newest entry printed, else the
    /// `--after` given, else null (the log is empty).
    last_id: Option<i64>,
}

/// Runs one `strata audit` subcommand; `json` is `--json` (for `tail --follow`,
/// which prints JSON Lines instead of one document).
pub async fn run(
    command: &AuditCommand,
    json: bool,
    config: &Config,
    out: &Output,
) -> strata::Result<Outcome> {
    match command {
        AuditCommand::List(args) => {
            let filter = AuditFilter {
                task_id: args.task,
                actor: args.actor.clone(),
                action: args.action.clone(),
                since: args
                    .since
                    .as_deref()
                    .map(|t| parse_time("--since", t).map(to_datetime))
                    .transpose()?,
                until: args
                    .until
                    .as_deref()
                    .map(|t| parse_time("--until", t).map(to_datetime))
                    .transpose()?,
            };
            if let (Some(since), Some(until)) = (filter.since, filter.until)
                && since >= until
            {
                return Err(Error::invalid("--until", "must be later than --since"));
            }
            let page = PageRequest { after: args.after, limit: args.limit };
            let found = with_db(config, Access::Read, &["audit"], async |db| {
                Audit::new(db.pool().clone()).list(&filter, page).await
            })
            .await?;
            out.print(&AuditPage { entries: found.items, next: found.next }, render_list);
            Ok(Outcome::Success)
        }
        AuditCommand::Tail { after, limit, follow } => tail(*after, *limit, *follow, json, config, out).await,
        AuditCommand::Replay { dry_run } => crate::replay::run::<SpilledEntry>(*dry_run, config, out).await,
    }
}

impl Pending for SpilledEntry {
    const NOUN: (&'static str, &'static str) = ("audit entry", "audit entries");
    const HEADERS: &'static [&'static str] = &["uid", "time", "actor", "action", "task", "data", "result"];
    const TABLE: &'static str = "audit";

    fn cells(&self) -> Vec<String> {
        vec![
            self.uid.clone(),
            time_text(self.ts),
            self.actor.clone(),
            self.action.clone(),
            self.task_id.map_or_else(|| "-".to_string(), |t| t.to_string()),
            short_json(&self.data, 60),
            self.result.clone().unwrap_or_else(|| "-".to_string()),
        ]
    }

    fn spill_path(db: &Path) -> PathBuf {
        spill_path(db)
    }

    fn inspect(path: &Path) -> strata::Result<SpillContents> {
        inspect_spill(path)
    }

    fn replayed_at_open(report: &OpenReport) -> Option<&ReplayReport> {
        report.audit_replay.as_ref()
    }

    async fn replay(db: &Database) -> strata::Result<ReplayReport> {
        Audit::new(db.pool().clone()).replay().await
    }
}

async fn tail(
    after: Option<i64>,
    limit: usize,
    follow: bool,
    json: bool,
    config: &Config,
    out: &Output,
) -> strata::Result<Outcome> {
    with_db(config, Access::Read, &["audit"], async |db| {
        let audit = Audit::new(db.pool().clone());
        let entries = match after {
            Some(after) => audit.tail(after, limit).await?,
            None => {
                let mut newest = audit.list(&AuditFilter::default(), PageRequest::first(limit)).await?.items;
                newest.reverse();
                newest
            }
        };
        let last_id = entries.last().map(|e| e.id).or(after);
        if !follow {
            out.print(&AuditTail { entries, last_id }, render_tail);
            return Ok(Outcome::Success);
        }
        if !print_lines(&entries, json)? {
            return Ok(Outcome::Success);
        }
        let mut last = last_id.unwrap_or(0);
        loop {
            let batch = audit.tail(last, 1_000).await?;
            if let Some(entry) = batch.last() {
                last = entry.id;
            }
            if !print_lines(&batch, json)? {
                return Ok(Outcome::Success);
            }
            if batch.len() < 1_000 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    })
    .await
}

/// `tail --follow` output: one line per entry, or one compact JSON document per line.
/// Answers false when stdout was closed (`| head`): the follow ends without an error.
fn print_lines(entries: &[AuditEntry], json: bool) -> strata::Result<bool> {
    let mut stdout = std::io::stdout().lock();
    for entry in entries {
        let line = if json {
            serde_json::to_string(entry).map_err(|e| Error::invalid("entry", e.to_string()))?
        } else {
            let task = entry.task_id.map_or_else(String::new, |t| format!("  task {t}"));
            let result = entry.result.as_deref().map_or_else(String::new, |r| format!("  -> {r}"));
            format!(
                "{}  #{}  {}  {}{task}  {}{result}",
                datetime_text(entry.ts),
                entry.id,
                entry.actor,
                entry.action,
                short_json(&entry.data, 120)
            )
        };
        match writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(false),
            Err(e) => return Err(Error::file_io("write to", "stdout", &e)),
        }
    }
    Ok(true)
}

fn entry_rows(entries: &[AuditEntry]) -> impl Iterator<Item = Vec<String>> + '_ {
    entries.iter().map(|e| {
        vec![
            e.id.to_string(),
            datetime_text(e.ts),
            e.actor.clone(),
            e.action.clone(),
            e.task_id.map_or_else(|| "-".to_string(), |t| t.to_string()),
            short_json(&e.data, 60),
            e.result.clone().unwrap_or_else(|| "-".to_string()),
        ]
    })
}

const HEADER: &[&str] = &["id", "time", "actor", "action", "task", "data", "result"];

fn render_list(page: &AuditPage) -> String {
    if page.entries.is_empty() {
        return "no audit entries match\n".to_string();
    }
    let mut text = table(HEADER, entry_rows(&page.entries));
    if let Some(next) = page.next {
        text += &format!("next page: --after {next}\n");
    }
    text
}

fn render_tail(tail: &AuditTail) -> String {
    if tail.entries.is_empty() {
        return "no audit entries\n".to_string();
    }
    let mut text = table(HEADER, entry_rows(&tail.entries));
    if let Some(last) = tail.last_id {
        text += &format!("continue with: --after {last}\n");
    }
    text
}

/// Compact JSON, cut to `max` characters with `...`.
pub fn short_json(value: &Value, max: usize) -> String {
    let text = value.to_string();
    if text.chars().count() <= max {
        return text;
    }
    text.chars().take(max.saturating_sub(3)).collect::<String>() + "..."
}

/// Milliseconds since the Unix epoch as `2026-11-23T09:26:13.812Z` (the number itself
/// when out of range).
pub fn time_text(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_or_else(|_| ms.to_string(), datetime_text)
}

/// A time of a repository's public type as `2026-11-23T09:26:13.812Z`.
pub fn datetime_text(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    let at = at.to_offset(UtcOffset::UTC);
    at.format(&format).unwrap_or_else(|_| at.to_string())
}

/// `--since`/`--until`: integer milliseconds since the Unix epoch, or RFC 3339; E6001
/// naming `field` otherwise.
pub fn parse_time(field: &str, text: &str) -> strata::Result<i64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        Error::invalid(
            field,
            format!(
                "`{text}` is neither RFC 3339 (2026-11-23T09:26:13Z) nor integer milliseconds since \
                 the Unix epoch: {e}"
            ),
        )
    })?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| Error::invalid(field, format!("`{text}` is out of range")))
}

/// What a repository command does to the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only reads: the database is opened read-only (`Database::open_read_only`), so
    /// the command changes nothing in the file and never waits for its write lock.
    Read,
    /// Changes it: the normal pool with its writer.
    Write,
}

/// Opens the existing strata database of `config` for a repository command: E2004
/// when the file does not exist (nothing is created), no migrations are applied and
/// no drift is checked (use `strata migrate` for that), and E3001 when one of
/// `tables` is missing (the file does not hold the reference schema). With
/// [`Access::Read`] the file is opened read-only.
pub async fn open(config: &Config, access: Access, tables: &[&'static str]) -> strata::Result<Database> {
    if !config.path.is_file() {
        return Err(Error::cannot_open(format!(
            "{} does not exist or is not a file (create it with `strata init`)",
            config.path.display()
        )));
    }
    let db = match access {
        Access::Read => Database::open_read_only(config).await?,
        Access::Write => Database::open_with(config, Migrations::None).await?,
    };
    let wanted = tables.to_vec();
    let missing = db
        .pool()
        .read(move |conn| {
            let mut stmt =
                conn.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1")?;
            for table in wanted {
                let found: i64 = stmt.query_row([table], |r| r.get(0))?;
                if found == 0 {
                    return Ok(Some(table));
                }
            }
            Ok(None)
        })
        .await;
    let missing = match missing {
        Ok(missing) => missing,
        Err(err) => {
            let _ = db.close().await;
            return Err(err);
        }
    };
    if let Some(table) = missing {
        db.close().await?;
        return Err(Error::Schema {
            message: format!(
                "{} has no `{table}` table: it does not hold strata's reference schema \
                 (apply it with `strata init` or `strata migrate up`)",
                config.path.display()
            ),
        });
    }
    Ok(db)
}

/// Opens the database as [`open`] does, runs `work` on it and closes it; the error of
/// `work` wins over one of the close.
pub async fn with_db<T>(
    config: &Config,
    access: Access,
    tables: &[&'static str],
    work: impl AsyncFnOnce(&Database) -> strata::Result<T>,
) -> strata::Result<T> {
    let db = open(config, access, tables).await?;
    let result = work(&db).await;
    let closed = db.close().await;
    let value = result?;
    closed?;
    Ok(value)
}

/// Appends the audit row of an operator's change made by a repository command that
/// does not audit on its own. The change is already committed: a failed append is a
/// warning on stderr, not a failure of the command, and answers `None`.
pub async fn record(db: &Database, entry: NewAuditEntry) -> Option<i64> {
    match Audit::new(db.pool().clone()).append(entry).await {
        Ok(Appended::Stored(entry)) => Some(entry.id),
        Ok(Appended::Spilled { path, cause, .. }) => {
            tracing::warn!(target: "strata", "the database could not take the audit row ({cause}): it waits in {} for replay",
                path.display());
            None
        }
        Err(err) => {
            tracing::warn!(target: "strata", "the change was made but its audit row was not written: {}",
                strata::core::render(&err));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_time, short_json, time_text};

    #[test]
    fn times_parse_from_rfc3339_or_milliseconds_and_print_back() {
        assert_eq!(parse_time("--since", "1700000000123").unwrap(), 1_700_000_000_123);
        let ms = parse_time("--since", "2023-11-14T22:13:20.123Z").unwrap();
        assert_eq!(ms, 1_700_000_000_123);
        assert_eq!(time_text(ms), "2023-11-14T22:13:20.123Z");
        assert_eq!(parse_time("--since", "2023-11-14T23:13:20.123+01:00").unwrap(), ms);
        let err = parse_time("--until", "yesterday").unwrap_err();
        assert_eq!(err.code(), "E6001");
        assert!(err.to_string().contains("--until"), "{err}");
    }

    #[test]
    fn long_json_is_cut() {
        let value = serde_json::json!({ "text": "x".repeat(100) });
        let short = short_json(&value, 20);
        assert_eq!(short.chars().count(), 20);
        assert!(short.ends_with("..."));
    }
}
