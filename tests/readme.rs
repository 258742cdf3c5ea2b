//! The README's quick start is the doctest that opens the facade's rustdoc
//! (src/lib.rs), line for line without the doctest's hidden `# ` lines: the doctest
//! compiles and runs it, this test keeps the README's copy from drifting.

use std::path::Path;

const MARKER: &str = "<!-- quick start: the doctest at the top of src/lib.rs -->\n```rust\n";

/// The visible lines of the first code block of the crate's `//!` docs.
fn doctest_lines(lib: &str) -> Vec<String> {
    let docs: Vec<&str> = lib
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| l.strip_prefix("//! ").unwrap_or(l.trim_start_matches("//!")))
        .collect();
    let start = docs.iter().position(|l| *l == "```").expect("the crate docs open with a code block") + 1;
    let len = docs[start..].iter().position(|l| *l == "```").expect("the code block ends");
    docs[start..start + len]
        .iter()
        .filter(|l| !(l.starts_with("# ") || **l == "#"))
        .map(|l| l.to_string())
        .collect()
}

/// The lines of the README's block after [`MARKER`].
fn readme_lines(readme: &str) -> Vec<String> {
    let start = readme.find(MARKER).expect("the README marks its quick start") + MARKER.len();
    let end = readme[start..].find("\n```").expect("the README's block ends") + start;
    readme[start..end].lines().map(str::to_string).collect()
}

#[test]
fn the_readme_quick_start_is_the_facade_doctest() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let (doc, shown) = (doctest_lines(&lib), readme_lines(&readme));
    assert!(doc.len() > 40, "{doc:#?}");
    assert_eq!(shown, doc, "README.md's quick start differs from the doctest in src/lib.rs");
}
