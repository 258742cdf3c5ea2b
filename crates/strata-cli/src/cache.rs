//! `strata cache stats|get|delete|purge-expired|clear`: the TTL cache as an operator
//! sees it. Every subcommand needs an existing database with the reference schema
//! (E2004 otherwise; nothing is created). `stats` and `get` open the database
//! read-only and change nothing: `get` peeks (no hit is recorded) and, like every
//! read of the cache, never shows an expired entry. `delete`, `purge-expired` and
//! `clear` append an audit row (`cache.delete`, `cache.purge_expired`,
//! `cache.clear`) with the actor of `--actor` after their change commits.

use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::{Value, json};
use strata::repo::clock::to_millis;
use strata::repo::{CacheEntry, CacheKey, CacheValue, NamespaceStats, NewAuditEntry};
use strata::{Config, Error};
use time::OffsetDateTime;

use crate::audit::{Access, ActorArg, record, time_text, with_db};
use crate::output::{Outcome, Output, table};

/// `strata cache [--actor NAME] ...`
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Who acts.
    #[command(flatten)]
    pub actor: ActorArg,
    /// What to do.
    #[command(subcommand)]
    pub command: CacheCommand,
}

/// The subcommands of `strata cache`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Entries, bytes and expired-but-not-yet-swept entries per namespace (read-only).
    Stats {
        /// Only this namespace.
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
    },
    /// One live entry with its value, size, expiry and hits, read without recording
    /// a hit (read-only); E4002 when there is no live entry (absent or expired).
    Get {
        /// The entry's namespace.
        namespace: String,
        /// The entry's key.
        key: String,
    },
    /// Delete one entry (expired or not); deleting an absent entry is not an error
    /// (it prints that there was none, `"deleted": false` in JSON).
    Delete {
        /// The entry's namespace.
        namespace: String,
        /// The entry's key.
        key: String,
    },
    /// Delete the expired entries now, in batches of the config's
    /// `cache.sweep_batch`, as the background sweeper does.
    PurgeExpired,
    /// Delete every entry of one namespace; WITHOUT --namespace, every entry of EVERY
    /// namespace, which needs --yes (E6001 otherwise, and nothing is deleted).
    Clear {
        /// Only this namespace.
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        /// Confirm clearing every namespace (needed without --namespace).
        #[arg(long)]
        yes: bool,
    },
}

/// The `cache stats` document.
#[derive(Serialize)]
struct Stats {
    namespaces: Vec<NamespaceStats>,
}

/// The `cache get` document: `value` is the JSON value of a JSON entry, or the bytes
/// of a bytes entry as lowercase hex.
#[derive(Serialize)]
struct EntryDoc {
    namespace: String,
    key: String,
    format: &'static str,
    value: Value,
    size: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    read_at: OffsetDateTime,
    hits: i64,
}

/// The `cache delete` document.
#[derive(Serialize)]
struct Deleted {
    namespace: String,
    key: String,
    deleted: bool,
    audit_id: Option<i64>,
}

/// The `cache purge-expired` document.
#[derive(Serialize)]
struct Purged {
    deleted: u64,
    batches: u64,
    audit_id: Option<i64>,
}

/// The `cache clear` document.
#[derive(Serialize)]
struct Cleared {
    namespace: Option<String>,
    deleted: u64,
    audit_id: Option<i64>,
}

/// Runs one `strata cache` subcommand.
pub async fn run(args: &CacheArgs, config: &Config, out: &Output) -> strata::Result<Outcome> {
    match &args.command {
        CacheCommand::Stats { namespace } => {
            let namespaces = with_db(config, Access::Read, &["cache"], async |db| match namespace {
                Some(namespace) => Ok(db.cache().namespace_stats_of(namespace).await?.into_iter().collect()),
                None => db.cache().namespace_stats().await,
            })
            .await?;
            out.print(&Stats { namespaces }, render_stats);
        }
        CacheCommand::Get { namespace, key } => {
            let entry = with_db(config, Access::Read, &["cache"], async |db| {
                db.cache().peek(CacheKey { namespace, key }).await?.ok_or_else(|| Error::NotFound {
                    what: format!("cache entry `{namespace}/{key}` (absent or expired)"),
                })
            })
            .await?;
            out.print(&entry_doc(namespace, key, entry), render_entry);
        }
        CacheCommand::Delete { namespace, key } => {
            let actor = args.actor.resolve()?;
            let deleted = with_db(config, Access::Write, &["cache", "audit"], async |db| {
                let deleted = db.cache().delete(CacheKey { namespace, key }).await?;
                let entry = NewAuditEntry::by(actor)
                    .action("cache.delete")
                    .data(json!({ "namespace": namespace, "key": key, "deleted": deleted }));
                Ok(Deleted {
                    namespace: namespace.clone(),
                    key: key.clone(),
                    deleted,
                    audit_id: record(db, entry).await,
                })
            })
            .await?;
            out.print(&deleted, |d| match d.deleted {
                true => format!("deleted cache entry {}/{}\n", d.namespace, d.key),
                false => format!("no cache entry {}/{}: nothing deleted\n", d.namespace, d.key),
            });
        }
        CacheCommand::PurgeExpired => {
            let actor = args.actor.resolve()?;
            let batch = config.cache.sweep_batch;
            let purged = with_db(config, Access::Write, &["cache", "audit"], async |db| {
                let report = db.cache().sweep_expired(batch).await?;
                let entry = NewAuditEntry::by(actor)
                    .action("cache.purge_expired")
                    .data(json!({ "deleted": report.deleted, "batches": report.batches }));
                Ok(Purged {
                    deleted: report.deleted,
                    batches: report.batches,
                    audit_id: record(db, entry).await,
                })
            })
            .await?;
            out.print(&purged, |p| {
                format!(
                    "purged {} expired cache entr{} in {} batch(es)\n",
                    p.deleted,
                    plural(p.deleted),
                    p.batches
                )
            });
        }
        CacheCommand::Clear { namespace, yes } => {
            if namespace.is_none() && !yes {
                return Err(Error::invalid(
                    "--yes",
                    "`strata cache clear` without --namespace deletes every entry of every namespace: \
                     pass --yes to confirm, or --namespace NS to clear one",
                ));
            }
            let actor = args.actor.resolve()?;
            let cleared = with_db(config, Access::Write, &["cache", "audit"], async |db| {
                let namespaces = match namespace {
                    Some(namespace) => vec![namespace.clone()],
                    None => db.cache().namespace_stats().await?.into_iter().map(|s| s.namespace).collect(),
                };
                let mut deleted = 0;
                for namespace in &namespaces {
                    deleted += db.cache().delete_namespace(namespace).await?;
                }
                let entry = NewAuditEntry::by(actor)
                    .action("cache.clear")
                    .data(json!({ "namespace": namespace, "deleted": deleted }));
                Ok(Cleared { namespace: namespace.clone(), deleted, audit_id: record(db, entry).await })
            })
            .await?;
            out.print(&cleared, |c| match &c.namespace {
                Some(namespace) => {
                    format!(
                        "cleared {} cache entr{} of namespace {namespace}\n",
                        c.deleted,
                        plural(c.deleted)
                    )
                }
                None => format!("cleared {} cache entr{} of every namespace\n", c.deleted, plural(c.deleted)),
            });
        }
    }
    Ok(Outcome::Success)
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "y" } else { "ies" }
}

fn entry_doc(namespace: &str, key: &str, entry: CacheEntry) -> EntryDoc {
    let (format, value) = match entry.value {
        // The table's CHECK keeps JSON entries valid JSON; text that still does not
        // parse is shown as a string rather than failing the inspection.
        CacheValue::Json(text) => ("json", serde_json::from_str(&text).unwrap_or(Value::String(text))),
        CacheValue::Bytes(bytes) => ("bytes", Value::String(hex(&bytes))),
    };
    EntryDoc {
        namespace: namespace.to_string(),
        key: key.to_string(),
        format,
        value,
        size: entry.size,
        expires_at: entry.expires_at,
        created_at: entry.created_at,
        updated_at: entry.updated_at,
        read_at: entry.read_at,
        hits: entry.hits,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn render_stats(stats: &Stats) -> String {
    if stats.namespaces.is_empty() {
        return "no cache entries\n".to_string();
    }
    let row = |s: &NamespaceStats| {
        vec![s.namespace.clone(), s.entries.to_string(), s.bytes.to_string(), s.expired.to_string()]
    };
    let mut rows: Vec<Vec<String>> = stats.namespaces.iter().map(row).collect();
    if stats.namespaces.len() > 1 {
        let mut total = NamespaceStats { namespace: "(total)".to_string(), ..NamespaceStats::default() };
        for s in &stats.namespaces {
            total.entries += s.entries;
            total.bytes += s.bytes;
            total.expired += s.expired;
        }
        rows.push(row(&total));
    }
    table(&["namespace", "entries", "bytes", "expired"], rows)
}

fn render_entry(e: &EntryDoc) -> String {
    let value = match &e.value {
        Value::String(hex) if e.format == "bytes" => format!("{} bytes, hex {hex}", e.size),
        value => value.to_string(),
    };
    format!(
        "namespace: {}\nkey: {}\nformat: {} ({} bytes)\nexpires: {}\ncreated: {}\nupdated: {}\n\
         last read: {} ({} hit(s))\nvalue: {value}\n",
        e.namespace,
        e.key,
        e.format,
        e.size,
        e.expires_at.map_or_else(|| "never".to_string(), |at| time_text(to_millis(at))),
        time_text(to_millis(e.created_at)),
        time_text(to_millis(e.updated_at)),
        time_text(to_millis(e.read_at)),
        e.hits,
    )
}

#[cfg(test)]
mod tests {
    use super::hex;

    #[test]
    fn bytes_print_as_lowercase_hex() {
        assert_eq!(hex(&[0, 1, 0xab, 0xff]), "0001abff");
        assert_eq!(hex(&[]), "");
    }
}
