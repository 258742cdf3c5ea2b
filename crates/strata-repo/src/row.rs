//! How the orchestration repositories read and write their columns: JSON text columns
//! as `serde_json::Value`, CHECKed text columns as enums ([`text_enum!`]), and the
//! text-cursor page ([`KeyPage`]) of lists ordered by a name or key instead of an id.

use rusqlite::Row;
use rusqlite::types::Type;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_core::Result;

use crate::PageRequest;

/// Which page of a list ordered by a text key to read: rows whose key sorts after
/// `after` (a cursor from [`KeyPage::next`]), at most `limit` of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPageRequest {
    /// The cursor of the previous page; `None` starts at the beginning.
    pub after: Option<String>,
    /// Rows per page, 1 to 1,000.
    pub limit: usize,
}

impl Default for KeyPageRequest {
    fn default() -> Self {
        KeyPageRequest::first(100)
    }
}

impl KeyPageRequest {
    /// The first page of `limit` rows.
    pub fn first(limit: usize) -> Self {
        KeyPageRequest { after: None, limit }
    }

    /// The page after the cursor `after`.
    pub fn after(after: impl Into<String>, limit: usize) -> Self {
        KeyPageRequest { after: Some(after.into()), limit }
    }

    /// `limit` as an SQL parameter, after checking it is 1 to 1,000 (E6001).
    pub fn sql_limit(&self) -> Result<i64> {
        PageRequest::first(self.limit).sql_limit()
    }

    /// The cursor as an SQL parameter: keys are never empty (CHECK `<> ''`), so every
    /// key sorts after `''` and the first page starts there.
    pub(crate) fn sql_after(&self) -> String {
        self.after.clone().unwrap_or_default()
    }
}

/// A page of rows in key order and the cursor of the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyPage<T> {
    /// The rows.
    pub items: Vec<T>,
    /// The cursor to pass as `KeyPageRequest::after` for the next page; `None` when
    /// this page is the last.
    pub next: Option<String>,
}

impl<T> KeyPage<T> {
    /// Builds a page from up to `limit + 1` rows read in key order: the extra row only
    /// says that there is a next page.
    pub(crate) fn from_rows(mut rows: Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> Self {
        // `limit` comes from `sql_limit`, 1 to 1,000, so it fits a usize.
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more { rows.last().map(&cursor) } else { None };
        KeyPage { items: rows, next }
    }
}

/// A JSON value as the text stored in a `json_valid` column: its compact JSON.
/// `serde_json::to_string` writes it in half the time `Value`'s `Display` takes (no
/// `fmt` adapter); neither can fail for a `Value` (object keys are always strings),
/// and `Display` stands in should that ever change.
pub(crate) fn json_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| value.to_string())
}

/// Reads a JSON text column; text that does not parse is a conversion error (E4005).
pub(crate) fn json_column(row: &Row<'_>, idx: usize) -> rusqlite::Result<Value> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

/// `limit + 1` as an SQL parameter: one row more than the page says whether there is
/// a next page.
pub(crate) fn plus_one(limit: i64) -> i64 {
    limit + 1
}

/// Defines an enum over the values a text column's CHECK admits: `as_str`, `ALL`,
/// `Display`, `FromStr` (an unknown text is E6001 naming the field), serde as the same
/// text, and `ToSql`/`FromSql` so rows bind and read it directly.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($field:literal) {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = strata_core::Error;

            fn from_str(s: &str) -> strata_core::Result<Self> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    other => Err(strata_core::Error::invalid(
                        $field,
                        format!(
                            "unknown value `{other}`, expected one of: {}",
                            $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    )),
                }
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                let text = value.as_str()?;
                text.parse().map_err(|e: strata_core::Error| rusqlite::types::FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

pub(crate) use text_enum;
