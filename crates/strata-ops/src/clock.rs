//! Wall-clock times as strata writes them: RFC 3339 UTC with milliseconds in reports
//! and manifests, a compact form in backup file names, and parsing back.

use std::time::SystemTime;

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// Now, in UTC.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// `2026-11-23T09:26:13.812Z`.
pub fn rfc3339(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    // Formatting a UTC date of a known layout into a String has no failure path
    // that this format can reach (every component exists).
    at.format(&format).unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// `20261123T092613.812Z`: sortable and safe in a file name on every platform.
pub fn file_stamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    let format = format_description!("[year][month][day]T[hour][minute][second].[subsecond digits:3]Z");
    at.format(&format).unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// Parses an RFC 3339 time as written by [`rfc3339`].
pub fn parse(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// A file's modification time, if the platform reports one.
pub fn modified(path: &std::path::Path) -> Option<OffsetDateTime> {
    let time: SystemTime = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(OffsetDateTime::from(time))
}
