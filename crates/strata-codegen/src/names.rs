//! SQL names made into Rust identifiers (snake_case fields, PascalCase types), and SQL
//! identifiers quoted.

use std::collections::BTreeSet;

/// Rust's keywords (strict and reserved, edition 2024): such a field is written raw (`r#type`).
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn", "else",
    "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "macro",
    "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return", "static", "struct", "trait",
    "true", "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers: these get a `_` appended instead.
const NOT_RAW: &[&str] = &["self", "super", "crate", "Self", "_"];

/// `name` quoted as an SQL identifier: `"a""b"` for `a"b`.
pub(crate) fn quote_sql(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The words of `name`: split at anything not alphanumeric and at lower-to-upper case
/// changes (`userId` -> `user`, `Id`), lowercased.
fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && previous_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// A snake_case field or function-part name for `name`; `r#` raw for a keyword.
pub(crate) fn snake(name: &str) -> String {
    let mut ident = words(name).join("_");
    if ident.is_empty() {
        ident = "column".to_string();
    }
    if ident.starts_with(|c: char| c.is_ascii_digit()) {
        ident.insert(0, '_');
    }
    if NOT_RAW.contains(&ident.as_str()) {
        ident.push('_');
    } else if KEYWORDS.contains(&ident.as_str()) {
        ident.insert_str(0, "r#");
    }
    ident
}

/// A PascalCase type name for `name`, with `suffix` appended.
pub(crate) fn pascal(name: &str, suffix: &str) -> String {
    let mut ident: String = words(name)
        .iter()
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect();
    if ident.is_empty() || ident.starts_with(|c: char| c.is_ascii_digit()) {
        ident.insert(0, 'T');
    }
    ident + suffix
}

/// Makes every name of `names` unique by appending `_2`, `_3`, ... to later repeats,
/// keeping the order.
pub(crate) fn unique(names: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    names
        .into_iter()
        .map(|name| {
            let mut candidate = name.clone();
            let mut n = 2;
            while !seen.insert(candidate.clone()) {
                candidate = format!("{}_{n}", name.trim_start_matches("r#"));
                n += 1;
            }
            candidate
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_identifiers() {
        assert_eq!(snake("userId"), "user_id");
        assert_eq!(snake("Order Lines"), "order_lines");
        assert_eq!(snake("type"), "r#type");
        assert_eq!(snake("self"), "self_");
        assert_eq!(snake("1st"), "_1st");
        assert_eq!(snake("\"\""), "column");
        assert_eq!(pascal("memory_entries", "Row"), "MemoryEntriesRow");
        assert_eq!(pascal("select", "Table"), "SelectTable");
        assert_eq!(quote_sql("a\"b"), "\"a\"\"b\"");
        assert_eq!(unique(vec!["a".into(), "a".into(), "b".into()]), ["a", "a_2", "b"]);
    }
}
