//! strata-macros: the proc macro behind `strata::embed_migrations!` (a leaf crate: it
//! depends on no crate of ours, and only the facade, `strata`, depends on it).
//!
//! `macro_rules!` cannot list a directory, and a macro re-exported from a crate the
//! application does not name must resolve paths through `$crate`, which a proc macro
//! only gets when a `macro_rules!` wrapper passes it in. So the facade's
//! `embed_migrations!` calls [`embed_migrations`] with `$crate::schema` (the path of
//! strata-schema, which owns `MigrationSet`) and the directory;
//! this macro reads the directory (relative to the calling crate's
//! `CARGO_MANIFEST_DIR`, as refinery's does), checks the file names, versions and
//! pairs at compile time, and expands to `MigrationSet::from_embedded` over
//! `include_str!` of every `.sql` file, which checks them again the way a directory
//! read at runtime is checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proc_macro::{Delimiter, Literal, TokenStream, TokenTree};

/// `embed_migrations!(path::to::schema, "dir")`: the `.sql` files of `dir` as a
/// `Result<MigrationSet>` of the crate at that path. Use it through
/// `strata::embed_migrations!("dir")`.
#[proc_macro]
pub fn embed_migrations(input: TokenStream) -> TokenStream {
    match expand(input) {
        Ok(tokens) => tokens,
        Err(message) => compile_error(&message),
    }
}

fn expand(input: TokenStream) -> Result<TokenStream, String> {
    let tokens = flatten(input);
    let comma = tokens
        .iter()
        .rposition(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ','))
        .ok_or("expected embed_migrations!(\"dir\")")?;
    let krate: TokenStream = tokens[..comma].iter().cloned().collect();
    let dir = match &tokens[comma + 1..] {
        [TokenTree::Literal(lit)] => string_value(lit)?,
        _ => return Err("expected one string literal: embed_migrations!(\"dir\")".into()),
    };
    let manifest = std::env::var("CARGO_MANIFEST_DIR").map_err(|_| "CARGO_MANIFEST_DIR is not set")?;
    let root = Path::new(&manifest).join(&dir);
    let mut files = Vec::new();
    collect(&root, &root, &mut files)
        .map_err(|e| format!("cannot read migration directory {}: {e}", root.display()))?;
    files.sort();
    let relative: Vec<&str> = files.iter().map(|(rel, _)| rel.as_str()).collect();
    check(&dir, &relative)?;
    let mut list = String::new();
    for (rel, abs) in &files {
        let abs = abs.to_str().ok_or_else(|| format!("{} is not a utf-8 path", abs.display()))?;
        list.push_str(&format!("({rel:?}, ::core::include_str!({abs:?})),"));
    }
    let tail: TokenStream = format!("::MigrationSet::from_embedded({dir:?}, &[{list}])")
        .parse()
        .map_err(|e| format!("internal error building the expansion: {e:?}"))?;
    let mut out = krate;
    out.extend(tail);
    Ok(out)
}

/// The tokens, with the invisible groups `macro_rules!` wraps its fragments in opened.
fn flatten(input: TokenStream) -> Vec<TokenTree> {
    let mut out = Vec::new();
    for token in input {
        match token {
            TokenTree::Group(group) if group.delimiter() == Delimiter::None => {
                out.extend(flatten(group.stream()))
            }
            other => out.push(other),
        }
    }
    out
}

/// The value of a plain string literal (no escapes, not raw).
fn string_value(lit: &Literal) -> Result<String, String> {
    let text = lit.to_string();
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(value) if !value.contains('\\') && !value.is_empty() => Ok(value.to_string()),
        _ => Err(format!("expected a plain, non-empty string literal for the directory, found {text}")),
    }
}

/// Every `.sql` file under `dir`, as (path relative to `root` with `/`, absolute path).
fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "sql") {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let rel: Vec<String> =
                rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            out.push((rel.join("/"), path.canonicalize()?));
        }
    }
    Ok(())
}

/// The compile-time check of `files` (paths relative to the directory `dir`), with the
/// codes `MigrationSet::from_embedded` returns at runtime: E3008 for a bad name, a
/// version used twice or a down file without its up beside it, E3030 for a gap.
fn check(dir: &str, files: &[&str]) -> Result<(), String> {
    let invalid = |what: &str, reason: &str| format!("E3008 invalid migration set: {what}: {reason}");
    let mut versions: BTreeMap<u64, &str> = BTreeMap::new();
    let mut ups = Vec::new();
    let mut downs = Vec::new();
    for file in files {
        let (parent, name) = file.rsplit_once('/').unwrap_or(("", file));
        let (stem, down) = match name.strip_suffix(".down.sql") {
            Some(stem) => (stem, true),
            None => (name.strip_suffix(".sql").unwrap_or(name), false),
        };
        let version = stem
            .strip_prefix('V')
            .and_then(|rest| rest.split_once("__"))
            .filter(|(v, n)| {
                !v.is_empty()
                    && v.chars().all(|c| c.is_ascii_digit())
                    && !n.is_empty()
                    && n.chars().all(|c| c.is_alphanumeric() || c == '_')
            })
            .and_then(|(v, _)| v.parse::<u64>().ok())
            .ok_or_else(|| invalid(file, "expected V{n}__{name}.sql or V{n}__{name}.down.sql"))?;
        if down {
            downs.push((format!("{parent}/{stem}"), *file));
            continue;
        }
        ups.push(format!("{parent}/{stem}"));
        if let Some(other) = versions.insert(version, file) {
            return Err(invalid(file, &format!("version {version} is also used by {other}")));
        }
    }
    if let Some((_, orphan)) = downs.iter().find(|(key, _)| !ups.contains(key)) {
        return Err(invalid(orphan, "down file without a matching up file beside it"));
    }
    let sorted: Vec<u64> = versions.keys().copied().collect();
    if let Some(pair) = sorted.windows(2).find(|pair| pair[1] != pair[0] + 1) {
        return Err(format!("E3030 migration set {dir} has a gap: V{} is followed by V{}", pair[0], pair[1]));
    }
    Ok(())
}

/// `compile_error!("message")`.
fn compile_error(message: &str) -> TokenStream {
    format!("::core::compile_error!({:?})", format!("embed_migrations!: {message}"))
        .parse()
        // A string literal in `{:?}` form is always valid tokens.
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn a_contiguous_directory_with_and_without_downs_passes() {
        assert_eq!(check("m", &["V1__a.sql", "V1__a.down.sql", "V2__b.sql", "sub/V3__c.sql"]), Ok(()));
        assert_eq!(check("m", &[]), Ok(()));
    }

    #[test]
    fn a_gap_is_e3030() {
        let err = check("m", &["V1__a.sql", "V3__c.sql"]).unwrap_err();
        assert_eq!(err, "E3030 migration set m has a gap: V1 is followed by V3");
    }

    #[test]
    fn a_duplicate_version_a_bad_name_and_an_orphan_down_are_e3008() {
        let err = check("m", &["V1__a.sql", "V1__b.sql"]).unwrap_err();
        assert!(err.starts_with("E3008") && err.contains("version 1 is also used by V1__a.sql"), "{err}");
        let err = check("m", &["V1__a.sql", "1_b.sql"]).unwrap_err();
        assert!(err.starts_with("E3008 invalid migration set: 1_b.sql"), "{err}");
        let err = check("m", &["V1__a.sql", "V2__b.down.sql"]).unwrap_err();
        assert!(err.contains("V2__b.down.sql: down file without a matching up file"), "{err}");
        let err = check("m", &["V1__a.sql", "sub/V1__a.down.sql"]).unwrap_err();
        assert!(err.contains("sub/V1__a.down.sql"), "{err}");
    }
}
