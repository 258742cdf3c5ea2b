//! How the orchestration repositories read and write their columns: JSON text columns
//! as `serde_json::Value` and CHECKed text columns as enums ([`text_enum!`]).

use rusqlite::Row;
use rusqlite::types::Type;

use serde_json::Value;

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
