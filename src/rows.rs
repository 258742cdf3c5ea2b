//! Typed reads: rows into serde structs on the reader pool (`query_as`, `query_one`,
//! `query_optional`, `query_stream`), and [`json`] for JSON text columns.

use std::any::type_name;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;
use strata_pool::rusqlite::{Params, Row};
use tokio::sync::mpsc;

use crate::{Database, Error, Result, oplog};

/// How many decoded rows a [`RowStream`] holds before the reader waits for the
/// consumer: the memory bound of a stream.
const STREAM_BUFFER: usize = 64;

impl Database {
    /// Every row of `sql` as a `T`, on a reader (counted by the query statistics like
    /// any read). Columns fill the fields of the same name (`SELECT a AS field`), a
    /// NULL needs an `Option` field, and JSON text goes through [`json`]. `params`
    /// are owned values: `()`, a tuple such as `(7, "x".to_string())`, an array, or
    /// `rusqlite::params_from_iter(values)`. A value that does not fit is E4020; a
    /// bad statement is E4004.
    pub async fn query_as<T, P>(&self, sql: &str, params: P) -> Result<Vec<T>>
    where
        T: DeserializeOwned + Send + 'static,
        P: Params + Send + 'static,
    {
        oplog::logged(
            "query",
            "",
            |rows: &Vec<T>| oplog::count(rows.len()),
            self.decoded_rows(sql, params, usize::MAX),
        )
        .await
    }

    /// The first row of `sql` as a `T`; no row is E4002. See [`Database::query_as`].
    pub async fn query_one<T, P>(&self, sql: &str, params: P) -> Result<T>
    where
        T: DeserializeOwned + Send + 'static,
        P: Params + Send + 'static,
    {
        match self.query_optional(sql, params).await? {
            Some(row) => Ok(row),
            None => Err(Error::NotFound { what: format!("a row of `{sql}`") }),
        }
    }

    /// The first row of `sql` as a `T`, or `None` when there is none. See
    /// [`Database::query_as`].
    pub async fn query_optional<T, P>(&self, sql: &str, params: P) -> Result<Option<T>>
    where
        T: DeserializeOwned + Send + 'static,
        P: Params + Send + 'static,
    {
        let work = self.decoded_rows(sql, params, 1);
        Ok(oplog::logged("query", "", |rows: &Vec<T>| oplog::count(rows.len()), work).await?.pop())
    }

    /// The first `limit` rows of `sql`, each decoded into a `T`, on a reader.
    async fn decoded_rows<T, P>(&self, sql: &str, params: P, limit: usize) -> Result<Vec<T>>
    where
        T: DeserializeOwned + Send + 'static,
        P: Params + Send + 'static,
    {
        let sql = sql.to_owned();
        self.pool
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&sql)?;
                let columns = serde_rusqlite::columns_from_statement(&stmt);
                let mut rows = stmt.query(params)?;
                let mut out = Vec::new();
                while out.len() < limit
                    && let Some(row) = rows.next()?
                {
                    out.push(decode(row, &columns)?);
                }
                Ok(out)
            })
            .await
    }

    /// The rows of `sql` as a stream of `T`, for results too large to hold: one reader
    /// runs the statement and hands rows over a channel of 64, waiting whenever the
    /// consumer is that far behind, so memory stays bounded whatever the row count.
    /// The reader (and its read snapshot, which keeps the WAL from being
    /// checkpointed past it) is held until the last row is taken or the stream is
    /// dropped; dropping it stops the statement. Errors (acquiring the reader, the
    /// statement, a row that does not fit) arrive as an item, and the stream ends
    /// after them.
    pub async fn query_stream<T, P>(&self, sql: &str, params: P) -> RowStream<T>
    where
        T: DeserializeOwned + Send + 'static,
        P: Params + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let pool = self.pool.clone();
        let sql = sql.to_owned();
        tokio::spawn(async move {
            let rows_tx = tx.clone();
            let outcome = pool
                .read(move |conn| {
                    let mut stmt = conn.prepare(&sql)?;
                    let columns = serde_rusqlite::columns_from_statement(&stmt);
                    let mut rows = stmt.query(params)?;
                    while let Some(row) = rows.next()? {
                        // On a blocking thread of the reader pool: waiting here is the
                        // backpressure. An error means the stream was dropped: stop.
                        if rows_tx.blocking_send(decode(row, &columns)).is_err() {
                            break;
                        }
                    }
                    Ok(())
                })
                .await;
            if let Err(err) = outcome {
                // The receiver may be gone already; then nobody needs the error.
                let _ = tx.send(Err(err)).await;
            }
        });
        RowStream { rx }
    }
}

/// The rows of [`Database::query_stream`]: take them with [`RowStream::next`], or as a
/// `futures_core::Stream` with any `StreamExt` combinator.
#[derive(Debug)]
pub struct RowStream<T> {
    rx: mpsc::Receiver<Result<T>>,
}

impl<T> RowStream<T> {
    /// The next row, an error (after which the stream ends), or `None` at the end.
    pub async fn next(&mut self) -> Option<Result<T>> {
        self.rx.recv().await
    }
}

impl<T> futures_core::Stream for RowStream<T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// One row into a `T` by column name; a failure is E4020 naming `T`.
fn decode<T: DeserializeOwned>(row: &Row<'_>, columns: &[String]) -> Result<T> {
    serde_rusqlite::from_row_with_columns(row, columns).map_err(|err| {
        let message = match err {
            serde_rusqlite::Error::Deserialization { column: Some(column), message } => {
                format!("column `{column}`: {message}")
            }
            serde_rusqlite::Error::Rusqlite(err) => err.to_string(),
            other => other.to_string(),
        };
        Error::RowDecode { target: short_type_name::<T>(), message }
    })
}

/// `T`'s name without module paths before its generics: `Page`, `Vec<app::Page>`.
fn short_type_name<T>() -> String {
    let full = type_name::<T>();
    let generics = full.find('<').unwrap_or(full.len());
    let (head, rest) = full.split_at(generics);
    let head = head.rsplit("::").next().unwrap_or(head);
    format!("{head}{rest}")
}

/// A field stored as JSON text: `#[serde(with = "strata::json")]` on a field of any
/// serde type (`serde_json::Value`, a struct, a map) parses the column's text on read
/// and writes JSON text when the struct is serialized. A NULL column needs
/// `Option<...>` with `#[serde(default, with = "strata::json::option")]`.
pub mod json {
    use serde::de::{DeserializeOwned, Error as _};
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Parses the column's JSON text into `T`.
    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: DeserializeOwned,
    {
        let text = String::deserialize(deserializer)?;
        serde_json::from_str(&text).map_err(|err| D::Error::custom(format!("invalid json: {err}")))
    }

    /// Writes `value` as JSON text.
    pub fn serialize<S, T>(value: &T, serializer: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        T: Serialize,
    {
        let text = serde_json::to_string(value).map_err(S::Error::custom)?;
        serializer.serialize_str(&text)
    }

    /// The same for a nullable JSON column: NULL is `None`.
    pub mod option {
        use super::*;

        /// Parses the column's JSON text into `Some(T)`; NULL is `None`.
        pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
        where
            D: Deserializer<'de>,
            T: DeserializeOwned,
        {
            match Option::<String>::deserialize(deserializer)? {
                Some(text) => serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|err| D::Error::custom(format!("invalid json: {err}"))),
                None => Ok(None),
            }
        }

        /// Writes `Some(value)` as JSON text and `None` as NULL.
        pub fn serialize<S, T>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error>
        where
            S: Serializer,
            T: Serialize,
        {
            match value {
                Some(value) => super::serialize(value, serializer),
                None => serializer.serialize_none(),
            }
        }
    }
}
