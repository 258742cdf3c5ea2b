//! Constraints of the orchestration tables seen through raw SQL: whatever bypasses the
//! repositories still gets a typed E4001 with the right constraint kind, and the
//! database is unchanged.

use strata_core::ConstraintKind;

use crate::migrated;
use crate::rows::{assert_constraint, count, raw_write, task};

#[tokio::test]
async fn bad_json_and_unknown_states_inserted_raw_are_check_violations() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    task(&pool).await;
    let refused: [(&'static str, &'static str); 7] = [
        (
            "sessions",
            "INSERT INTO sessions (app_name, user_id, state, created_at, updated_at) VALUES ('a', 'u', 'nope', 0, 0)",
        ),
        (
            "sessions",
            "INSERT INTO sessions (app_name, user_id, status, created_at, updated_at) VALUES ('a', 'u', 'sleeping', 0, 0)",
        ),
        ("agents", "INSERT INTO agents (task_id, name, state, spawned_at) VALUES (1, 'a', 'dancing', 0)"),
        (
            "agents",
            "INSERT INTO agents (task_id, name, resource_usage, spawned_at) VALUES (1, 'a', '[1,', 0)",
        ),
        (
            "checkpoints",
            "INSERT INTO checkpoints (task_id, iteration, state, created_at) VALUES (1, 0, '{', 0)",
        ),
        ("state", "INSERT INTO state (task_id, key, value, updated_at) VALUES (1, 'k', 'x', 0)"),
        ("flags", "INSERT INTO flags (name, value, updated_by, updated_at) VALUES ('f', 'yes', 'a', 0)"),
    ];
    for (table, sql) in refused {
        let before = count(&pool, table).await;
        let err = raw_write(&pool, sql).await.unwrap_err();
        assert_constraint(&err, ConstraintKind::Check);
        assert_eq!(count(&pool, table).await, before, "{sql}");
    }
}

#[tokio::test]
async fn rows_pointing_at_missing_parents_inserted_raw_are_foreign_key_violations() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let refused: [(&'static str, &'static str); 3] = [
        ("agents", "INSERT INTO agents (task_id, name, spawned_at) VALUES (404, 'a', 0)"),
        (
            "checkpoints",
            "INSERT INTO checkpoints (task_id, iteration, state, created_at) VALUES (404, 0, '{}', 0)",
        ),
        ("state", "INSERT INTO state (task_id, key, value, updated_at) VALUES (404, 'k', '1', 0)"),
    ];
    for (table, sql) in refused {
        let err = raw_write(&pool, sql).await.unwrap_err();
        assert_constraint(&err, ConstraintKind::ForeignKey);
        assert_eq!(count(&pool, table).await, 0, "{sql}");
    }
}
