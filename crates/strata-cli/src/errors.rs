//! `strata errors [CODE]`: the error catalog (code, kind, message, cause, hint), or one
//! code's entry. Needs no config and no database, so it explains an error while the
//! database is unreachable.

use serde::Serialize;
use strata::core::{CATALOG, ErrorInfo};

use crate::output::{Outcome, Output};

/// One catalog entry as JSON.
#[derive(Serialize)]
struct Entry {
    code: &'static str,
    kind: &'static str,
    message: &'static str,
    cause: &'static str,
    hint: &'static str,
}

impl From<&ErrorInfo> for Entry {
    fn from(info: &ErrorInfo) -> Self {
        Entry {
            code: info.code,
            kind: info.kind.as_str(),
            message: info.message,
            cause: info.cause,
            hint: info.hint,
        }
    }
}

/// Runs `strata errors`: every code, or the entry of `code` (E6001 when unknown).
pub fn run(code: Option<&str>, out: &Output) -> strata::Result<Outcome> {
    match code {
        None => {
            let entries: Vec<Entry> = CATALOG.iter().map(Entry::from).collect();
            out.print(&entries, |entries| {
                let rows = entries
                    .iter()
                    .map(|e| vec![e.code.to_string(), e.kind.to_string(), e.message.to_string()]);
                crate::output::table(&["code", "kind", "message"], rows)
            });
        }
        Some(code) => {
            let wanted = code.trim().to_ascii_uppercase();
            let info = CATALOG.iter().find(|info| info.code == wanted).ok_or_else(|| {
                strata::Error::invalid(
                    "code",
                    format!("{code} is not a strata error code; `strata errors` lists them"),
                )
            })?;
            out.print(&Entry::from(info), |e| {
                format!("{} ({})\n{}\n\ncause: {}\nhint: {}\n", e.code, e.kind, e.message, e.cause, e.hint)
            });
        }
    }
    Ok(Outcome::Success)
}
