//! Query plans: `EXPLAIN QUERY PLAN` of one statement, parsed into a tree of typed nodes.
//!
//! SQLite reports a plan as rows `(id, parent, notused, detail)`; the `detail` text is
//! meant for people, so this module reads it into a [`NodeKind`] (SCAN, SEARCH ... USING
//! \[COVERING\] INDEX, USE TEMP B-TREE FOR ..., AUTOMATIC INDEX, subqueries, compound
//! queries, ...) and keeps the raw text beside it. Texts it does not recognise become
//! [`NodeKind::Other`], so a newer SQLite never makes `explain` fail. Tables appear under
//! the name SQLite prints: the alias when the query gives one (`FROM users AS u` scans `u`).

use std::fmt::Write as _;

use rusqlite::Connection;
use serde::Serialize;
use strata_core::{Error, Result};

/// The plan of one statement: its top-level nodes, each with its children.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueryPlan {
    /// The statement that was explained, as given.
    pub sql: String,
    /// The top-level steps, in the order SQLite reported them.
    pub nodes: Vec<PlanNode>,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanNode {
    /// SQLite's id of the step (unique within the plan).
    pub id: i64,
    /// The id of the parent step; 0 for a top-level step.
    pub parent: i64,
    /// SQLite's text for the step, unchanged (`SEARCH users USING INDEX users_email (email=?)`).
    pub detail: String,
    /// What the step does, read from `detail`.
    pub kind: NodeKind,
    /// The steps nested under this one.
    pub children: Vec<PlanNode>,
}

/// What one step of a plan does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum NodeKind {
    /// `SCAN t [USING [COVERING] INDEX i]`: visits every row of `t`, in index order
    /// when an index is named.
    Scan {
        /// The table (or its alias in the query).
        table: String,
        /// The index walked instead of the table, if any.
        index: Option<String>,
        /// Whether the index holds every column needed, so the table is not read.
        covering: bool,
    },
    /// `SEARCH t USING ...`: visits only the rows a constraint selects.
    Search {
        /// The table (or its alias in the query).
        table: String,
        /// The index searched, if any (`None` for rowid and WITHOUT ROWID key lookups).
        index: Option<String>,
        /// Whether the index holds every column needed, so the table is not read.
        covering: bool,
        /// `USING INTEGER PRIMARY KEY`: a lookup by rowid.
        rowid: bool,
        /// `USING PRIMARY KEY`: a lookup by the key of a WITHOUT ROWID table.
        primary_key: bool,
        /// The constraint as SQLite prints it, without its parentheses (`email=?`).
        constraint: Option<String>,
    },
    /// `SEARCH t USING AUTOMATIC [PARTIAL] COVERING INDEX (...)`: SQLite builds a
    /// temporary index for this statement because no index serves the lookup.
    AutomaticIndex {
        /// The table (or its alias in the query).
        table: String,
        /// Whether the automatic index is partial.
        partial: bool,
        /// The constraint the index serves, without parentheses (`user_id=?`).
        constraint: Option<String>,
    },
    /// `SCAN t VIRTUAL TABLE INDEX n:str`: a virtual table (`json_each`, FTS5, ...).
    VirtualTable {
        /// The virtual table (or its alias).
        table: String,
        /// The `idxNum:idxStr` the virtual table chose.
        index_info: String,
    },
    /// `SCAN (subquery-N)`, or a scan of a CTE or subquery that the plan materializes or
    /// runs as a co-routine: reads rows another part of the plan produces.
    SubqueryScan {
        /// The subquery's name as printed (`(subquery-1)`, the CTE's name).
        name: String,
    },
    /// `SCAN CONSTANT ROW`, `SCAN n CONSTANT ROWS`, `SCAN n-ROW VALUES CLAUSE`: no table.
    ConstantRows {
        /// How many rows.
        rows: u64,
    },
    /// `USE TEMP B-TREE FOR ...`: a sort or a duplicate check that no index serves.
    TempBTree {
        /// What the temporary b-tree is for.
        purpose: TempBTreePurpose,
    },
    /// `COMPOUND QUERY`: a `UNION ALL` chain run one member after the other.
    Compound,
    /// `MERGE (UNION)` and the like: a compound query run as a merge of sorted members.
    Merge {
        /// The operator: `UNION`, `UNION ALL`, `INTERSECT` or `EXCEPT`.
        operator: String,
    },
    /// One member of a compound query: `LEFT-MOST SUBQUERY`, `UNION ALL`, `LEFT`, `RIGHT`, ...
    CompoundMember {
        /// SQLite's label for the member.
        label: String,
    },
    /// `[CORRELATED] SCALAR SUBQUERY n` or `[CORRELATED] LIST SUBQUERY n`.
    Subquery {
        /// Scalar (one value) or list (the right side of `IN`).
        kind: SubqueryKind,
        /// SQLite's number for the subquery.
        id: u64,
        /// Whether it refers to the outer query and so runs once per outer row.
        correlated: bool,
    },
    /// `REUSE [LIST] SUBQUERY n`: a subquery computed earlier is used again.
    ReusedSubquery {
        /// SQLite's number for the subquery.
        id: u64,
    },
    /// `CO-ROUTINE name`: a subquery or CTE run step by step alongside its reader.
    CoRoutine {
        /// The subquery or CTE.
        name: String,
    },
    /// `MATERIALIZE name`: a subquery or CTE computed once into a temporary table.
    Materialize {
        /// The subquery or CTE.
        name: String,
    },
    /// `SETUP`: the initial select of a recursive CTE.
    RecursiveSetup,
    /// `RECURSIVE STEP`: the recursive select of a recursive CTE.
    RecursiveStep,
    /// `MULTI-INDEX OR`: each term of an `OR` is served by its own lookup.
    MultiIndexOr,
    /// `INDEX n`: the n-th term under `MULTI-INDEX OR`.
    OrTerm {
        /// The term's number, 1-based.
        term: u64,
    },
    /// `USING INDEX i FOR IN-OPERATOR` / `USING ROWID SEARCH ON TABLE t FOR IN-OPERATOR`.
    InOperator {
        /// The table whose rowids serve the `IN`, for the rowid form.
        table: Option<String>,
        /// The index that serves the `IN`, for the index form.
        index: Option<String>,
    },
    /// `RIGHT-JOIN t`: the extra pass over `t` that a RIGHT or FULL JOIN needs.
    RightJoin {
        /// The table.
        table: String,
    },
    /// `BLOOM FILTER ON t (...)`: a Bloom filter skips lookups that cannot match.
    BloomFilter {
        /// The table (or its alias).
        table: String,
        /// The columns it filters on, as printed (`user_id=?`).
        constraint: String,
    },
    /// `CREATE BLOOM FILTER`.
    CreateBloomFilter,
    /// A step this module does not recognise; `detail` has SQLite's text.
    Other,
}

/// What a temporary b-tree is built for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TempBTreePurpose {
    /// `ORDER BY`: the rows are sorted after they are produced.
    OrderBy,
    /// The right-most terms of the `ORDER BY` (`LAST TERM OF ORDER BY`, `LAST n TERMS OF
    /// ORDER BY`, or `RIGHT PART OF ORDER BY` from older SQLite): an index delivers the
    /// rows partly sorted and each group is sorted on the remaining terms.
    RightPartOfOrderBy {
        /// How many terms are sorted; `None` when SQLite does not say.
        terms: Option<u64>,
    },
    /// `GROUP BY`.
    GroupBy,
    /// `DISTINCT`.
    Distinct,
    /// `f(DISTINCT)`: an aggregate over distinct values, such as `count(DISTINCT x)`.
    AggregateDistinct {
        /// The aggregate function.
        function: String,
    },
    /// `f(ORDER BY)`: an aggregate with its own `ORDER BY`, such as `group_concat(x ORDER BY y)`.
    AggregateOrderBy {
        /// The aggregate function.
        function: String,
    },
    /// Any other purpose, as SQLite wrote it.
    Other {
        /// The text after `USE TEMP B-TREE FOR`.
        text: String,
    },
}

/// The two kinds of subquery SQLite names in a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubqueryKind {
    /// Gives one value.
    Scalar,
    /// Gives the list on the right of `IN`.
    List,
}

/// Runs `EXPLAIN QUERY PLAN` for one statement and parses its rows into a tree.
///
/// Nothing is executed. Parameters (`?`, `?1`, `:name`) are left unbound: SQLite plans
/// them as unknown values, which is how a prepared statement is planned before binding.
/// A statement that SQLite refuses (syntax error, unknown table or column) is the
/// E4004 `sql` error with SQLite's message; a statement with no plan (`CREATE TABLE`)
/// gives a plan without nodes.
pub fn explain(conn: &Connection, sql: &str) -> Result<QueryPlan> {
    let mut stmt = conn.prepare(&format!("{EXPLAIN_PREFIX}{sql}")).map_err(refused)?;
    let mut rows = stmt.raw_query();
    let mut flat = Vec::new();
    while let Some(row) = rows.next()? {
        flat.push(Row { id: row.get(0)?, parent: row.get(1)?, detail: row.get(3)? });
    }
    Ok(QueryPlan { sql: sql.to_string(), nodes: build_tree(flat) })
}

impl QueryPlan {
    /// Every node, depth first, in SQLite's order.
    pub fn iter(&self) -> impl Iterator<Item = &PlanNode> {
        let mut stack: Vec<&PlanNode> = self.nodes.iter().rev().collect();
        std::iter::from_fn(move || {
            let node = stack.pop()?;
            stack.extend(node.children.iter().rev());
            Some(node)
        })
    }

    /// The steps that read every row of a table without an index: `SCAN t` with no
    /// index, and a `SEARCH t` with no index or key (SQLite's min/max shortcut on an
    /// unindexed column). Constant rows, virtual tables and scans of subqueries and
    /// CTEs are not counted; a CTE referred to by an alias is, as SQLite shows only the
    /// alias.
    pub fn full_scans(&self) -> Vec<&PlanNode> {
        self.iter().filter(|node| node.is_full_scan()).collect()
    }

    /// The `USE TEMP B-TREE FOR ...` steps: sorts and duplicate checks no index serves.
    pub fn temp_btrees(&self) -> Vec<&PlanNode> {
        self.iter().filter(|node| matches!(node.kind, NodeKind::TempBTree { .. })).collect()
    }

    /// The steps where SQLite builds an automatic index because no index serves a lookup.
    pub fn automatic_indexes(&self) -> Vec<&PlanNode> {
        self.iter().filter(|node| matches!(node.kind, NodeKind::AutomaticIndex { .. })).collect()
    }

    /// Whether some step scans or searches the index `name` (compared case-insensitively,
    /// as SQLite compares names).
    pub fn uses_index(&self, name: &str) -> bool {
        self.iter().any(|node| node.index().is_some_and(|index| index.eq_ignore_ascii_case(name)))
    }

    /// The plan as an indented tree, the way the sqlite3 shell's `.eqp on` prints it.
    pub fn render(&self) -> String {
        let mut out = String::from("QUERY PLAN\n");
        render_level(&self.nodes, "", &mut out);
        out
    }
}

impl PlanNode {
    /// Whether this step reads every row of a table without an index (see
    /// [`QueryPlan::full_scans`]).
    pub fn is_full_scan(&self) -> bool {
        match &self.kind {
            NodeKind::Scan { index, .. } => index.is_none(),
            NodeKind::Search { index, rowid, primary_key, .. } => index.is_none() && !rowid && !primary_key,
            _ => false,
        }
    }

    /// The index this step scans or searches, if any.
    pub fn index(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scan { index, .. }
            | NodeKind::Search { index, .. }
            | NodeKind::InOperator { index, .. } => index.as_deref(),
            _ => None,
        }
    }

    /// The table (or alias) this step reads, if it reads one.
    pub fn table(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scan { table, .. }
            | NodeKind::Search { table, .. }
            | NodeKind::AutomaticIndex { table, .. }
            | NodeKind::VirtualTable { table, .. }
            | NodeKind::RightJoin { table }
            | NodeKind::BloomFilter { table, .. } => Some(table),
            NodeKind::InOperator { table, .. } => table.as_deref(),
            _ => None,
        }
    }
}

const EXPLAIN_PREFIX: &str = "EXPLAIN QUERY PLAN ";

/// One row of `EXPLAIN QUERY PLAN`.
struct Row {
    id: i64,
    parent: i64,
    detail: String,
}

/// rusqlite reports a syntax error with an offset into the text it prepared, which here
/// starts with [`EXPLAIN_PREFIX`]; the offset is made relative to the caller's SQL.
fn refused(err: rusqlite::Error) -> Error {
    match err {
        rusqlite::Error::SqlInputError { error, msg, offset, .. } => {
            let at = usize::try_from(offset).unwrap_or(0).saturating_sub(EXPLAIN_PREFIX.len());
            Error::from_sqlite_code(error.extended_code, format!("{msg} at offset {at}"))
        }
        other => other.into(),
    }
}

/// Nests the rows under their parents. SQLite lists a parent before its children; a
/// row whose parent was not seen before it becomes a top-level node, so the tree is
/// always finite and no row is lost.
fn build_tree(rows: Vec<Row>) -> Vec<PlanNode> {
    // Subquery and CTE names, so that a `SCAN name` of one is told from a table scan.
    let produced: Vec<String> = rows
        .iter()
        .filter_map(|row| match parse_detail(&row.detail) {
            NodeKind::CoRoutine { name } | NodeKind::Materialize { name } => Some(name),
            _ => None,
        })
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); rows.len()];
    let mut roots = Vec::new();
    for (at, row) in rows.iter().enumerate() {
        match rows[..at].iter().rposition(|earlier| row.parent != 0 && earlier.id == row.parent) {
            Some(parent) => children[parent].push(at),
            None => roots.push(at),
        }
    }
    let mut slots: Vec<Option<Row>> = rows.into_iter().map(Some).collect();
    roots.iter().filter_map(|&at| assemble(at, &mut slots, &children, &produced)).collect()
}

/// Takes row `at` out of `slots` with its children; `None` if it was already taken,
/// which cannot happen as every row has at most one parent, listed before it.
fn assemble(
    at: usize,
    slots: &mut [Option<Row>],
    children: &[Vec<usize>],
    produced: &[String],
) -> Option<PlanNode> {
    let row = slots.get_mut(at)?.take()?;
    let mut kind = parse_detail(&row.detail);
    if let NodeKind::Scan { table, index: None, .. } = &kind
        && produced.iter().any(|name| name == table)
    {
        kind = NodeKind::SubqueryScan { name: table.clone() };
    }
    let nested =
        children[at].iter().filter_map(|&child| assemble(child, slots, children, produced)).collect();
    Some(PlanNode { id: row.id, parent: row.parent, detail: row.detail, kind, children: nested })
}

fn render_level(nodes: &[PlanNode], prefix: &str, out: &mut String) {
    for (i, node) in nodes.iter().enumerate() {
        let last = i + 1 == nodes.len();
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{prefix}{}{}", if last { "`--" } else { "|--" }, node.detail);
        let deeper = format!("{prefix}{}", if last { "   " } else { "|  " });
        render_level(&node.children, &deeper, out);
    }
}

/// Reads one `detail` text. The formats are those of SQLite's `where.c`, `select.c`
/// and `expr.c` (checked against SQLite 3.53).
fn parse_detail(detail: &str) -> NodeKind {
    let text = detail.trim();
    if let Some(rest) = text.strip_prefix("SCAN ") {
        return parse_scan(rest);
    }
    if let Some(rest) = text.strip_prefix("SEARCH ") {
        return parse_search(rest);
    }
    if let Some(rest) = text.strip_prefix("USE TEMP B-TREE FOR ") {
        return NodeKind::TempBTree { purpose: parse_temp_btree(rest) };
    }
    if let Some(operator) = text.strip_prefix("MERGE (").and_then(|r| r.strip_suffix(')')) {
        return NodeKind::Merge { operator: operator.to_string() };
    }
    if let Some(subquery) = parse_subquery(text) {
        return subquery;
    }
    if let Some(name) = text.strip_prefix("CO-ROUTINE ") {
        return NodeKind::CoRoutine { name: name.to_string() };
    }
    if let Some(name) = text.strip_prefix("MATERIALIZE ") {
        return NodeKind::Materialize { name: name.to_string() };
    }
    if let Some(term) = text.strip_prefix("INDEX ").and_then(|n| n.parse().ok()) {
        return NodeKind::OrTerm { term };
    }
    if let Some(table) =
        text.strip_prefix("USING ROWID SEARCH ON TABLE ").and_then(|r| r.strip_suffix(" FOR IN-OPERATOR"))
    {
        return NodeKind::InOperator { table: Some(table.to_string()), index: None };
    }
    if let Some(index) = text.strip_prefix("USING INDEX ").and_then(|r| r.strip_suffix(" FOR IN-OPERATOR")) {
        return NodeKind::InOperator { table: None, index: Some(index.to_string()) };
    }
    if let Some(table) = text.strip_prefix("RIGHT-JOIN ") {
        return NodeKind::RightJoin { table: table.to_string() };
    }
    if let Some((table, constraint)) = text
        .strip_prefix("BLOOM FILTER ON ")
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|r| r.split_once(" ("))
    {
        return NodeKind::BloomFilter { table: table.to_string(), constraint: constraint.to_string() };
    }
    match text {
        "COMPOUND QUERY" => NodeKind::Compound,
        "LEFT-MOST SUBQUERY" | "UNION ALL" | "UNION" | "INTERSECT" | "EXCEPT" | "LEFT" | "RIGHT" => {
            NodeKind::CompoundMember { label: text.to_string() }
        }
        // Older SQLite: `UNION USING TEMP B-TREE`, `EXCEPT USING TEMP B-TREE`, ...
        _ if text.ends_with(" USING TEMP B-TREE") => NodeKind::CompoundMember { label: text.to_string() },
        "SETUP" => NodeKind::RecursiveSetup,
        "RECURSIVE STEP" => NodeKind::RecursiveStep,
        "MULTI-INDEX OR" => NodeKind::MultiIndexOr,
        "CREATE BLOOM FILTER" => NodeKind::CreateBloomFilter,
        _ => NodeKind::Other,
    }
}

/// `t`, `t USING [COVERING] INDEX i`, `t VIRTUAL TABLE INDEX n:s`, `CONSTANT ROW`, ...
fn parse_scan(rest: &str) -> NodeKind {
    let rest = strip_join_flags(rest);
    if rest == "CONSTANT ROW" {
        return NodeKind::ConstantRows { rows: 1 };
    }
    let counted = rest.strip_suffix(" CONSTANT ROWS").or_else(|| rest.strip_suffix("-ROW VALUES CLAUSE"));
    if let Some(rows) = counted.and_then(|n| n.parse().ok()) {
        return NodeKind::ConstantRows { rows };
    }
    if let Some((table, index_info)) = rest.split_once(" VIRTUAL TABLE INDEX ") {
        return NodeKind::VirtualTable { table: table.to_string(), index_info: index_info.to_string() };
    }
    if rest.starts_with("(subquery-") || rest.starts_with("(join-") {
        return NodeKind::SubqueryScan { name: rest.to_string() };
    }
    let (table, using) = split_using(rest);
    let (index, covering) = match using {
        Some(using) => match using.strip_prefix("COVERING INDEX ") {
            Some(index) => (Some(index), true),
            None => (using.strip_prefix("INDEX "), false),
        },
        None => (None, false),
    };
    let index = index.map(|i| split_constraint(i).0.to_string());
    NodeKind::Scan { table: table.to_string(), index, covering }
}

/// `t`, `t USING INDEX i (a=?)`, `t USING INTEGER PRIMARY KEY (rowid=?)`, ...
fn parse_search(rest: &str) -> NodeKind {
    let (table, using) = split_using(strip_join_flags(rest));
    let table = table.to_string();
    let Some(using) = using else {
        return NodeKind::Search {
            table,
            index: None,
            covering: false,
            rowid: false,
            primary_key: false,
            constraint: None,
        };
    };
    let (access, constraint) = split_constraint(using);
    let constraint = constraint.map(str::to_string);
    let search = |index: Option<&str>, covering, rowid, primary_key| NodeKind::Search {
        table: table.clone(),
        index: index.map(str::to_string),
        covering,
        rowid,
        primary_key,
        constraint: constraint.clone(),
    };
    match access {
        "INTEGER PRIMARY KEY" => search(None, false, true, false),
        "PRIMARY KEY" => search(None, false, false, true),
        "AUTOMATIC COVERING INDEX" => NodeKind::AutomaticIndex { table, partial: false, constraint },
        "AUTOMATIC PARTIAL COVERING INDEX" => NodeKind::AutomaticIndex { table, partial: true, constraint },
        _ => match access.strip_prefix("COVERING INDEX ") {
            Some(index) => search(Some(index), true, false, false),
            None => search(access.strip_prefix("INDEX "), false, false, false),
        },
    }
}

/// Removes the flags SQLite appends to a scan or search of a joined table.
fn strip_join_flags(text: &str) -> &str {
    text.strip_suffix(" LEFT-JOIN").unwrap_or(text)
}

/// `t [EXISTS] USING x` -> (`t`, Some(`x`)); `t [EXISTS]` -> (`t`, None).
fn split_using(text: &str) -> (&str, Option<&str>) {
    let (table, using) = match text.split_once(" USING ") {
        Some((table, using)) => (table, Some(using)),
        None => (text, None),
    };
    (table.strip_suffix(" EXISTS").unwrap_or(table), using)
}

/// `i (a=? AND b>?)` -> (`i`, Some(`a=? AND b>?`)).
fn split_constraint(text: &str) -> (&str, Option<&str>) {
    match text.split_once(" (") {
        Some((head, constraint)) => (head, Some(constraint.strip_suffix(')').unwrap_or(constraint))),
        None => (text, None),
    }
}

fn parse_temp_btree(purpose: &str) -> TempBTreePurpose {
    match purpose {
        "ORDER BY" => TempBTreePurpose::OrderBy,
        "GROUP BY" => TempBTreePurpose::GroupBy,
        "DISTINCT" => TempBTreePurpose::Distinct,
        "LAST TERM OF ORDER BY" => TempBTreePurpose::RightPartOfOrderBy { terms: Some(1) },
        "RIGHT PART OF ORDER BY" => TempBTreePurpose::RightPartOfOrderBy { terms: None },
        _ => {
            let last_terms = purpose.strip_prefix("LAST ").and_then(|r| r.strip_suffix(" TERMS OF ORDER BY"));
            if let Some(terms) = last_terms.and_then(|n| n.parse().ok()) {
                return TempBTreePurpose::RightPartOfOrderBy { terms: Some(terms) };
            }
            if let Some(function) = purpose.strip_suffix("(DISTINCT)") {
                return TempBTreePurpose::AggregateDistinct { function: function.to_string() };
            }
            if let Some(function) = purpose.strip_suffix("(ORDER BY)") {
                return TempBTreePurpose::AggregateOrderBy { function: function.to_string() };
            }
            TempBTreePurpose::Other { text: purpose.to_string() }
        }
    }
}

/// `[CORRELATED ](SCALAR|LIST) SUBQUERY n` and `REUSE [LIST ]SUBQUERY n`.
fn parse_subquery(text: &str) -> Option<NodeKind> {
    if let Some(rest) = text.strip_prefix("REUSE ") {
        let id = rest.strip_prefix("LIST ").unwrap_or(rest).strip_prefix("SUBQUERY ")?;
        return Some(NodeKind::ReusedSubquery { id: id.parse().ok()? });
    }
    let (correlated, rest) = match text.strip_prefix("CORRELATED ") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (kind, id) = if let Some(id) = rest.strip_prefix("SCALAR SUBQUERY ") {
        (SubqueryKind::Scalar, id)
    } else {
        (SubqueryKind::List, rest.strip_prefix("LIST SUBQUERY ")?)
    };
    Some(NodeKind::Subquery { kind, id: id.parse().ok()?, correlated })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_of_every_shape_are_read() {
        let cases: &[(&str, NodeKind)] = &[
            (
                "SEARCH users USING INDEX users_team_age (team=? AND age>?)",
                NodeKind::Search {
                    table: "users".into(),
                    index: Some("users_team_age".into()),
                    covering: false,
                    rowid: false,
                    primary_key: false,
                    constraint: Some("team=? AND age>?".into()),
                },
            ),
            (
                "SEARCH users USING INTEGER PRIMARY KEY (rowid>? AND rowid<?) LEFT-JOIN",
                NodeKind::Search {
                    table: "users".into(),
                    index: None,
                    covering: false,
                    rowid: true,
                    primary_key: false,
                    constraint: Some("rowid>? AND rowid<?".into()),
                },
            ),
            (
                "SEARCH posts EXISTS USING AUTOMATIC PARTIAL COVERING INDEX (user_id=?)",
                NodeKind::AutomaticIndex {
                    table: "posts".into(),
                    partial: true,
                    constraint: Some("user_id=?".into()),
                },
            ),
            (
                "SCAN users USING COVERING INDEX users_email",
                NodeKind::Scan { table: "users".into(), index: Some("users_email".into()), covering: true },
            ),
            ("SCAN 3 CONSTANT ROWS", NodeKind::ConstantRows { rows: 3 }),
            ("SCAN 2-ROW VALUES CLAUSE", NodeKind::ConstantRows { rows: 2 }),
            (
                "SCAN json_each VIRTUAL TABLE INDEX 1:",
                NodeKind::VirtualTable { table: "json_each".into(), index_info: "1:".into() },
            ),
            (
                "USE TEMP B-TREE FOR LAST 2 TERMS OF ORDER BY",
                NodeKind::TempBTree { purpose: TempBTreePurpose::RightPartOfOrderBy { terms: Some(2) } },
            ),
            (
                "USE TEMP B-TREE FOR RIGHT PART OF ORDER BY",
                NodeKind::TempBTree { purpose: TempBTreePurpose::RightPartOfOrderBy { terms: None } },
            ),
            (
                "USE TEMP B-TREE FOR count(DISTINCT)",
                NodeKind::TempBTree {
                    purpose: TempBTreePurpose::AggregateDistinct { function: "count".into() },
                },
            ),
            ("REUSE LIST SUBQUERY 2", NodeKind::ReusedSubquery { id: 2 }),
            (
                "CORRELATED LIST SUBQUERY 3",
                NodeKind::Subquery { kind: SubqueryKind::List, id: 3, correlated: true },
            ),
            (
                "USING INDEX tags_label FOR IN-OPERATOR",
                NodeKind::InOperator { table: None, index: Some("tags_label".into()) },
            ),
            (
                "USING ROWID SEARCH ON TABLE tags FOR IN-OPERATOR",
                NodeKind::InOperator { table: Some("tags".into()), index: None },
            ),
            ("UNION USING TEMP B-TREE", NodeKind::CompoundMember { label: "UNION USING TEMP B-TREE".into() }),
            ("SOMETHING NEW", NodeKind::Other),
        ];
        for (detail, kind) in cases {
            assert_eq!(&parse_detail(detail), kind, "{detail}");
        }
    }

    #[test]
    fn rows_nest_under_their_parent_and_orphans_stay_at_the_top() {
        let row = |id, parent, detail: &str| Row { id, parent, detail: detail.into() };
        let tree = build_tree(vec![
            row(2, 0, "MERGE (UNION)"),
            row(4, 2, "LEFT"),
            row(7, 4, "SCAN users"),
            row(14, 2, "RIGHT"),
            row(17, 14, "SCAN posts"),
            row(30, 99, "SCAN lost"),
        ]);
        assert_eq!(tree.len(), 2);
        assert_eq!(tree[0].children.len(), 2);
        assert_eq!(tree[0].children[1].children[0].detail, "SCAN posts");
        assert_eq!(tree[1].detail, "SCAN lost");
    }
}
