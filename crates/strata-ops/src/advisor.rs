//! The index advisor: for each query, read the plan; for every full scan, temp b-tree
//! or automatic index in it, propose candidate indexes from the columns the query
//! filters, joins, sorts and groups on (read with sqlparser's SQLite dialect), try
//! each on an in-memory copy of the schema, and keep those the planner then uses.
//!
//! The copy carries a sample of every table (evenly spread rowids) so that `ANALYZE`
//! gives the planner realistic statistics: row counts are scaled to the real table
//! sizes, and the database's own `sqlite_stat1` rows replace the sample's where the
//! database has them. Nothing is written to the database; the scratch copy is an
//! in-memory connection of strata-ops' own.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::Connection;
use rusqlite::types::Value;
use serde::{Deserialize, Serialize};
use sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, JoinConstraint, JoinOperator, OrderByKind, OrderBySort, Query,
    SetExpr, Statement, TableFactor,
};
use sqlparser::dialect::SQLiteDialect;
use sqlparser::parser::Parser;
use strata_core::{Error, Result};
use strata_pool::{Pool, operation};
use strata_schema::{QueryPlan, explain};

/// How the advisor samples.
#[derive(Debug, Clone)]
pub struct AdviseOptions {
    /// Rows per table copied into the scratch database for `ANALYZE`.
    pub sample_rows: u64,
    /// Indexes proposed per query at most.
    pub max_indexes_per_query: usize,
}

impl Default for AdviseOptions {
    fn default() -> Self {
        AdviseOptions { sample_rows: 10_000, max_indexes_per_query: 3 }
    }
}

/// One index to create.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Recommendation {
    /// The table.
    pub table: String,
    /// The columns, in index order (`col DESC` where a descending key helps).
    pub columns: Vec<String>,
    /// The index's proposed name.
    pub name: String,
    /// The statement to run.
    pub create_sql: String,
}

/// The advice for one query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryAdvice {
    /// The query as given.
    pub sql: String,
    /// The plan now, rendered as a tree.
    pub plan_before: String,
    /// The steps that read a whole table or sort without an index.
    pub problems: Vec<String>,
    /// The indexes the planner uses once created; empty when none is needed or none helps.
    pub recommendations: Vec<Recommendation>,
    /// The plan with the recommended indexes, when there are any.
    pub plan_after: Option<String>,
    /// Why nothing is proposed, or what could not be done.
    pub note: Option<String>,
}

/// The advice for a set of queries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdviceReport {
    /// Where the planner's statistics came from.
    pub statistics: String,
    /// One entry per query, in the order given.
    pub queries: Vec<QueryAdvice>,
    /// Every recommended index once, by table and columns.
    pub indexes: Vec<Recommendation>,
}

/// Advises on `queries` against the database of `pool`, read on one of its readers.
pub async fn advise(pool: &Pool, queries: Vec<String>, options: AdviseOptions) -> Result<AdviceReport> {
    let work = pool.read(move |conn| crate::stats::as_strata(|| advise_conn(conn, &queries, &options)));
    operation("advise", "*", work).await
}

/// Advises on `queries` against the database file at `path`, opened read-only without
/// a pool (as `strata advise` does); a missing file is E2004.
pub async fn advise_path(path: &Path, queries: Vec<String>, options: AdviseOptions) -> Result<AdviceReport> {
    let path = path.to_path_buf();
    let work = crate::blocking("advise", move || {
        let conn = strata_pool::open_read_only(&path)?;
        advise_conn(&conn, &queries, &options)
    });
    operation("advise", "*", work).await
}

/// Advises on `queries` against the database `conn` is connected to (read only).
pub(crate) fn advise_conn(
    conn: &Connection,
    queries: &[String],
    options: &AdviseOptions,
) -> Result<AdviceReport> {
    let scratch = Scratch::build(conn, options)?;
    let mut report =
        AdviceReport { statistics: scratch.statistics.clone(), queries: Vec::new(), indexes: Vec::new() };
    for sql in queries {
        let advice = scratch.advise_one(sql, options)?;
        for r in &advice.recommendations {
            if !report.indexes.iter().any(|i| i.table == r.table && i.columns == r.columns) {
                report.indexes.push(r.clone());
            }
        }
        report.queries.push(advice);
    }
    report.indexes.sort();
    Ok(report)
}

const SCHEMA_OBJECTS: &str = "SELECT type, name, tbl_name, sql FROM sqlite_schema \
     WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND type IN ('table', 'index', 'view') \
     ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid";
const HAS_STAT1: &str = "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_stat1'";
const READ_STAT1: &str = "SELECT tbl, idx, stat FROM sqlite_stat1";
const RELOAD_STATS: &str = "ANALYZE sqlite_schema";

/// The in-memory copy the trial indexes are created in.
struct Scratch {
    conn: Connection,
    /// Real row count per table.
    rows: BTreeMap<String, u64>,
    /// Columns per table (lowercase name → declared name).
    columns: BTreeMap<String, Vec<String>>,
    /// Existing indexes per table: their column lists.
    indexes: BTreeMap<String, Vec<Vec<String>>>,
    statistics: String,
}

impl Scratch {
    fn build(src: &Connection, options: &AdviseOptions) -> Result<Scratch> {
        let conn = Connection::open_in_memory()?;
        let mut stmt = src.prepare(SCHEMA_OBJECTS)?;
        let objects: Vec<(String, String, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut tables = Vec::new();
        for (kind, name, _table, sql) in &objects {
            // Virtual tables (and their shadow tables) and anything SQLite refuses here
            // are left out: the advisor works on ordinary tables.
            if sql.to_ascii_uppercase().starts_with("CREATE VIRTUAL") || conn.execute_batch(sql).is_err() {
                continue;
            }
            if kind == "table" {
                tables.push(name.clone());
            }
        }
        let mut scratch = Scratch {
            conn,
            rows: BTreeMap::new(),
            columns: BTreeMap::new(),
            indexes: BTreeMap::new(),
            statistics: String::new(),
        };
        for table in &tables {
            let count = scratch.copy_sample(src, table, options.sample_rows)?;
            scratch.rows.insert(table.clone(), count);
            scratch.columns.insert(table.clone(), table_columns(&scratch.conn, table)?);
            scratch.indexes.insert(table.clone(), index_columns(&scratch.conn, table)?);
        }
        scratch.conn.execute_batch("ANALYZE")?;
        scratch.scale_stats(None)?;
        let has_stat1 = src.query_row(HAS_STAT1, [], |r| r.get::<_, i64>(0))? > 0;
        let mut from_db = 0;
        if has_stat1 {
            let mut stmt = src.prepare(READ_STAT1)?;
            let rows: Vec<(String, Option<String>, String)> = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (tbl, idx, stat) in rows {
                let matched = scratch.conn.execute(
                    "UPDATE sqlite_stat1 SET stat = ?3 WHERE tbl = ?1 AND idx IS ?2",
                    rusqlite::params![tbl, idx, stat],
                )?;
                from_db += matched;
            }
        }
        scratch.conn.execute_batch(RELOAD_STATS)?;
        scratch.statistics = if from_db > 0 {
            format!("sqlite_stat1 of the database ({from_db} rows), ANALYZE of a sample for the rest")
        } else {
            format!(
                "ANALYZE of a sample of up to {} rows per table, scaled to the real row counts",
                options.sample_rows
            )
        };
        Ok(scratch)
    }

    /// Copies up to `sample` evenly spread rows of `table`; returns its real row count.
    fn copy_sample(&self, src: &Connection, table: &str, sample: u64) -> Result<u64> {
        let q = quote(table);
        let count: i64 = src.query_row(&format!("SELECT count(*) FROM {q}"), [], |r| r.get(0))?;
        let count = count.max(0) as u64;
        let columns = table_columns(&self.conn, table)?;
        if columns.is_empty() || count == 0 {
            return Ok(count);
        }
        let list = columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
        let step = count.div_ceil(sample.max(1)).max(1);
        let spread = format!("SELECT {list} FROM {q} WHERE rowid % {step} = 0 LIMIT {sample}");
        let first = format!("SELECT {list} FROM {q} LIMIT {sample}");
        let mut stmt = if step == 1 {
            src.prepare(&first)?
        } else {
            src.prepare(&spread).or_else(|_| src.prepare(&first))?
        };
        let placeholders = vec!["?"; columns.len()].join(", ");
        self.conn.execute_batch("BEGIN")?;
        {
            let mut insert =
                self.conn.prepare(&format!("INSERT OR IGNORE INTO {q} ({list}) VALUES ({placeholders})"))?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let values = (0..columns.len())
                    .map(|i| row.get::<_, Value>(i))
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                insert.execute(rusqlite::params_from_iter(values.iter()))?;
            }
        }
        self.conn.execute_batch("COMMIT")?;
        Ok(count)
    }

    /// Rewrites the sample's `sqlite_stat1` rows (all, or those of `index`) for the real
    /// row counts: the row count becomes the table's, and rows-per-key of columns with
    /// few distinct values in the sample grow with the table (unique-ish ones do not).
    fn scale_stats(&self, index: Option<&str>) -> Result<()> {
        let mut stmt =
            self.conn.prepare("SELECT rowid, tbl, stat FROM sqlite_stat1 WHERE ?1 IS NULL OR idx = ?1")?;
        let rows: Vec<(i64, String, String)> = stmt
            .query_map([index], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (rowid, tbl, stat) in rows {
            let Some(&real) = self.rows.get(&tbl) else { continue };
            let mut parts = stat.split_whitespace();
            let Some(sampled) = parts.next().and_then(|n| n.parse::<u64>().ok()) else { continue };
            if sampled == 0 || sampled >= real {
                continue;
            }
            let mut out = vec![real.to_string()];
            for part in parts {
                match part.parse::<u64>() {
                    Ok(per_key) if per_key > 0 => {
                        let distinct = sampled / per_key;
                        let scaled =
                            if distinct * 2 >= sampled { per_key } else { real.div_ceil(distinct.max(1)) };
                        out.push(scaled.to_string());
                    }
                    _ => out.push(part.to_string()),
                }
            }
            self.conn.execute(
                "UPDATE sqlite_stat1 SET stat = ?2 WHERE rowid = ?1",
                rusqlite::params![rowid, out.join(" ")],
            )?;
        }
        Ok(())
    }

    fn advise_one(&self, sql: &str, options: &AdviseOptions) -> Result<QueryAdvice> {
        let mut advice = QueryAdvice {
            sql: sql.to_string(),
            plan_before: String::new(),
            problems: Vec::new(),
            recommendations: Vec::new(),
            plan_after: None,
            note: None,
        };
        let before = match explain(&self.conn, sql) {
            Ok(plan) => plan,
            Err(err) => {
                advice.note = Some(format!("cannot plan it: {} {err}", err.code()));
                return Ok(advice);
            }
        };
        advice.plan_before = before.render();
        advice.problems = problems(&before).into_iter().map(|(_, detail)| detail).collect();
        if advice.problems.is_empty() {
            advice.note = Some("already served by indexes: no full scan, sort or automatic index".into());
            return Ok(advice);
        }
        let shape = match read_query(sql) {
            Ok(mut shape) => {
                resolve(&mut shape, &self.columns);
                shape
            }
            Err(err) => {
                advice.note = Some(err.to_string());
                return Ok(advice);
            }
        };
        let mut kept: Vec<Recommendation> = Vec::new();
        let mut current = before;
        for _ in 0..options.max_indexes_per_query {
            let remaining = problems(&current);
            if remaining.is_empty() {
                break;
            }
            let mut best: Option<(Score, Recommendation, QueryPlan)> = None;
            for candidate in self.candidates(&shape, &remaining, &kept) {
                let Some((score, plan)) = self.try_index(sql, &candidate, &kept, remaining.len())? else {
                    continue;
                };
                if best.as_ref().is_none_or(|(s, ..)| score > *s) {
                    best = Some((score, candidate, plan));
                }
            }
            let Some((_, chosen, plan)) = best else { break };
            kept.push(chosen);
            current = plan;
        }
        // Keep only what the final plan uses.
        let after = self.with_indexes(&kept, |conn| explain(conn, sql))?;
        kept.retain(|r| after.uses_index(&r.name));
        if kept.is_empty() {
            advice.note = Some("no candidate index is used by the planner: the scan or sort stays".into());
            return Ok(advice);
        }
        let after = self.with_indexes(&kept, |conn| explain(conn, sql))?;
        advice.plan_after = Some(after.render());
        advice.recommendations = kept;
        Ok(advice)
    }

    /// Candidate indexes for the tables that the remaining problems read.
    fn candidates(
        &self,
        shape: &Shape,
        remaining: &[(Option<String>, String)],
        kept: &[Recommendation],
    ) -> Vec<Recommendation> {
        let mut tables: Vec<String> = Vec::new();
        for (table, _) in remaining {
            match table.as_deref().and_then(|t| shape.resolve_table(t)) {
                Some(t) => tables.push(t),
                // A sort or a temp b-tree: the tables it orders or groups by.
                None => tables.extend(shape.order.iter().chain(&shape.group).map(|c| c.table.clone())),
            }
        }
        tables.sort();
        tables.dedup();
        let mut out: Vec<Recommendation> = Vec::new();
        for table in tables {
            let cols = |list: &[ColumnUse]| -> Vec<String> {
                let mut v: Vec<String> = Vec::new();
                for c in list.iter().filter(|c| c.table == table) {
                    if !v.contains(&c.column) {
                        v.push(c.column.clone());
                    }
                }
                v
            };
            let eq = cols(&shape.equal);
            let range = cols(&shape.range);
            let order_all_here = !shape.order.is_empty() && shape.order.iter().all(|c| c.table == table);
            let order: Vec<String> = if order_all_here {
                let mixed = shape.order.iter().any(|c| c.desc) && !shape.order.iter().all(|c| c.desc);
                shape
                    .order
                    .iter()
                    .map(|c| if mixed && c.desc { format!("{} DESC", c.column) } else { c.column.clone() })
                    .collect()
            } else {
                Vec::new()
            };
            let group =
                if shape.group.iter().all(|c| c.table == table) { cols(&shape.group) } else { Vec::new() };
            let mut lists: Vec<Vec<String>> = Vec::new();
            for r in &range {
                lists.push(eq.iter().cloned().chain([r.clone()]).collect());
            }
            lists.push(eq.iter().cloned().chain(order.iter().cloned()).collect());
            lists.push(eq.iter().cloned().chain(group.iter().cloned()).collect());
            lists.push(eq.clone());
            lists.extend(eq.iter().map(|c| vec![c.clone()]));
            lists.extend(range.iter().map(|c| vec![c.clone()]));
            lists.push(order.clone());
            lists.push(group.clone());
            for mut list in lists {
                dedup_keep_order(&mut list);
                list.truncate(5);
                if list.is_empty() || self.covered_by_existing(&table, &list) {
                    continue;
                }
                let rec = recommendation(&table, list);
                if !out.iter().chain(kept).any(|r| r.table == rec.table && r.columns == rec.columns) {
                    out.push(rec);
                }
            }
        }
        out
    }

    /// Whether an existing index already starts with these columns.
    fn covered_by_existing(&self, table: &str, list: &[String]) -> bool {
        let plain: Vec<String> =
            list.iter().map(|c| c.trim_end_matches(" DESC").to_ascii_lowercase()).collect();
        self.indexes.get(table).is_some_and(|indexes| {
            indexes.iter().any(|cols| cols.len() >= plain.len() && cols[..plain.len()] == plain[..])
        })
    }

    /// Creates `kept` and `candidate`, plans `sql`, drops them again. `Some` when the
    /// planner uses the candidate and fewer problems remain.
    fn try_index(
        &self,
        sql: &str,
        candidate: &Recommendation,
        kept: &[Recommendation],
        problems_before: usize,
    ) -> Result<Option<(Score, QueryPlan)>> {
        let all: Vec<Recommendation> = kept.iter().cloned().chain([candidate.clone()]).collect();
        let plan = match self.with_indexes(&all, |conn| explain(conn, sql)) {
            Ok(plan) => plan,
            Err(_) => return Ok(None),
        };
        let after = problems(&plan).len();
        if !plan.uses_index(&candidate.name) || after >= problems_before {
            return Ok(None);
        }
        let constrained = plan
            .iter()
            .filter(|n| n.index().is_some_and(|i| i.eq_ignore_ascii_case(&candidate.name)))
            .map(|n| n.detail.matches(['=', '>', '<']).count())
            .max()
            .unwrap_or(0);
        let score = Score {
            solved: problems_before - after,
            constrained,
            short: usize::MAX - candidate.columns.len(),
        };
        Ok(Some((score, plan)))
    }

    /// Runs `f` with `indexes` created (and analysed, scaled), then drops them.
    fn with_indexes<T>(
        &self,
        indexes: &[Recommendation],
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<T> {
        let mut created = Vec::new();
        let mut result = Ok(());
        for index in indexes {
            let trial = format!(
                "CREATE INDEX {} ON {} ({})",
                quote(&index.name),
                quote(&index.table),
                index_list(&index.columns)
            );
            match self.conn.execute_batch(&trial) {
                Ok(()) => created.push(index.name.clone()),
                Err(e) => {
                    result = Err(Error::from(e));
                    break;
                }
            }
            if let Err(e) = self.conn.execute_batch(&format!("ANALYZE {}", quote(&index.name))) {
                result = Err(Error::from(e));
                break;
            }
            if let Err(e) = self.scale_stats(Some(&index.name)) {
                result = Err(e);
                break;
            }
        }
        let outcome = match result {
            Ok(()) => self.conn.execute_batch(RELOAD_STATS).map_err(Error::from).and_then(|()| f(&self.conn)),
            Err(e) => Err(e),
        };
        for name in created {
            self.conn.execute_batch(&format!("DROP INDEX {}", quote(&name)))?;
        }
        self.conn.execute_batch(RELOAD_STATS)?;
        outcome
    }
}

/// How good a trial index is: problems solved, then constrained terms, then fewer columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Score {
    solved: usize,
    constrained: usize,
    short: usize,
}

/// The steps of a plan the advisor tries to remove, with the table they read (if any).
fn problems(plan: &QueryPlan) -> Vec<(Option<String>, String)> {
    let mut out: Vec<(Option<String>, String)> = Vec::new();
    for node in plan.full_scans().into_iter().chain(plan.automatic_indexes()) {
        out.push((node.table().map(str::to_string), node.detail.clone()));
    }
    for node in plan.temp_btrees() {
        out.push((None, node.detail.clone()));
    }
    out
}

fn recommendation(table: &str, columns: Vec<String>) -> Recommendation {
    let slug: Vec<String> = columns
        .iter()
        .map(|c| {
            c.trim_end_matches(" DESC")
                .chars()
                .map(|ch| if ch.is_ascii_alphanumeric() { ch.to_ascii_lowercase() } else { '_' })
                .collect()
        })
        .collect();
    let table_slug: String = table
        .chars()
        .map(|ch| if ch.is_ascii_alphanumeric() { ch.to_ascii_lowercase() } else { '_' })
        .collect();
    let name = format!("idx_{table_slug}_{}", slug.join("_"));
    let create_sql = format!(
        "CREATE INDEX {} ON {}({});",
        quote_if_needed(&name),
        quote_if_needed(table),
        index_list(&columns)
    );
    Recommendation { table: table.to_string(), columns, name, create_sql }
}

fn index_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| match c.strip_suffix(" DESC") {
            Some(c) => format!("{} DESC", quote_if_needed(c)),
            None => quote_if_needed(c),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn dedup_keep_order(list: &mut Vec<String>) {
    let mut seen: Vec<String> = Vec::new();
    list.retain(|c| {
        let key = c.trim_end_matches(" DESC").to_ascii_lowercase();
        if seen.contains(&key) {
            false
        } else {
            seen.push(key);
            true
        }
    });
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_if_needed(name: &str) -> String {
    let simple = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if simple { name.to_string() } else { quote(name) }
}

fn table_columns(conn: &Connection, table: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name, hidden FROM pragma_table_xinfo(?1)")?;
    let rows = stmt.query_map([table], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (name, hidden) = row?;
        if hidden == 0 {
            out.push(name);
        }
    }
    Ok(out)
}

fn index_columns(conn: &Connection, table: &str) -> Result<Vec<Vec<String>>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_index_list(?1)")?;
    let names: Vec<String> = stmt.query_map([table], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for name in names {
        let mut stmt = conn.prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")?;
        let cols: Vec<Option<String>> =
            stmt.query_map([&name], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        out.push(cols.into_iter().map(|c| c.unwrap_or_default().to_ascii_lowercase()).collect());
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Reading the query.
// ---------------------------------------------------------------------------

/// A column the query uses, resolved to its table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ColumnUse {
    table: String,
    column: String,
    desc: bool,
}

/// What the advisor needs from a query: its tables (by alias) and the columns it
/// compares for equality, by range, and sorts and groups on.
#[derive(Debug, Default)]
struct Shape {
    /// `(name or alias as written, table)`.
    tables: Vec<(String, String)>,
    equal: Vec<ColumnUse>,
    range: Vec<ColumnUse>,
    order: Vec<ColumnUse>,
    group: Vec<ColumnUse>,
    /// Unqualified column references, resolved after the tables are known.
    unresolved: Vec<(String, Kind, bool)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Equal,
    Range,
    Order,
    Group,
}

impl Shape {
    fn resolve_table(&self, name: &str) -> Option<String> {
        self.tables.iter().find(|(alias, _)| alias.eq_ignore_ascii_case(name)).map(|(_, t)| t.clone())
    }

    fn push(&mut self, kind: Kind, table: String, column: String, desc: bool) {
        let item = ColumnUse { table, column, desc };
        match kind {
            Kind::Equal => self.equal.push(item),
            Kind::Range => self.range.push(item),
            Kind::Order => self.order.push(item),
            Kind::Group => self.group.push(item),
        }
    }

    /// Records a column reference, qualified or not.
    fn column(&mut self, expr: &Expr, kind: Kind, desc: bool) -> bool {
        match expr {
            Expr::Identifier(ident) => {
                self.unresolved.push((ident.value.clone(), kind, desc));
                true
            }
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let qualifier = &parts[parts.len() - 2].value;
                let column = parts[parts.len() - 1].value.clone();
                match self.resolve_table(qualifier) {
                    Some(table) => {
                        self.push(kind, table, column, desc);
                        true
                    }
                    None => false,
                }
            }
            Expr::Nested(inner) => self.column(inner, kind, desc),
            _ => false,
        }
    }

    /// Reads the conjuncts of a WHERE or ON expression.
    fn predicate(&mut self, expr: &Expr) {
        match expr {
            Expr::Nested(inner) => self.predicate(inner),
            Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
                self.predicate(left);
                self.predicate(right);
            }
            Expr::BinaryOp { left, op, right } => {
                let kind = match op {
                    BinaryOperator::Eq => Kind::Equal,
                    BinaryOperator::Gt | BinaryOperator::Lt | BinaryOperator::GtEq | BinaryOperator::LtEq => {
                        Kind::Range
                    }
                    _ => return,
                };
                let l = is_column(left);
                let r = is_column(right);
                if l {
                    self.column(left, kind, false);
                }
                if r {
                    self.column(right, kind, false);
                }
            }
            Expr::IsNotDistinctFrom(left, right) => {
                self.column(left, Kind::Equal, false);
                self.column(right, Kind::Equal, false);
            }
            Expr::InList { expr, negated: false, .. } | Expr::InSubquery { expr, negated: false, .. } => {
                self.column(expr, Kind::Equal, false);
            }
            Expr::IsNull(expr) => {
                self.column(expr, Kind::Equal, false);
            }
            Expr::Between { expr, negated: false, .. } => {
                self.column(expr, Kind::Range, false);
            }
            _ => {}
        }
    }
}

fn is_column(expr: &Expr) -> bool {
    match expr {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => true,
        Expr::Nested(inner) => is_column(inner),
        _ => false,
    }
}

/// Parses one SELECT into its [`Shape`] (E6020 for anything else).
fn read_query(sql: &str) -> Result<Shape> {
    let unsupported = |reason: &str| Error::AdviseUnsupported { sql: shorten(sql), reason: reason.into() };
    let statements = Parser::parse_sql(&SQLiteDialect {}, sql).map_err(|e| unsupported(&e.to_string()))?;
    let [Statement::Query(query)] = statements.as_slice() else {
        return Err(unsupported("not a single SELECT statement"));
    };
    let mut shape = Shape::default();
    read_select(query, &mut shape).ok_or_else(|| unsupported("only a plain SELECT (no UNION) is read"))?;
    Ok(shape)
}

fn read_select(query: &Query, shape: &mut Shape) -> Option<()> {
    let SetExpr::Select(select) = query.body.as_ref() else { return None };
    let mut on = Vec::new();
    for from in &select.from {
        let mut add = |factor: &TableFactor| {
            if let TableFactor::Table { name, alias, .. } = factor
                && let Some(table) = name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone())
            {
                shape.tables.push((table.clone(), table.clone()));
                if let Some(alias) = alias {
                    shape.tables.push((alias.name.value.clone(), table));
                }
            }
        };
        add(&from.relation);
        for join in &from.joins {
            add(&join.relation);
            let constraint = match &join.join_operator {
                JoinOperator::Join(c)
                | JoinOperator::Inner(c)
                | JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Right(c)
                | JoinOperator::RightOuter(c)
                | JoinOperator::FullOuter(c)
                | JoinOperator::CrossJoin(c) => Some(c),
                _ => None,
            };
            if let Some(JoinConstraint::On(expr)) = constraint {
                on.push(expr.clone());
            }
        }
    }
    if let Some(selection) = &select.selection {
        shape.predicate(selection);
    }
    for expr in &on {
        shape.predicate(expr);
    }
    if let GroupByExpr::Expressions(exprs, _) = &select.group_by {
        for expr in exprs {
            shape.column(expr, Kind::Group, false);
        }
    }
    if let Some(order) = &query.order_by
        && let OrderByKind::Expressions(exprs) = &order.kind
    {
        for e in exprs {
            let desc = matches!(e.options.sort, Some(OrderBySort::Desc));
            // ORDER BY an output alias or a position is left alone.
            if !shape.column(&e.expr, Kind::Order, desc) {
                shape.order.clear();
                break;
            }
        }
    }
    Some(())
}

/// Resolves unqualified columns against the tables of the query.
fn resolve(shape: &mut Shape, columns: &BTreeMap<String, Vec<String>>) {
    let unresolved = std::mem::take(&mut shape.unresolved);
    let tables: Vec<String> = {
        let mut t: Vec<String> = shape.tables.iter().map(|(_, t)| t.clone()).collect();
        t.dedup();
        t
    };
    for (column, kind, desc) in unresolved {
        let owners: Vec<&String> = tables
            .iter()
            .filter(|t| {
                columns.get(*t).is_some_and(|cols| cols.iter().any(|c| c.eq_ignore_ascii_case(&column)))
            })
            .collect();
        if let [table] = owners.as_slice() {
            let table = (*table).clone();
            shape.push(kind, table, column, desc);
        } else if kind == Kind::Order {
            // An ORDER BY term that is not a column of one table: no index sorts it.
            shape.order.clear();
        }
    }
}

fn shorten(sql: &str) -> String {
    let one_line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 80 {
        one_line.chars().take(77).collect::<String>() + "..."
    } else {
        one_line
    }
}
