//! strata's one SQLite lexer: tokens, statement splitting and comment/whitespace
//! normalisation. Migrations, lint, introspection and the query statistics' statement
//! normaliser (strata-ops) all read SQL through [`tokenize`].
//!
//! It knows exactly what SQLite's own tokenizer knows about quoting (`'..'`, `".."`,
//! `` `..` ``, `[..]`), comments (`--`, `/* */`) and the one statement whose body holds
//! semicolons (`CREATE TRIGGER ... BEGIN ...; END;`). It does not parse expressions.

/// What a token is; only the distinctions the callers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A keyword or a bare identifier.
    Word,
    /// A `'string'` or `x'blob'` literal.
    Str,
    /// A quoted identifier: `"x"`, `` `x` `` or `[x]`.
    Quoted,
    /// A numeric literal.
    Number,
    /// `?`, `?1`, `:name`, `@name`, `$name`.
    Param,
    /// Punctuation and operators (`(`, `)`, `,`, `;`, `<=`, `||`, ...).
    Punct,
}

/// One token with its place in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// What the token is.
    pub kind: TokenKind,
    /// Its text, exactly as in the source (quotes included).
    pub text: &'a str,
    /// Its byte offset in the source.
    pub start: usize,
}

impl Token<'_> {
    /// Whether this is the keyword `word` (case-insensitive).
    pub fn is(&self, word: &str) -> bool {
        self.kind == TokenKind::Word && self.text.eq_ignore_ascii_case(word)
    }

    /// Whether this is the punctuation `c`.
    pub fn is_punct(&self, c: char) -> bool {
        self.kind == TokenKind::Punct && self.text.len() == c.len_utf8() && self.text.starts_with(c)
    }

    /// The identifier this token names, unquoted.
    pub fn ident(&self) -> String {
        unquote(self.text)
    }
}

/// Removes SQLite identifier quoting: `"a""b"` -> `a"b`, `[x]` -> `x`.
///
/// The quotes are ASCII, so the name is cut only after it is known to start and end
/// with one; a bare name (`café`) comes back unchanged.
pub(crate) fn unquote(text: &str) -> String {
    for (open, close, doubled, single) in
        [('"', '"', "\"\"", "\""), ('`', '`', "``", "`"), ('\'', '\'', "''", "'")]
    {
        if let Some(inner) = strip_quotes(text, open, close) {
            return inner.replace(doubled, single);
        }
    }
    match strip_quotes(text, '[', ']') {
        Some(inner) => inner.to_string(),
        None => text.to_string(),
    }
}

/// `text` without its first and last character when they are `open` and `close`.
fn strip_quotes(text: &str, open: char, close: char) -> Option<&str> {
    text.strip_prefix(open)?.strip_suffix(close)
}

/// Quotes an identifier for SQL text: always double quotes, inner quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Splits `sql` into tokens, dropping whitespace and comments. Never fails: an
/// unterminated quote or comment ends at the end of the text.
pub fn tokenize(sql: &str) -> Vec<Token<'_>> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let kind = match c {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => {
                i += 1;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i = (i + 2).min(bytes.len());
                continue;
            }
            b'\'' | b'"' | b'`' => {
                i = end_of_quoted(bytes, i, c);
                if c == b'\'' { TokenKind::Str } else { TokenKind::Quoted }
            }
            b'[' => {
                while i < bytes.len() && bytes[i] != b']' {
                    i += 1;
                }
                i = (i + 1).min(bytes.len());
                TokenKind::Quoted
            }
            b'0'..=b'9' => {
                i = end_of_number(bytes, i);
                TokenKind::Number
            }
            b'.' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i = end_of_number(bytes, i);
                TokenKind::Number
            }
            b'?' => {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                TokenKind::Param
            }
            b':' | b'@' | b'$' if bytes.get(i + 1).is_some_and(|&b| is_word_byte(b)) => {
                i += 1;
                while i < bytes.len() && is_word_byte(bytes[i]) {
                    i += 1;
                }
                TokenKind::Param
            }
            b'x' | b'X' if bytes.get(i + 1) == Some(&b'\'') => {
                i = end_of_quoted(bytes, i + 1, b'\'');
                TokenKind::Str
            }
            _ if is_word_byte(c) => {
                while i < bytes.len() && is_word_byte(bytes[i]) {
                    i += 1;
                }
                TokenKind::Word
            }
            _ if OPERATORS.iter().any(|op| sql[i..].starts_with(op)) => {
                // Matched just above; the longest operators are listed first.
                i += OPERATORS.iter().find(|op| sql[i..].starts_with(*op)).map_or(1, |op| op.len());
                TokenKind::Punct
            }
            _ => {
                // One character, which may be several bytes of UTF-8.
                i += sql[i..].chars().next().map_or(1, char::len_utf8);
                TokenKind::Punct
            }
        };
        tokens.push(Token { kind, text: &sql[start..i], start });
    }
    tokens
}

/// Operators of more than one character, longest first.
const OPERATORS: &[&str] = &["->>", "->", "||", "<=", ">=", "<>", "!=", "==", "<<", ">>"];

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn end_of_quoted(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

fn end_of_number(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    if bytes[i] == b'0' && matches!(bytes.get(i + 1), Some(b'x' | b'X')) {
        i += 2;
        while i < bytes.len() && bytes[i].is_ascii_hexdigit() {
            i += 1;
        }
        return i;
    }
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_digit() || b == b'.' || b == b'_' {
            i += 1;
        } else if matches!(b, b'e' | b'E') {
            i += 1;
            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
        } else {
            break;
        }
    }
    i
}

/// One statement of a script: its text (with the `;`), its line and its tokens.
#[derive(Debug, Clone)]
pub(crate) struct Statement<'a> {
    pub text: &'a str,
    pub line: usize,
    pub tokens: Vec<Token<'a>>,
}

impl Statement<'_> {
    /// The first keyword, upper-cased (`CREATE`, `ALTER`, ...).
    pub fn verb(&self) -> String {
        self.tokens.first().map(|t| t.text.to_ascii_uppercase()).unwrap_or_default()
    }
}

/// Splits a script into statements the way `sqlite3_complete` does.
pub(crate) fn split_statements(sql: &str) -> Vec<Statement<'_>> {
    let tokens = tokenize(sql);
    let mut out = Vec::new();
    let mut current: Vec<Token<'_>> = Vec::new();
    for token in tokens {
        let is_semicolon = token.is_punct(';');
        if is_semicolon && current.is_empty() {
            continue;
        }
        current.push(token);
        if is_semicolon && statement_complete(&current) {
            out.push(finish(sql, std::mem::take(&mut current)));
        }
    }
    if !current.is_empty() {
        out.push(finish(sql, current));
    }
    out
}

fn finish<'a>(sql: &'a str, tokens: Vec<Token<'a>>) -> Statement<'a> {
    let start = tokens.first().map_or(0, |t| t.start);
    let end = tokens.last().map_or(0, |t| t.start + t.text.len());
    let line = 1 + sql[..start].bytes().filter(|&b| b == b'\n').count();
    Statement { text: &sql[start..end], line, tokens }
}

/// Whether the tokens so far (ending in `;`) are a whole statement.
fn statement_complete(tokens: &[Token<'_>]) -> bool {
    if !is_create_trigger(tokens) {
        return true;
    }
    // A trigger ends with `; END ;` (its last body statement, END, the terminator).
    let n = tokens.len();
    n >= 3 && tokens[n - 2].is("END") && tokens[n - 3].is_punct(';')
}

fn is_create_trigger(tokens: &[Token<'_>]) -> bool {
    let mut words = tokens.iter().take(3);
    if !words.next().is_some_and(|t| t.is("CREATE")) {
        return false;
    }
    match words.next() {
        Some(t) if t.is("TRIGGER") => true,
        Some(t) if t.is("TEMP") || t.is("TEMPORARY") => words.next().is_some_and(|t| t.is("TRIGGER")),
        _ => false,
    }
}

/// The script with comments removed and every run of whitespace made one space.
///
/// Two scripts with the same normal form differ only in comments, whitespace and
/// line endings outside string literals; that is what `repair` accepts.
pub(crate) fn normalize(sql: &str) -> String {
    normalize_tokens(&tokenize(sql))
}

/// Joins tokens with single spaces, leaving none inside parentheses, before `,`, `;`,
/// around `.`, and between a name and its `(`.
pub(crate) fn normalize_tokens(tokens: &[Token<'_>]) -> String {
    let mut out = String::new();
    let mut previous: Option<&Token<'_>> = None;
    for token in tokens {
        if let Some(prev) = previous {
            let tight = token.is_punct(')')
                || token.is_punct(',')
                || token.is_punct(';')
                || token.is_punct('.')
                || (token.is_punct('(') && matches!(prev.kind, TokenKind::Word | TokenKind::Quoted))
                || prev.is_punct('(')
                || prev.is_punct('.');
            if !tight {
                out.push(' ');
            }
        }
        out.push_str(token.text);
        previous = Some(token);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_keeps_trigger_bodies_and_strings_whole() {
        let sql = "CREATE TABLE t(a TEXT DEFAULT ';');\n-- c;\nCREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  \
                   UPDATE t SET a = CASE WHEN 1 THEN 'x' END;\n  SELECT 1;\nEND;\n\nINSERT INTO t VALUES('a;b')";
        let parts = split_statements(sql);
        assert_eq!(parts.len(), 3, "{parts:#?}");
        assert!(parts[1].text.starts_with("CREATE TRIGGER") && parts[1].text.ends_with("END;"));
        assert_eq!(parts[1].line, 3);
        assert_eq!(parts[2].text, "INSERT INTO t VALUES('a;b')");
        assert_eq!(parts[2].line, 8);
    }

    #[test]
    fn normal_form_ignores_comments_whitespace_and_line_endings_only() {
        let a = "-- header\r\nCREATE TABLE t (\r\n  a TEXT DEFAULT 'x  y' /* note */\r\n);\r\n";
        let b = "CREATE TABLE t(a TEXT   DEFAULT 'x  y');";
        assert_eq!(normalize(a), normalize(b));
        assert_ne!(normalize(b), normalize("CREATE TABLE t(a TEXT DEFAULT 'x y');"));
        assert_ne!(normalize(b), normalize("CREATE TABLE t(a INTEGER DEFAULT 'x  y');"));
    }

    #[test]
    fn identifiers_are_unquoted() {
        assert_eq!(unquote("\"a\"\"b\""), "a\"b");
        assert_eq!(unquote("[x y]"), "x y");
        assert_eq!(unquote("`q`"), "q");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn non_ascii_names_are_unquoted_without_cutting_a_character() {
        assert_eq!(unquote("café"), "café");
        assert_eq!(unquote("é"), "é");
        assert_eq!(unquote("\"café\""), "café");
        assert_eq!(unquote("[🍰 x]"), "🍰 x");
        assert_eq!(unquote("`é``x`"), "é`x");
        assert_eq!(unquote("\""), "\"", "a lone quote is not a quoted name");
        assert_eq!(unquote("\"\""), "");
        let tokens = tokenize("CREATE TABLE menu(café TEXT, \"prix 🍰\" REAL)");
        let names: Vec<String> = tokens.iter().map(Token::ident).collect();
        assert!(names.contains(&"café".to_string()) && names.contains(&"prix 🍰".to_string()), "{names:?}");
    }
}
