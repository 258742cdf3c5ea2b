//! A query builder through the pool: statements built with [`sea_query`] run on
//! strata's readers and writer with their values bound as parameters, never formatted
//! into the SQL, so they are timed, retried and counted by the query statistics like
//! every other statement. Behind the `query-builder` feature (on by default).
//!
//! sea-query's own rusqlite binder (sea-query-rusqlite 0.8) is built on rusqlite 0.38;
//! strata is on 0.40, so [`Bound`] binds sea-query's `Values` itself, through
//! `rusqlite::types::Value`.
//!
//! ```
//! use strata::query::sea_query::{Expr, ExprTrait, Order, Query};
//! use strata::{Config, Database, MigrationSet, Migrations};
//!
//! #[derive(Debug, serde::Deserialize)]
//! struct Note {
//!     id: i64,
//!     body: String,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> strata::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("app.db");
//! let set = MigrationSet::from_sources([(
//!     "V1__notes",
//!     "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL, pinned INTEGER NOT NULL DEFAULT 0);",
//!     None,
//! )])?;
//! let db = Database::open_with(&Config::for_path(path), Migrations::from(set)).await?;
//!
//! let insert = Query::insert()
//!     .into_table("notes")
//!     .columns(["body", "pinned"])
//!     .values_panic(["first".into(), true.into()])
//!     .values_panic(["second'); DROP TABLE notes; --".into(), false.into()])
//!     .to_owned();
//! assert_eq!(db.execute_query(&insert).await?, 2);
//!
//! let pinned = Query::select()
//!     .columns(["id", "body"])
//!     .from("notes")
//!     .and_where(Expr::col("pinned").eq(true))
//!     .order_by("id", Order::Asc)
//!     .to_owned();
//! let notes: Vec<Note> = db.select_as(&pinned).await?;
//! assert_eq!(notes.len(), 1);
//! assert_eq!(notes[0].body, "first");
//!
//! // The values are parameters: the SQL has only placeholders.
//! let bound = strata::query::Bound::new(&pinned)?;
//! assert_eq!(bound.sql, r#"SELECT "id", "body" FROM "notes" WHERE "pinned" = ? ORDER BY "id" ASC"#);
//! db.close().await?;
//! # Ok(())
//! # }
//! ```

use sea_query::{OptionEnum, QueryStatementWriter, SelectStatement, SqliteQueryBuilder, Value as SeaValue};
use serde::de::DeserializeOwned;
use strata_pool::rusqlite::params_from_iter;
use strata_pool::rusqlite::types::Value;

use crate::{Database, Error, Result, oplog};

/// The builder itself, re-exported so that its version is the one strata binds.
pub use sea_query;

/// A statement built for SQLite: its SQL, with `?` placeholders, and the values to
/// bind to them in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    /// The SQL text.
    pub sql: String,
    /// One value per placeholder.
    pub values: Vec<Value>,
}

impl Bound {
    /// Builds `statement` with sea-query's SQLite builder and converts its values.
    /// A value SQLite cannot hold (a `u64` above `i64::MAX`, a type of a sea-query
    /// feature strata does not bind) is E4005.
    pub fn new(statement: &impl QueryStatementWriter) -> Result<Bound> {
        let (sql, values) = statement.build(SqliteQueryBuilder);
        let values = values.into_iter().map(sqlite_value).collect::<Result<_>>()?;
        Ok(Bound { sql, values })
    }

    /// The values as parameters for `rusqlite` (`conn.execute(&bound.sql, bound.params())`).
    pub fn params(&self) -> impl strata_pool::rusqlite::Params + '_ {
        params_from_iter(self.values.iter())
    }
}

impl Database {
    /// The rows of a built `SELECT`, each as a `T` (see [`Database::query_as`]), on a
    /// reader with the statement's values bound.
    pub async fn select_as<T>(&self, query: &SelectStatement) -> Result<Vec<T>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let Bound { sql, values } = Bound::new(query)?;
        self.query_as(&sql, params_from_iter(values)).await
    }

    /// Runs a built `INSERT`, `UPDATE` or `DELETE` (or any statement) on the writer,
    /// inside a group commit, and returns the number of rows it changed.
    pub async fn execute_query(&self, statement: &impl QueryStatementWriter) -> Result<usize> {
        let bound = Bound::new(statement)?;
        let work = self.pool().write(move |c| Ok(c.execute(&bound.sql, bound.params())?));
        oplog::logged("execute", "", |rows: &usize| oplog::count(*rows), work).await
    }
}

/// sea-query's value as SQLite's.
fn sqlite_value(value: SeaValue) -> Result<Value> {
    let int = |v: Option<i64>| v.map_or(Value::Null, Value::Integer);
    Ok(match value {
        SeaValue::Bool(v) => int(v.map(i64::from)),
        SeaValue::TinyInt(v) => int(v.map(i64::from)),
        SeaValue::SmallInt(v) => int(v.map(i64::from)),
        SeaValue::Int(v) => int(v.map(i64::from)),
        SeaValue::BigInt(v) => int(v),
        SeaValue::TinyUnsigned(v) => int(v.map(i64::from)),
        SeaValue::SmallUnsigned(v) => int(v.map(i64::from)),
        SeaValue::Unsigned(v) => int(v.map(i64::from)),
        SeaValue::BigUnsigned(v) => match v.map(i64::try_from).transpose() {
            Ok(v) => int(v),
            Err(_) => {
                return Err(Error::Conversion {
                    message: "a u64 above i64::MAX does not fit an SQLite integer".to_string(),
                });
            }
        },
        SeaValue::Float(v) => v.map_or(Value::Null, |f| Value::Real(f64::from(f))),
        SeaValue::Double(v) => v.map_or(Value::Null, Value::Real),
        SeaValue::String(v) => v.map_or(Value::Null, Value::Text),
        SeaValue::Char(v) => v.map_or(Value::Null, |c| Value::Text(c.to_string())),
        SeaValue::Enum(OptionEnum::Some(e)) => Value::Text(e.value.into_owned()),
        SeaValue::Enum(OptionEnum::None(_)) => Value::Null,
        SeaValue::Bytes(v) => v.map_or(Value::Null, Value::Blob),
        // Other crates in a build may switch on sea-query features (JSON, chrono,
        // uuid, ...) that add variants; strata binds the portable ones above.
        #[allow(unreachable_patterns)]
        other => {
            return Err(Error::Conversion {
                message: format!("sea-query value {other:?} has no SQLite binding in strata"),
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_query::{Expr, ExprTrait, Query};

    #[test]
    fn values_become_parameters_of_their_sqlite_type() {
        let query = Query::select()
            .column("id")
            .from("t")
            .and_where(Expr::col("a").eq(1u8))
            .and_where(Expr::col("b").eq("x'y"))
            .and_where(Expr::col("c").eq(2.5f32))
            .and_where(Expr::col("d").eq(vec![1u8, 2]))
            .and_where(Expr::col("e").eq(Option::<i64>::None))
            .to_owned();
        let bound = Bound::new(&query).unwrap();
        assert!(!bound.sql.contains("x'y"), "{}", bound.sql);
        assert_eq!(
            bound.values,
            [
                Value::Integer(1),
                Value::Text("x'y".into()),
                Value::Real(2.5),
                Value::Blob(vec![1, 2]),
                Value::Null
            ]
        );
        let too_big =
            Query::select().column("id").from("t").and_where(Expr::col("a").eq(u64::MAX)).to_owned();
        assert_eq!(Bound::new(&too_big).unwrap_err().code(), "E4005");
    }
}
