//! Feature flags: set/get/list/delete, each change audited in the same transaction.

use serde_json::json;
use strata_core::ConstraintKind;
use strata_repo::{Audit, AuditFilter, FlagChange, Flags, PageRequest};

use crate::migrated;
use crate::rows::{assert_constraint, count};

#[tokio::test]
async fn each_set_upserts_the_flag_and_writes_exactly_one_audit_row() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let (flags, audit) = (Flags::new(pool.clone()), Audit::new(pool.clone()));
    let created = flags
        .set("dark_mode", json!(false), FlagChange::by("ann").description("the dark theme"))
        .await
        .unwrap();
    assert_eq!((created.value.clone(), created.description.as_str()), (json!(false), "the dark theme"));
    assert_eq!(count(&pool, "audit").await, 1);

    let updated = flags.set("dark_mode", json!({"rollout": 0.5}), FlagChange::by("bob")).await.unwrap();
    assert_eq!(updated.description, "the dark theme", "a None description keeps the old one");
    assert_eq!(updated.updated_by, "bob");
    assert_eq!(flags.get("dark_mode").await.unwrap(), Some(updated));
    assert_eq!(count(&pool, "audit").await, 2);

    let filter = AuditFilter { action: Some("flag.set".into()), ..AuditFilter::default() };
    let rows = audit.list(&filter, PageRequest::first(10)).await.unwrap().items;
    assert_eq!(rows[0].actor, "bob");
    assert_eq!(rows[0].data, json!({"name": "dark_mode", "old": false, "new": {"rollout": 0.5}}));
    assert_eq!(rows[1].data, json!({"name": "dark_mode", "old": null, "new": false}));
}

#[tokio::test]
async fn a_failed_set_writes_neither_the_flag_nor_an_audit_row() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let flags = Flags::new(pool.clone());
    flags.set("beta", json!(1), FlagChange::by("ann")).await.unwrap();
    // The upsert runs first, then the audit row's CHECK (actor <> '') refuses: the
    // whole write closure rolls back, the upsert included.
    assert_constraint(
        &flags.set("beta", json!(2), FlagChange::by("")).await.unwrap_err(),
        ConstraintKind::Check,
    );
    assert_constraint(
        &flags.set("", json!(2), FlagChange::by("ann")).await.unwrap_err(),
        ConstraintKind::Check,
    );
    assert_eq!(flags.get("beta").await.unwrap().unwrap().value, json!(1));
    assert_eq!((count(&pool, "flags").await, count(&pool, "audit").await), (1, 1));
}

#[tokio::test]
async fn delete_removes_the_flag_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let flags = Flags::new(pool.clone());
    flags.set("beta", json!("on"), FlagChange::by("ann")).await.unwrap();
    flags.delete("beta", FlagChange::by("bob")).await.unwrap();
    assert_eq!(flags.get("beta").await.unwrap(), None, "a missing flag is None, not an error");
    assert_eq!(flags.delete("beta", FlagChange::by("bob")).await.unwrap_err().code(), "E4002");
    let rows = Audit::new(pool.clone()).tail(0, 10).await.unwrap();
    assert_eq!(rows.len(), 2, "the failed delete wrote no audit row");
    assert_eq!((rows[1].action.as_str(), rows[1].actor.as_str()), ("flag.delete", "bob"));
    assert_eq!(rows[1].data, json!({"name": "beta", "old": "on", "new": null}));
}

#[tokio::test]
async fn flags_list_by_name_across_pages() {
    let dir = tempfile::tempdir().unwrap();
    let flags = Flags::new(migrated(dir.path()).await);
    let mut names: Vec<String> = (0..8).map(|i| format!("flag_{}", 7 - i)).collect();
    for name in &names {
        flags.set(name, json!(true), FlagChange::by("ann")).await.unwrap();
    }
    names.sort();
    let mut seen = Vec::new();
    let mut page = PageRequest::<String>::first(3);
    loop {
        let got = flags.list(page).await.unwrap();
        seen.extend(got.items.into_iter().map(|f| f.name));
        match got.next {
            Some(after) => page = PageRequest::<String>::after(after, 3),
            None => break,
        }
    }
    assert_eq!(seen, names);
}

#[tokio::test]
async fn flags_read_as_typed_values_and_a_missing_flag_is_none_or_the_default() {
    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Rollout {
        percent: u8,
        regions: Vec<String>,
    }
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let flags = Flags::new(pool.clone());
    flags.set("workers", json!(8), FlagChange::by("ann")).await.unwrap();
    flags.set("dark_mode", json!(true), FlagChange::by("ann")).await.unwrap();
    flags.set("rollout", json!({"percent": 25, "regions": ["eu"]}), FlagChange::by("ann")).await.unwrap();

    assert_eq!(flags.get_as::<u32>("workers").await.unwrap(), Some(8));
    assert_eq!(
        flags.get_as::<Rollout>("rollout").await.unwrap(),
        Some(Rollout { percent: 25, regions: vec!["eu".into()] })
    );
    assert_eq!(flags.get_as::<u32>("missing").await.unwrap(), None);
    let wrong = flags.get_as::<String>("workers").await.unwrap_err();
    assert_eq!(wrong.code(), "E4021", "{wrong}");
    assert!(wrong.to_string().starts_with("flag `workers` is not `String`: "), "{wrong}");

    assert!(flags.is_enabled("dark_mode", false).await.unwrap());
    assert!(flags.is_enabled("missing", true).await.unwrap(), "the default when unset");
    assert!(!flags.is_enabled("missing", false).await.unwrap());
    let not_bool = flags.is_enabled("workers", false).await.unwrap_err();
    assert_eq!(not_bool.code(), "E4021", "{not_bool}");
    assert_eq!(not_bool.to_string(), "flag `workers` is not a bool: its value is 8");
}

#[tokio::test]
async fn each_flags_operation_logs_its_span_with_name_tables_and_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let flags = Flags::new(pool);
    let (log, _guard) = crate::op_spans::capture();
    flags.set("beta", json!(3), FlagChange::by("ann")).await.unwrap();
    assert_eq!(flags.get("beta").await.unwrap().map(|f| f.value), Some(json!(3)));
    assert_eq!(flags.delete("gone", FlagChange::by("ann")).await.unwrap_err().code(), "E4002");
    assert_eq!(flags.is_enabled("beta", false).await.unwrap_err().code(), "E4021");

    let set = log.line("flags.set", "ok");
    assert!(set.contains("tables=\"flags,audit\"") && set.contains("rows=1"), "{set}");
    let get = log.line("flags.get", "ok");
    assert!(get.contains("tables=\"flags\"") && get.contains("rows=1"), "{get}");
    let delete = log.line("flags.delete", "error");
    assert!(delete.contains("WARN") && delete.contains("code=\"E4002\""), "{delete}");
    assert!(log.line("flags.is_enabled", "error").contains("code=\"E4021\""));
}

#[tokio::test]
async fn a_flag_carries_its_update_time_as_a_utc_date_time_and_rfc3339_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let before = time::OffsetDateTime::now_utc() - std::time::Duration::from_millis(1);
    let flag = Flags::new(pool).set("beta", json!(true), FlagChange::by("ann")).await.unwrap();
    let after = time::OffsetDateTime::now_utc();
    assert!(before <= flag.updated_at && flag.updated_at <= after, "{}", flag.updated_at);
    assert_eq!(flag.updated_at.offset(), time::UtcOffset::UTC);
    let json = serde_json::to_value(&flag).unwrap();
    let text = json["updated_at"].as_str().expect("an RFC 3339 string");
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(parsed, flag.updated_at);
    assert_eq!(serde_json::from_value::<strata_repo::Flag>(json).unwrap(), flag);
}
