//! Assertions on the operation log that [`crate::logged`] captured: the end event of
//! each operation, as the `fmt` subscriber writes it.

/// Asserts that one of `lines` is the end of operation `op` on `tables` with `outcome`
/// ("ok" or "error") and holds `field` (e.g. `rows=1`, `code="E4002"`).
#[track_caller]
pub fn assert_op(lines: &[String], op: &str, tables: &str, outcome: &str, field: &str) {
    let wanted = [
        format!("op=\"{op}\""),
        format!("tables=\"{tables}\""),
        format!("outcome=\"{outcome}\""),
        field.into(),
    ];
    assert!(
        lines.iter().any(|line| wanted.iter().all(|w| line.contains(w.as_str()))),
        "no event with {wanted:?} in:\n{}",
        lines.join("\n")
    );
}
