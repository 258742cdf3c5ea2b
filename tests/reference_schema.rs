//! The reference schema in `migrations/`, as embedded into the facade: it lints clean
//! and up, down, up is the identity for every prefix.

use strata::schema;

#[test]
fn the_reference_migrations_are_embedded_and_numbered_from_one() {
    let set = strata::reference_migrations().unwrap();
    let versions: Vec<i64> = set.migrations().iter().map(|m| m.version()).collect();
    assert!(!versions.is_empty(), "migrations/ is embedded");
    assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>());
    assert!(set.migrations().iter().all(|m| m.down().is_some()), "every up has its down");
}

#[test]
fn up_down_up_is_the_identity_for_every_prefix_of_the_reference_migrations() {
    let set = strata::reference_migrations().unwrap();
    let report = schema::check_reversible(&set).unwrap();
    assert_eq!(report.checked.len(), set.migrations().len());
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn lint_finds_nothing_in_the_reference_migrations() {
    let findings = schema::lint(&strata::reference_migrations().unwrap());
    assert!(findings.is_empty(), "{findings:#?}");
}
