//! The repositories' clock: integer milliseconds since the Unix epoch (UTC), the unit
//! of every time column of the reference schema.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    // A clock before 1970 is a broken machine; 0 keeps ordering sane there.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
