//! The facade's own operations (open, migrate, rollback, close, the query helpers) in
//! [`strata_pool::operation`] spans, like every repository and ops operation: their
//! results are types of other crates, so the rows each stands for are counted here.

use std::future::Future;

use strata_pool::{Affected, operation};

use crate::Result;

/// A result with the rows it stands for.
struct Counted<T> {
    value: T,
    rows: u64,
}

impl<T> Affected for Counted<T> {
    fn affected(&self) -> u64 {
        self.rows
    }
}

/// Runs `work` as the operation `name` on `tables`; `rows` counts its result.
pub(crate) async fn logged<T>(
    name: &'static str,
    tables: &'static str,
    rows: impl FnOnce(&T) -> u64,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let counted = async {
        let value = work.await?;
        let rows = rows(&value);
        Ok(Counted { value, rows })
    };
    Ok(operation(name, tables, counted).await?.value)
}

/// `n` as a row count.
pub(crate) fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
