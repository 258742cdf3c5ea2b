//! Keyset pagination: a page of rows and the cursor of the next one. Lists never use
//! `OFFSET`, so the cost of page n does not grow with n.

use serde::{Deserialize, Serialize};
use strata_core::{Error, Result};

/// The largest page a list returns.
pub const MAX_PAGE: usize = 1_000;

/// Which page to read: rows after `after` (a cursor from [`Page::next`]), at most
/// `limit` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    /// The cursor of the previous page; `None` starts at the beginning.
    pub after: Option<i64>,
    /// Rows per page, 1 to 1,000.
    pub limit: usize,
}

impl PageRequest {
    /// The first page of `limit` rows.
    pub fn first(limit: usize) -> Self {
        PageRequest { after: None, limit }
    }

    /// The page after the cursor `after`.
    pub fn after(after: i64, limit: usize) -> Self {
        PageRequest { after: Some(after), limit }
    }

    /// `limit` as an SQL parameter, after checking it is 1 to 1,000 (E6001).
    ///
    /// Bind it as `LIMIT +?N`, never as a bare `LIMIT ?N`: SQLite (3.53) plans with
    /// the value of a bare LIMIT parameter and so marks the statement to be prepared
    /// again each time that parameter is bound, which re-parses the SQL on every run.
    /// The unary plus is a no-op on the value and keeps the prepared statement.
    pub fn sql_limit(&self) -> Result<i64> {
        if self.limit == 0 || self.limit > MAX_PAGE {
            return Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_PAGE}, got {}", self.limit),
            ));
        }
        // At most MAX_PAGE, which fits an i64.
        Ok(self.limit as i64)
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest::first(100)
    }
}

/// A page of rows in keyset order and the cursor of the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// The cursor to pass as `PageRequest::after` for the next page; `None` when this
    /// page is the last.
    pub next: Option<i64>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows read in keyset order: the extra row
    /// only says that there is a next page.
    pub fn from_rows(mut rows: Vec<T>, limit: usize, cursor: impl Fn(&T) -> i64) -> Self {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more { rows.last().map(&cursor) } else { None };
        Page { items: rows, next }
    }
}
