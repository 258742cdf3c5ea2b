//! Statement normalising for the query statistics: one text per statement shape, read
//! through strata-schema's SQLite lexer (the only hand-written lexer in strata).

use strata_schema::sql::{Token, TokenKind, tokenize};

/// Normalises SQL for grouping: literals (strings, `x'..'` blobs, numbers, each with
/// its sign) and parameters (`?`, `?NNN`, `:name`, `$name`, `@name`) become `?`,
/// comments go, tokens are separated by one space, none inside parentheses, before
/// `,`, `;`, around `.` and between a name and its `(`, and keywords keep their case. Quoting follows SQLite's rules (doubled
/// quotes inside `'..'`, `".."` and `` `..` ``, `[..]` names), and operators of two
/// characters stay whole (`<=`, `<>`, `||`). One statement called with different
/// literals or layout normalises to one text.
pub fn normalize_sql(sql: &str) -> String {
    let tokens = tokenize(sql);
    let mut out = String::with_capacity(sql.len());
    let mut previous: Option<&Token<'_>> = None;
    for (i, token) in tokens.iter().enumerate() {
        if is_sign_of_value(&tokens, i) {
            continue;
        }
        let text = match token.kind {
            TokenKind::Str | TokenKind::Number | TokenKind::Param => "?",
            TokenKind::Word | TokenKind::Quoted | TokenKind::Punct => token.text,
        };
        if let Some(prev) = previous {
            let tight = [',', ')', '.', ';'].iter().any(|&c| token.is_punct(c))
                || (token.is_punct('(') && matches!(prev.kind, TokenKind::Word | TokenKind::Quoted))
                || prev.is_punct('(')
                || prev.is_punct('.');
            if !tight {
                out.push(' ');
            }
        }
        out.push_str(text);
        previous = Some(token);
    }
    while out.ends_with(';') {
        out.pop();
    }
    out
}

/// Keywords after which a `+` or `-` can only be a unary sign (`LIMIT +?1`,
/// `WHERE -1 < x`, `THEN -2`).
const BEFORE_UNARY: &[&str] = &[
    "AND",
    "BETWEEN",
    "BY",
    "CASE",
    "DEFAULT",
    "ELSE",
    "GLOB",
    "HAVING",
    "IN",
    "IS",
    "LIKE",
    "LIMIT",
    "NOT",
    "OFFSET",
    "ON",
    "OR",
    "RETURNING",
    "SELECT",
    "THEN",
    "WHEN",
    "WHERE",
];

/// Whether token `i` is the sign of the literal or parameter after it, which the
/// placeholder replaces together with it: `LIMIT +?4` and `LIMIT 10` both read
/// `LIMIT ?`, while `a - 1` keeps its binary minus.
fn is_sign_of_value(tokens: &[Token<'_>], i: usize) -> bool {
    let token = &tokens[i];
    if !(token.is_punct('+') || token.is_punct('-')) {
        return false;
    }
    let value_follows = tokens
        .get(i + 1)
        .is_some_and(|next| matches!(next.kind, TokenKind::Number | TokenKind::Param | TokenKind::Str));
    if !value_follows {
        return false;
    }
    match i.checked_sub(1).map(|p| &tokens[p]) {
        None => true,
        Some(prev) => match prev.kind {
            TokenKind::Punct => !prev.is_punct(')'),
            TokenKind::Word => BEFORE_UNARY.iter().any(|k| prev.is(k)),
            TokenKind::Str | TokenKind::Number | TokenKind::Param | TokenKind::Quoted => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_sql;

    #[test]
    fn literals_and_parameters_become_placeholders() {
        assert_eq!(
            normalize_sql(
                "SELECT count(*)  FROM t\n WHERE id = 42 AND name = 'o''brien' AND x = ?1 AND y = :y AND z = $z AND w = @w;"
            ),
            "SELECT count(*) FROM t WHERE id = ? AND name = ? AND x = ? AND y = ? AND z = ? AND w = ?"
        );
    }

    #[test]
    fn same_statement_with_other_literals_normalises_alike() {
        assert_eq!(
            normalize_sql("insert into t(a, b) values (1, 'x') -- note"),
            normalize_sql("insert into t (a,b)   values(2.5e+3,'yy')")
        );
    }

    #[test]
    fn two_character_operators_stay_whole() {
        assert_eq!(
            normalize_sql(
                "SELECT id FROM tasks WHERE run_after <= ?3 AND a>=1 AND b<>2 AND c != 3 AND d || 'x'"
            ),
            "SELECT id FROM tasks WHERE run_after <= ? AND a >= ? AND b <> ? AND c != ? AND d || ?"
        );
    }

    #[test]
    fn a_signed_limit_reads_like_a_plain_one() {
        assert_eq!(
            normalize_sql("SELECT id FROM t ORDER BY id LIMIT +?4"),
            "SELECT id FROM t ORDER BY id LIMIT ?"
        );
        assert_eq!(
            normalize_sql("SELECT id FROM t ORDER BY id LIMIT 10"),
            "SELECT id FROM t ORDER BY id LIMIT ?"
        );
        assert_eq!(normalize_sql("SELECT x FROM t LIMIT -1 OFFSET ?2"), "SELECT x FROM t LIMIT ? OFFSET ?");
        assert_eq!(normalize_sql("UPDATE t SET n = -5, m = (+?1)"), "UPDATE t SET n = ?, m = (?)");
        // A binary operator keeps its sign.
        assert_eq!(
            normalize_sql("SELECT a - 1, b+?2, (c) - 3 FROM t"),
            "SELECT a - ?, b + ?, (c) - ? FROM t"
        );
    }

    #[test]
    fn blobs_and_doubled_quotes_follow_sqlite() {
        assert_eq!(
            normalize_sql("SELECT \"a\"\"b\" FROM t WHERE h = x'ab' AND k = X'00ff' AND s = 'it''s'"),
            "SELECT \"a\"\"b\" FROM t WHERE h = ? AND k = ? AND s = ?"
        );
        // A doubled quote does not end the name: what follows is not read as SQL.
        assert_eq!(normalize_sql("SELECT \"x\"\" 1 \" FROM t"), "SELECT \"x\"\" 1 \" FROM t");
        assert_eq!(normalize_sql("SELECT `a``b`, [c d] FROM t"), "SELECT `a``b`, [c d] FROM t");
    }

    #[test]
    fn comments_go_and_identifiers_with_digits_are_kept() {
        assert_eq!(
            normalize_sql("SELECT col1 /* c; 'x' */ FROM \"t 2\" -- tail 'q\n WHERE v2 > 3"),
            "SELECT col1 FROM \"t 2\" WHERE v2 > ?"
        );
    }

    #[test]
    fn non_ascii_names_and_literals_are_kept_whole() {
        assert_eq!(
            normalize_sql("SELECT café FROM \"menü 🍰\" WHERE naïve = 'crème' AND [日本] > 1"),
            "SELECT café FROM \"menü 🍰\" WHERE naïve = ? AND [日本] > ?"
        );
        // Unterminated quotes end at the end of the text, on a character boundary.
        assert_eq!(normalize_sql("SELECT \"é"), "SELECT \"é");
        assert_eq!(normalize_sql("SELECT 'é"), "SELECT ?");
    }
}
