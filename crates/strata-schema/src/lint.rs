//! Lint of migration files: the SQLite statements that lose data or cannot run safely.
//!
//! Works on the token stream of strata-schema's SQL lexer (quoting and comments understood, no
//! regexes). A rule can be silenced for one file with a comment naming it:
//! `-- strata:allow drop-table`.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::set::MigrationSet;
use crate::sql::{self, Statement, Token, TokenKind};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Will fail, or loses data without a doubt.
    Error,
    /// Risky; look at it before applying to a database with data.
    Warning,
}

/// One finding of the lint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's name (`drop-table`, ...); `-- strata:allow <rule>` silences it.
    pub rule: &'static str,
    /// How serious it is.
    pub severity: Severity,
    /// The file.
    pub file: String,
    /// The line, 1-based.
    pub line: usize,
    /// What was found.
    pub message: String,
    /// What to do about it.
    pub hint: &'static str,
}

/// Every rule: name, severity and hint.
pub const RULES: &[(&str, Severity, &str)] = &[
    ("drop-table", Severity::Warning, "the table's rows are lost; copy them elsewhere first if they matter"),
    (
        "drop-column",
        Severity::Warning,
        "the column's values are lost; copy them elsewhere first if they matter",
    ),
    (
        "rebuild-without-copy",
        Severity::Error,
        "copy the rows with INSERT INTO new (...) SELECT ... FROM old before dropping the old table",
    ),
    (
        "add-column-not-null-without-default",
        Severity::Error,
        "give the column a constant DEFAULT, or add it nullable and rebuild the table later",
    ),
    (
        "unique-index-on-existing-table",
        Severity::Warning,
        "existing rows may hold duplicates and make the migration fail; check or dedupe them first",
    ),
    (
        "missing-down",
        Severity::Error,
        "write V{n}__{name}.down.sql beside the up file so it can be rolled back",
    ),
    (
        "non-deterministic-default",
        Severity::Error,
        "ADD COLUMN accepts constant defaults only; add the column, then UPDATE it",
    ),
    (
        "not-transactional",
        Severity::Error,
        "migrations run in one transaction; run this statement outside the migration",
    ),
];

/// Lints every up and down file of `set`; findings ordered by file and line.
pub fn lint(set: &MigrationSet) -> Vec<Finding> {
    let mut findings = Vec::new();
    for migration in set.migrations() {
        findings.extend(lint_up(&migration.up_file(), migration.up()));
        match migration.down() {
            Some(down) => findings.extend(lint_down(&migration.down_file(), down)),
            None => {
                let message = format!("V{} has no down file", migration.version());
                findings.push(finding("missing-down", &migration.up_file(), 1, message));
            }
        }
    }
    findings.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    findings
}

/// Lints one up file.
pub fn lint_up(file: &str, script: &str) -> Vec<Finding> {
    let statements = sql::split_statements(script);
    let mut findings = Vec::new();
    let created: BTreeSet<String> = statements.iter().filter_map(created_table).collect();
    // `ALTER TABLE x RENAME TO y` with x created here: y is being rebuilt.
    let rebuilt: BTreeSet<String> = statements
        .iter()
        .filter_map(renamed)
        .filter(|(from, _)| created.contains(from))
        .map(|(_, to)| to)
        .collect();
    let mut copied_from = BTreeSet::new();
    let mut created_so_far = BTreeSet::new();
    for statement in &statements {
        transactional(file, script, statement, &mut findings);
        let t = &statement.tokens;
        let line = |token: &Token<'_>| line_of(script, token.start);
        match statement.verb().as_str() {
            "CREATE" => {
                if let Some(name) = created_table(statement) {
                    created_so_far.insert(name);
                }
                if t.get(1).is_some_and(|w| w.is("UNIQUE")) && t.get(2).is_some_and(|w| w.is("INDEX")) {
                    let on = t.iter().position(|w| w.is("ON")).and_then(|i| t.get(i + 1));
                    if let Some(table) = on.map(Token::ident).filter(|n| !created_so_far.contains(n)) {
                        let message = format!("new UNIQUE index on existing table {table}");
                        findings.push(finding("unique-index-on-existing-table", file, line(&t[0]), message));
                    }
                }
            }
            "INSERT" | "REPLACE" => {
                for (i, token) in t.iter().enumerate() {
                    let is_source = token.is("FROM") || token.is("JOIN");
                    if let Some(source) = t.get(i + 1).filter(|n| is_source && is_name(n)) {
                        copied_from.insert(source.ident());
                    }
                }
            }
            "DROP" if t.get(1).is_some_and(|w| w.is("TABLE")) => {
                let name = t.iter().skip(2).find(|w| !(w.is("IF") || w.is("EXISTS"))).map(Token::ident);
                let Some(name) = name else { continue };
                if created_so_far.contains(&name) {
                    continue;
                }
                if rebuilt.contains(&name) {
                    if !copied_from.contains(&name) {
                        let message = format!("table {name} is rebuilt but its rows are not copied");
                        findings.push(finding("rebuild-without-copy", file, line(&t[0]), message));
                    }
                } else {
                    findings.push(finding("drop-table", file, line(&t[0]), format!("drops table {name}")));
                }
            }
            "ALTER" => alter_findings(file, script, statement, &mut findings),
            _ => {}
        }
    }
    allow_comments(script, findings)
}

/// Lints one down file: only what cannot run (a down drops things by design).
pub fn lint_down(file: &str, script: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    for statement in sql::split_statements(script) {
        transactional(file, script, &statement, &mut findings);
    }
    allow_comments(script, findings)
}

fn finding(rule: &'static str, file: &str, line: usize, message: String) -> Finding {
    let (severity, hint) = RULES
        .iter()
        .find(|(name, ..)| *name == rule)
        .map_or((Severity::Error, ""), |(_, severity, hint)| (*severity, *hint));
    Finding { rule, severity, file: file.to_string(), line, message, hint }
}

fn line_of(script: &str, offset: usize) -> usize {
    1 + script[..offset.min(script.len())].bytes().filter(|&b| b == b'\n').count()
}

fn is_name(token: &Token<'_>) -> bool {
    matches!(token.kind, TokenKind::Word | TokenKind::Quoted)
}

/// PRAGMAs that do nothing or fail inside a transaction.
const NON_TRANSACTIONAL_PRAGMAS: &[&str] =
    &["foreign_keys", "journal_mode", "page_size", "auto_vacuum", "wal_checkpoint"];

fn transactional(file: &str, script: &str, statement: &Statement<'_>, findings: &mut Vec<Finding>) {
    let t = &statement.tokens;
    let Some(first) = t.first() else { return };
    let verb = statement.verb();
    let refused = match verb.as_str() {
        "PRAGMA" => {
            // `PRAGMA [schema.]name = value` or `(value)`: only setting it is a problem.
            let at = if t.get(2).is_some_and(|w| w.is_punct('.')) { 3 } else { 1 };
            let name = t.get(at).map(Token::ident).unwrap_or_default();
            let sets = t.iter().any(|w| w.is_punct('=') || w.is_punct('('));
            sets && NON_TRANSACTIONAL_PRAGMAS.iter().any(|p| p.eq_ignore_ascii_case(&name))
        }
        "ATTACH" | "DETACH" => true,
        _ => !crate::migrate::runs_in_transaction(statement),
    };
    if refused {
        let message = format!("`{}` cannot run inside the migration transaction", sql::normalize_tokens(t));
        findings.push(finding("not-transactional", file, line_of(script, first.start), message));
    }
}

fn alter_findings(file: &str, script: &str, statement: &Statement<'_>, findings: &mut Vec<Finding>) {
    let t = &statement.tokens;
    let table = t.get(2).map(Token::ident).unwrap_or_default();
    let line = line_of(script, t[0].start);
    let Some(action) = t.get(3) else { return };
    if action.is("DROP") {
        let column = t.iter().skip(4).find(|w| !w.is("COLUMN")).map(Token::ident).unwrap_or_default();
        findings.push(finding("drop-column", file, line, format!("drops column {table}.{column}")));
    } else if action.is("ADD") {
        let def_start = if t.get(4).is_some_and(|w| w.is("COLUMN")) { 5 } else { 4 };
        let def = t.get(def_start..).unwrap_or_default();
        let column = def.first().map(Token::ident).unwrap_or_default();
        let not_null = def.windows(2).any(|w| w[0].is("NOT") && w[1].is("NULL"));
        let default = def.iter().position(|w| w.is("DEFAULT"));
        let generated = def.iter().any(|w| w.is("AS"));
        if not_null && default.is_none() && !generated {
            let message = format!("adds NOT NULL column {table}.{column} without a default");
            findings.push(finding("add-column-not-null-without-default", file, line, message));
        }
        if let Some(at) = default {
            let value = &def[at + 1..];
            let non_constant = value
                .first()
                .is_some_and(|v| v.is_punct('(') || v.text.to_ascii_uppercase().starts_with("CURRENT_"))
                || value.iter().any(|v| v.is("random") || v.is("randomblob"));
            if non_constant {
                let message = format!("column {table}.{column} gets a non-deterministic default");
                findings.push(finding("non-deterministic-default", file, line, message));
            }
        }
    }
}

/// `CREATE [TEMP] TABLE [IF NOT EXISTS] name` -> name.
fn created_table(statement: &Statement<'_>) -> Option<String> {
    let t = &statement.tokens;
    if !t.first()?.is("CREATE") {
        return None;
    }
    let mut i = 1;
    if t.get(i)?.is("TEMP") || t.get(i)?.is("TEMPORARY") {
        i += 1;
    }
    if !t.get(i)?.is("TABLE") {
        return None;
    }
    i += 1;
    if t.get(i)?.is("IF") {
        i += 3;
    }
    t.get(i).filter(|n| is_name(n)).map(Token::ident)
}

/// `ALTER TABLE a RENAME TO b` -> (a, b).
fn renamed(statement: &Statement<'_>) -> Option<(String, String)> {
    match statement.tokens.as_slice() {
        [alter, table, from, rename, to, name, ..]
            if alter.is("ALTER") && table.is("TABLE") && rename.is("RENAME") && to.is("TO") =>
        {
            Some((from.ident(), name.ident()))
        }
        _ => None,
    }
}

/// Drops findings whose rule the file silences with `strata:allow <rule>`.
fn allow_comments(script: &str, findings: Vec<Finding>) -> Vec<Finding> {
    findings.into_iter().filter(|f| !script.contains(&format!("strata:allow {}", f.rule))).collect()
}
