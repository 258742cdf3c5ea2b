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

/// V9 adds the five indexes the schema milestone names and gives the audit column its
/// milestone name; a database migrated to V8 with audit rows upgrades in place and
/// keeps them, and V9's down gives the column its old name back.
#[test]
fn v9_adds_the_milestone_indexes_and_renames_the_audit_column_keeping_its_rows() {
    let set = strata::reference_migrations().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("app.db")).unwrap();
    let quiet = |to| schema::UpOptions { to: Some(to), snapshot: false, ..schema::UpOptions::default() };
    schema::up(&conn, &set, &quiet(8)).unwrap();
    conn.execute(
        "INSERT INTO audit (ts, actor, action, memory_operation, memory_namespace, memory_entry_id)
         VALUES (1, 'ada', 'memory.put', 'put', 'notes', 7)",
        [],
    )
    .unwrap();

    schema::up(&conn, &set, &quiet(9)).unwrap();
    let index_of = |name: &str| -> Option<String> {
        conn.query_row("SELECT tbl_name FROM sqlite_schema WHERE type = 'index' AND name = ?1", [name], |r| {
            r.get(0)
        })
        .ok()
    };
    for (index, table) in [
        ("tasks_submitted_at_idx", "tasks"),
        ("agents_spawned_at_idx", "agents"),
        ("checkpoints_created_at_idx", "checkpoints"),
        ("audit_memory_operation_type_idx", "audit"),
        ("audit_memory_entry_id_idx", "audit"),
    ] {
        assert_eq!(index_of(index).as_deref(), Some(table), "{index}");
    }
    let kept: (String, i64) = conn
        .query_row("SELECT memory_operation_type, memory_entry_id FROM audit", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(kept, ("put".to_string(), 7));
    // The CHECK that ties the memory columns together follows the rename.
    let orphan =
        conn.execute("INSERT INTO audit (ts, actor, action, memory_entry_id) VALUES (2, 'ada', 'x', 8)", []);
    assert!(orphan.is_err(), "an entry id without an operation is still refused");

    let back = schema::DownOptions { snapshot: false, ..schema::DownOptions::new(schema::DownTarget::To(8)) };
    schema::down(&conn, &set, &back).unwrap();
    let old: String = conn.query_row("SELECT memory_operation FROM audit", [], |r| r.get(0)).unwrap();
    assert_eq!(old, "put");
    assert_eq!(index_of("tasks_submitted_at_idx"), None);
}
