//! Keyset pagination: a page of rows and the cursor of the next one, the one pair of
//! types every listing of strata returns. Lists never use `OFFSET`, so the cost of page
//! n does not grow with n. The cursor is an id (`i64`, the default), a text key
//! (`String`, lists ordered by name) or a listing's own cursor type (e.g. a search's
//! results in rank order).

use rusqlite::{Connection, Row, ToSql};
use serde::{Deserialize, Serialize};
use strata_core::{Error, Result};
use strata_pool::Affected;

/// The largest page a list returns.
pub const MAX_PAGE: usize = 1_000;

/// Which page to read: rows after `after` (a cursor from [`Page::next`]), at most
/// `limit` of them. `C` is the listing's cursor: an id unless the listing says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest<C = i64> {
    /// The cursor of the previous page; `None` starts at the beginning.
    pub after: Option<C>,
    /// Rows per page, 1 to 1,000.
    pub limit: usize,
}

impl<C> PageRequest<C> {
    /// The first page of `limit` rows.
    pub fn first(limit: usize) -> Self {
        PageRequest { after: None, limit }
    }

    /// The page after the cursor `after`.
    pub fn after(after: impl Into<C>, limit: usize) -> Self {
        PageRequest { after: Some(after.into()), limit }
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

impl PageRequest<String> {
    /// The text cursor as an SQL parameter: keys are never empty (CHECK `<> ''`), so
    /// every key sorts after `''` and the first page starts there.
    pub(crate) fn sql_after(&self) -> String {
        self.after.clone().unwrap_or_default()
    }
}

impl<C> Default for PageRequest<C> {
    fn default() -> Self {
        PageRequest::first(100)
    }
}

/// A page of rows in keyset order and the cursor of the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T, C = i64> {
    /// The rows.
    pub items: Vec<T>,
    /// The cursor to pass as `PageRequest::after` for the next page; `None` when this
    /// page is the last.
    pub next: Option<C>,
}

impl<T, C> Page<T, C> {
    /// Builds a page from up to `limit + 1` rows read in keyset order: the extra row
    /// only says that there is a next page.
    pub fn from_rows(mut rows: Vec<T>, limit: usize, cursor: impl Fn(&T) -> C) -> Self {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more { rows.last().map(&cursor) } else { None };
        Page { items: rows, next }
    }
}

/// A page stands for the rows it holds in the operation log.
impl<T, C> Affected for Page<T, C> {
    fn affected(&self) -> u64 {
        self.items.len().affected()
    }
}

/// Reads one page of a listing in integer-key order on `conn`: runs the cached
/// statement `sql`, whose parameters are `params`, then the cursor (`i64::MIN` on the
/// first page), then the `LIMIT +?` of one row more than the page (see
/// [`PageRequest::sql_limit`]); maps each row with `row` and takes the next cursor
/// from the last row's `key`. E6001 for a limit out of range.
pub(crate) fn read_page<T>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
    page: PageRequest,
    row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    key: impl Fn(&T) -> i64,
) -> Result<Page<T>> {
    let limit = crate::row::plus_one(page.sql_limit()?);
    let after = page.after.unwrap_or(i64::MIN);
    let mut all = params.to_vec();
    all.extend([&after as &dyn ToSql, &limit]);
    let rows =
        conn.prepare_cached(sql)?.query_map(all.as_slice(), row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, page.limit, key))
}
