//! Namespaced memory: versions, history, soft delete and revival, live key listing,
//! and the audit row of every change.

use serde_json::json;
use strata_core::ConstraintKind;
use strata_repo::{Audit, AuditFilter, Memory, MemoryKey, MemoryType, PageRequest};

use crate::migrated;
use crate::rows::{assert_constraint, count, raw_write};

#[tokio::test]
async fn each_put_writes_the_next_version_and_get_reads_the_latest() {
    let dir = tempfile::tempdir().unwrap();
    let memory = Memory::new(migrated(dir.path()).await);
    let v1 = memory
        .put(MemoryKey { namespace: "ns", key: "goal" }, json!("write tests"), MemoryType::Semantic, "ann")
        .await
        .unwrap();
    let v2 = memory
        .put(MemoryKey { namespace: "ns", key: "goal" }, json!("ship"), MemoryType::Episodic, "bob")
        .await
        .unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!((v2.created_by.as_str(), v2.updated_by.as_str()), ("ann", "bob"));
    assert_eq!(v2.created_at, v1.created_at);
    assert_eq!(memory.get(MemoryKey { namespace: "ns", key: "goal" }).await.unwrap(), v2);
    assert_eq!(memory.get_version(MemoryKey { namespace: "ns", key: "goal" }, 1).await.unwrap(), v1);
    assert_eq!(
        memory.get_version(MemoryKey { namespace: "ns", key: "goal" }, 3).await.unwrap_err().code(),
        "E4002"
    );
    assert_eq!(memory.get(MemoryKey { namespace: "other", key: "goal" }).await.unwrap_err().code(), "E4002");
}

#[tokio::test]
async fn soft_delete_hides_a_key_keeps_its_history_and_a_put_revives_it() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let memory = Memory::new(pool.clone());
    memory.put(MemoryKey { namespace: "ns", key: "k" }, json!(1), MemoryType::Semantic, "ann").await.unwrap();
    memory.put(MemoryKey { namespace: "ns", key: "k" }, json!(2), MemoryType::Semantic, "ann").await.unwrap();
    assert_eq!(memory.delete(MemoryKey { namespace: "ns", key: "k" }, "ann").await.unwrap(), 2);
    assert_eq!(memory.get(MemoryKey { namespace: "ns", key: "k" }).await.unwrap_err().code(), "E4002");
    assert_eq!(
        memory.delete(MemoryKey { namespace: "ns", key: "k" }, "ann").await.unwrap_err().code(),
        "E4002"
    );
    assert!(
        memory.get_version(MemoryKey { namespace: "ns", key: "k" }, 2).await.unwrap().deleted_at.is_some()
    );

    let revived = memory
        .put(MemoryKey { namespace: "ns", key: "k" }, json!(3), MemoryType::Semantic, "bob")
        .await
        .unwrap();
    assert_eq!((revived.version, revived.deleted_at), (3, None));
    assert_eq!(memory.get(MemoryKey { namespace: "ns", key: "k" }).await.unwrap(), revived);
    assert_eq!(count(&pool, "memory_entries").await, 3);
}

#[tokio::test]
async fn history_lists_every_version_newest_first_across_pages() {
    let dir = tempfile::tempdir().unwrap();
    let memory = Memory::new(migrated(dir.path()).await);
    for i in 0..7 {
        memory
            .put(MemoryKey { namespace: "ns", key: "k" }, json!(i), MemoryType::Procedural, "ann")
            .await
            .unwrap();
        if i == 3 {
            memory.delete(MemoryKey { namespace: "ns", key: "k" }, "ann").await.unwrap();
        }
    }
    memory
        .put(MemoryKey { namespace: "ns", key: "other" }, json!(0), MemoryType::Procedural, "ann")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut page = PageRequest::first(3);
    loop {
        let got = memory.history(MemoryKey { namespace: "ns", key: "k" }, page).await.unwrap();
        seen.extend(got.items.iter().map(|e| (e.version, e.deleted_at.is_some())));
        match got.next {
            Some(after) => page = PageRequest::after(after, 3),
            None => break,
        }
    }
    let expected: Vec<(i64, bool)> = (1..=7).rev().map(|v| (v, v <= 4)).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn listing_a_namespace_gives_each_live_key_once_at_its_latest_version() {
    let dir = tempfile::tempdir().unwrap();
    let memory = Memory::new(migrated(dir.path()).await);
    for i in 0..9 {
        let key = format!("k{i}");
        memory
            .put(MemoryKey { namespace: "ns", key: &key }, json!(1), MemoryType::Semantic, "ann")
            .await
            .unwrap();
        memory
            .put(MemoryKey { namespace: "ns", key: &key }, json!(2), MemoryType::Semantic, "ann")
            .await
            .unwrap();
        memory
            .put(MemoryKey { namespace: "elsewhere", key: &key }, json!(0), MemoryType::Semantic, "ann")
            .await
            .unwrap();
    }
    memory.delete(MemoryKey { namespace: "ns", key: "k4" }, "ann").await.unwrap();
    let mut seen = Vec::new();
    let mut page = PageRequest::<String>::first(3);
    loop {
        let got = memory.list("ns", page).await.unwrap();
        seen.extend(got.items.iter().map(|e| (e.key.clone(), e.version, e.value.clone())));
        match got.next {
            Some(after) => page = PageRequest::<String>::after(after, 3),
            None => break,
        }
    }
    let expected: Vec<_> = (0..9).filter(|&i| i != 4).map(|i| (format!("k{i}"), 2, json!(2))).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn every_put_and_delete_appends_one_memory_audit_row() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let memory = Memory::new(pool.clone());
    let put = memory
        .put(MemoryKey { namespace: "ns", key: "k" }, json!(1), MemoryType::Semantic, "ann")
        .await
        .unwrap();
    memory.delete(MemoryKey { namespace: "ns", key: "k" }, "bob").await.unwrap();
    let rows =
        Audit::new(pool.clone()).list(&AuditFilter::default(), PageRequest::first(10)).await.unwrap().items;
    assert_eq!(rows.len(), 2);
    let (deleted, written) = (&rows[0], &rows[1]);
    assert_eq!((written.actor.as_str(), written.action.as_str()), ("ann", "memory.put"));
    assert_eq!(written.memory_operation.as_deref(), Some("put"));
    assert_eq!((written.memory_namespace.as_deref(), written.memory_entry_id), (Some("ns"), Some(put.id)));
    assert_eq!((deleted.actor.as_str(), deleted.action.as_str()), ("bob", "memory.delete"));
    assert_eq!(deleted.memory_operation.as_deref(), Some("delete"));
}

#[tokio::test]
async fn a_put_that_fails_writes_neither_the_entry_nor_its_audit_row() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let memory = Memory::new(pool.clone());
    // The entry insert succeeds, then the audit row's CHECK (actor <> '') refuses.
    let err = memory
        .put(MemoryKey { namespace: "ns", key: "k" }, json!(1), MemoryType::Semantic, "")
        .await
        .unwrap_err();
    assert_constraint(&err, ConstraintKind::Check);
    assert_constraint(
        &memory
            .put(MemoryKey { namespace: "", key: "k" }, json!(1), MemoryType::Semantic, "ann")
            .await
            .unwrap_err(),
        ConstraintKind::Check,
    );
    assert_eq!((count(&pool, "memory_entries").await, count(&pool, "audit").await), (0, 0));
}

#[tokio::test]
async fn an_unknown_memory_type_or_bad_json_inserted_raw_is_a_check_violation() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let err = raw_write(
        &pool,
        "INSERT INTO memory_entries (namespace, key, value, memory_type, created_by, created_at, updated_by, updated_at) \
         VALUES ('ns', 'k', '1', 'dreams', 'a', 0, 'a', 0)",
    )
    .await
    .unwrap_err();
    assert_constraint(&err, ConstraintKind::Check);
    let err = raw_write(
        &pool,
        "INSERT INTO memory_entries (namespace, key, value, created_by, created_at, updated_by, updated_at) \
         VALUES ('ns', 'k', '{not json', 'a', 0, 'a', 0)",
    )
    .await
    .unwrap_err();
    assert_constraint(&err, ConstraintKind::Check);
    assert_eq!(count(&pool, "memory_entries").await, 0);
    assert_eq!("dreams".parse::<MemoryType>().unwrap_err().code(), "E6001");
}

#[tokio::test]
async fn memory_times_are_utc_date_times_and_deleted_at_is_set_by_a_delete() {
    let dir = tempfile::tempdir().unwrap();
    let memory = Memory::new(migrated(dir.path()).await);
    let goal = MemoryKey { namespace: "ns", key: "goal" };
    let before = time::OffsetDateTime::now_utc() - std::time::Duration::from_millis(1);
    let v1 = memory.put(goal, json!(1), MemoryType::Semantic, "ann").await.unwrap();
    assert!(before <= v1.created_at && v1.created_at <= v1.updated_at, "{v1:?}");
    assert_eq!(v1.deleted_at, None);
    memory.delete(goal, "ann").await.unwrap();
    let deleted = memory.get_version(goal, 1).await.unwrap();
    let deleted_at = deleted.deleted_at.expect("a deleted version has its time");
    assert!(deleted_at >= v1.updated_at && deleted_at <= time::OffsetDateTime::now_utc());
    let json = serde_json::to_value(&deleted).unwrap();
    assert!(json["deleted_at"].is_string() && json["created_at"].is_string(), "{json}");
    assert_eq!(serde_json::from_value::<strata_repo::MemoryEntry>(json).unwrap(), deleted);
    assert_eq!(serde_json::to_value(&v1).unwrap()["deleted_at"], serde_json::Value::Null);
}

#[tokio::test]
async fn each_memory_operation_logs_its_span_with_name_tables_and_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let memory = Memory::new(migrated(dir.path()).await);
    let goal = MemoryKey { namespace: "ns", key: "goal" };
    let (log, _guard) = crate::op_spans::capture();
    memory.put(goal, json!(1), MemoryType::Semantic, "ann").await.unwrap();
    assert_eq!(memory.list("ns", PageRequest::first(10)).await.unwrap().items.len(), 1);
    let missing = MemoryKey { namespace: "ns", key: "nothing" };
    assert_eq!(memory.get(missing).await.unwrap_err().code(), "E4002");

    let put = log.line("memory.put", "ok");
    assert!(put.contains("tables=\"memory_entries,audit\"") && put.contains("rows=1"), "{put}");
    assert!(log.line("memory.list", "ok").contains("tables=\"memory_entries\""));
    let get = log.line("memory.get", "error");
    assert!(get.contains("WARN") && get.contains("code=\"E4002\""), "{get}");
}
