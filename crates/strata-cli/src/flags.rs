//! `strata flags list|get NAME|set NAME VALUE`: the feature flags of a strata
//! database. Values are JSON; `set` takes a bare word that is not valid JSON as a
//! JSON string (`strata flags set mode fast` stores `"fast"`), and the library appends
//! its `flag.set` audit row, with the actor of `--actor`, in the same transaction.
//! Every subcommand needs an existing database with the reference schema (E2004
//! otherwise; `set` does not create one either, so a mistyped `--db` cannot leave a
//! stray database behind).

use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::Value;
use strata::Config;
use strata::repo::clock::to_millis;
use strata::repo::{Flag, FlagChange, Flags, PageRequest};

use crate::audit::{Access, ActorArg, short_json, time_text, with_db};
use crate::output::{Outcome, Output, table};

/// `strata flags [--actor NAME] ...`
#[derive(Debug, Args)]
pub struct FlagsArgs {
    /// Who acts.
    #[command(flatten)]
    pub actor: ActorArg,
    /// What to do.
    #[command(subcommand)]
    pub command: FlagsCommand,
}

/// The subcommands of `strata flags`.
#[derive(Debug, Subcommand)]
pub enum FlagsCommand {
    /// The flags in name order, one page at a time; the next page is `--after` the
    /// name printed under the table.
    List {
        /// Flags per page (1 to 1000).
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: usize,
        /// The cursor of the previous page (the `next` it printed).
        #[arg(long, value_name = "NAME")]
        after: Option<String>,
    },
    /// One flag with its value, description and last change (E4002 if there is none).
    Get {
        /// The flag's name.
        name: String,
    },
    /// Set a flag (creating it if needed) and audit the change as action `flag.set`.
    /// The database must exist already (`strata init` creates it).
    Set {
        /// The flag's name.
        name: String,
        /// The value, as JSON: `true`, `42`, `'{"rate": 0.5}'`, `'"text"'`. A bare word
        /// that is not valid JSON is taken as a string: `fast` stores "fast"; text
        /// starting with `{`, `[` or `"` must be valid JSON (E6001 otherwise).
        #[arg(allow_hyphen_values = true)]
        value: String,
        /// What the flag is for [default: keep the current description].
        #[arg(long, short, value_name = "TEXT")]
        description: Option<String>,
    },
}

/// The `flags list` document.
#[derive(Serialize)]
struct FlagPage {
    flags: Vec<Flag>,
    next: Option<String>,
}

/// Runs one `strata flags` subcommand.
pub async fn run(args: &FlagsArgs, config: &Config, out: &Output) -> strata::Result<Outcome> {
    match &args.command {
        FlagsCommand::List { limit, after } => {
            let page = PageRequest::<String> { after: after.clone(), limit: *limit };
            let found = with_db(config, Access::Read, &["flags"], async |db| {
                Flags::new(db.pool().clone()).list(page).await
            })
            .await?;
            out.print(&FlagPage { flags: found.items, next: found.next }, render_list);
        }
        FlagsCommand::Get { name } => {
            let flag = with_db(config, Access::Read, &["flags"], async |db| {
                Flags::new(db.pool().clone())
                    .get(name)
                    .await?
                    .ok_or_else(|| strata::Error::NotFound { what: format!("flag `{name}`") })
            })
            .await?;
            out.print(&flag, render_flag);
        }
        FlagsCommand::Set { name, value, description } => {
            if name.trim().is_empty() {
                return Err(strata::Error::invalid("NAME", "must not be empty"));
            }
            let actor = args.actor.resolve()?;
            let value = parse_value(value)?;
            let flag = with_db(config, Access::Write, &["flags", "audit"], async |db| {
                let change = match description {
                    Some(description) => FlagChange::by(actor.as_str()).description(description.as_str()),
                    None => FlagChange::by(actor.as_str()),
                };
                Flags::new(db.pool().clone()).set(name, value, change).await
            })
            .await?;
            out.print(&flag, |f| format!("set {} = {} (by {})\n", f.name, f.value, f.updated_by));
        }
    }
    Ok(Outcome::Success)
}

/// A flag value from the command line: JSON when it parses, else the text as a JSON
/// string; but text that starts like a JSON object, array or string and does not
/// parse is E6001, as it is surely a typo rather than meant as text.
pub fn parse_value(text: &str) -> strata::Result<Value> {
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(e) if text.trim_start().starts_with(['{', '[', '"']) => Err(strata::Error::invalid(
            "VALUE",
            format!("`{text}` is not valid JSON ({e}); to store it as text, pass it as a JSON string"),
        )),
        Err(_) => Ok(Value::String(text.to_string())),
    }
}

fn render_list(page: &FlagPage) -> String {
    if page.flags.is_empty() {
        return "no flags\n".to_string();
    }
    let mut text = table(
        &["name", "value", "description", "updated by", "updated at"],
        page.flags.iter().map(|f| {
            vec![
                f.name.clone(),
                short_json(&f.value, 60),
                f.description.clone(),
                f.updated_by.clone(),
                time_text(to_millis(f.updated_at)),
            ]
        }),
    );
    if let Some(next) = &page.next {
        text += &format!("next page: --after {next}\n");
    }
    text
}

fn render_flag(f: &Flag) -> String {
    let description = if f.description.is_empty() { "-" } else { f.description.as_str() };
    format!(
        "name: {}\nvalue: {}\ndescription: {description}\nupdated by: {} at {}\n",
        f.name,
        f.value,
        f.updated_by,
        time_text(to_millis(f.updated_at))
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::parse_value;

    #[test]
    fn values_are_json_and_bare_words_are_strings() {
        let parsed = |text: &str| parse_value(text).unwrap();
        assert_eq!(parsed("fast"), json!("fast"));
        assert_eq!(parsed("\"42\""), json!("42"));
        assert_eq!(parsed("42"), json!(42));
        assert_eq!(parsed("true"), json!(true));
        assert_eq!(parsed("null"), json!(null));
        assert_eq!(parsed(r#"{"rate": 0.5}"#), json!({ "rate": 0.5 }));
        assert_eq!(parsed("two words"), json!("two words"));
        assert_eq!(parsed(""), json!(""));
        for broken in ["{broken", "[1, 2", "\"open"] {
            assert_eq!(parse_value(broken).unwrap_err().code(), "E6001", "{broken}");
        }
    }
}
