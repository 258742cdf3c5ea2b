//! The audit log: append, follow, filtered keyset listing, refusal of any change, and
//! write capture of configured tables.

use std::time::Duration;

use serde_json::json;
use strata_core::{ConstraintKind, Error};
use strata_repo::audit::{CAPTURE_ACTOR, capture_writes};
use strata_repo::clock::to_datetime;
use strata_repo::{
    Audit, AuditEntry, AuditFilter, Claimer, NewAuditEntry, NewTask, PageRequest, Queue, QueueConfig,
    append_in,
};

use crate::migrated;
use crate::rows::{assert_constraint, count, raw_write};

#[tokio::test]
async fn appended_entries_read_back_in_order_through_tail() {
    let dir = tempfile::tempdir().unwrap();
    let audit = Audit::new(migrated(dir.path()).await);
    let first = audit
        .append(NewAuditEntry::by("ann").action("task.start").task(7).data(json!({"n": 1})).result("ok"))
        .await
        .unwrap()
        .into_stored()
        .unwrap();
    assert_eq!((first.actor.as_str(), first.action.as_str(), first.task_id), ("ann", "task.start", Some(7)));
    assert_eq!((first.data.clone(), first.result.as_deref()), (json!({"n": 1}), Some("ok")));
    let second = audit
        .append(NewAuditEntry::by("bob").action("memory.put").memory("put", "ns", Some(3)))
        .await
        .unwrap();
    let second = second.into_stored().unwrap();
    assert_eq!(second.memory_operation.as_deref(), Some("put"));
    assert_eq!((second.memory_namespace.as_deref(), second.memory_entry_id), (Some("ns"), Some(3)));

    assert_eq!(audit.tail(0, 10).await.unwrap(), vec![first.clone(), second.clone()]);
    assert_eq!(audit.tail(first.id, 10).await.unwrap(), vec![second.clone()]);
    assert_eq!(audit.tail(second.id, 10).await.unwrap(), vec![]);
    assert_eq!(audit.tail(0, 1).await.unwrap(), vec![first]);
}

#[tokio::test]
async fn audit_rows_cannot_be_updated_or_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let audit = Audit::new(pool.clone());
    let entry =
        audit.append(NewAuditEntry::by("ann").action("flag.set")).await.unwrap().into_stored().unwrap();

    let err = raw_write(&pool, "UPDATE audit SET actor = 'mallory'").await.unwrap_err();
    assert_constraint(&err, ConstraintKind::Other);
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = raw_write(&pool, "DELETE FROM audit").await.unwrap_err();
    assert_constraint(&err, ConstraintKind::Other);

    assert_eq!(audit.tail(0, 10).await.unwrap(), vec![entry]);
}

#[tokio::test]
async fn a_bad_entry_is_a_check_violation_and_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let audit = Audit::new(pool.clone());
    assert_constraint(
        &audit.append(NewAuditEntry::by("").action("x")).await.unwrap_err(),
        ConstraintKind::Check,
    );
    assert_constraint(
        &audit.append(NewAuditEntry::by("ann").action("")).await.unwrap_err(),
        ConstraintKind::Check,
    );
    let mut orphan_memory_fields = NewAuditEntry::by("ann").action("x");
    orphan_memory_fields.memory_namespace = Some("ns".into());
    assert_constraint(&audit.append(orphan_memory_fields).await.unwrap_err(), ConstraintKind::Check);
    assert_eq!(count(&pool, "audit").await, 0);
}

#[tokio::test]
async fn append_in_rolls_back_with_the_callers_write() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let err = pool
        .write(|conn| {
            append_in(conn, &NewAuditEntry::by("ann").action("doomed"))?;
            Err::<(), _>(Error::invalid("test", "the caller fails after appending"))
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E6001");
    assert_eq!(count(&pool, "audit").await, 0);
}

/// Inserts 60 entries with chosen times (not in id order), actors, actions and tasks.
async fn seed(pool: &strata_pool::Pool) -> Vec<AuditEntry> {
    pool.write(|c| {
        for i in 0..60_i64 {
            let ts = 1_000 + (i * 37 % 60) * 10;
            let actor = ["ann", "bob", "cy"][(i % 3) as usize];
            let action = ["a.x", "a.y"][(i % 2) as usize];
            let task = if i % 4 == 0 { None } else { Some(i % 5) };
            c.execute(
                "INSERT INTO audit (ts, actor, task_id, action) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![ts, actor, task, action],
            )?;
        }
        Ok(())
    })
    .await
    .unwrap();
    Audit::new(pool.clone()).tail(0, 1_000).await.unwrap()
}

#[tokio::test]
async fn every_filter_combination_lists_each_matching_entry_once_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let audit = Audit::new(pool.clone());
    let all = seed(&pool).await;
    for mask in 0..32 {
        let filter = AuditFilter {
            task_id: (mask & 1 != 0).then_some(2),
            actor: (mask & 2 != 0).then(|| "bob".to_string()),
            action: (mask & 4 != 0).then(|| "a.y".to_string()),
            since: (mask & 8 != 0).then_some(to_datetime(1_150)),
            until: (mask & 16 != 0).then_some(to_datetime(1_420)),
        };
        let mut expected: Vec<&AuditEntry> = all
            .iter()
            .filter(|e| filter.task_id.is_none_or(|t| e.task_id == Some(t)))
            .filter(|e| filter.actor.as_ref().is_none_or(|a| &e.actor == a))
            .filter(|e| filter.action.as_ref().is_none_or(|a| &e.action == a))
            .filter(|e| filter.since.is_none_or(|s| e.ts >= s))
            .filter(|e| filter.until.is_none_or(|u| e.ts < u))
            .collect();
        let time_only = mask >= 8 && mask & 7 == 0;
        if time_only {
            expected.sort_by_key(|e| std::cmp::Reverse((e.ts, e.id)));
        } else {
            expected.sort_by_key(|e| std::cmp::Reverse(e.id));
        }
        let expected: Vec<i64> = expected.iter().map(|e| e.id).collect();

        let mut seen = Vec::new();
        let mut page = PageRequest::first(4);
        loop {
            let got = audit.list(&filter, page).await.unwrap();
            assert!(got.items.len() <= 4);
            seen.extend(got.items.iter().map(|e| e.id));
            match got.next {
                Some(after) => page = PageRequest::after(after, 4),
                None => break,
            }
        }
        assert_eq!(seen, expected, "filter {filter:?}");
    }
}

#[tokio::test]
async fn a_time_listing_cursor_must_name_an_existing_entry() {
    let dir = tempfile::tempdir().unwrap();
    let audit = Audit::new(migrated(dir.path()).await);
    let filter = AuditFilter { since: Some(to_datetime(0)), ..AuditFilter::default() };
    assert_eq!(audit.list(&filter, PageRequest::after(77, 10)).await.unwrap_err().code(), "E6001");
}

/// The captured rows of `audit` in append order: (task_id, action, data).
async fn captured(pool: &strata_pool::Pool) -> Vec<(Option<i64>, String, serde_json::Value)> {
    pool.read(|c| {
        let mut stmt = c.prepare("SELECT task_id, action, data FROM audit WHERE actor = ?1 ORDER BY id")?;
        let rows = stmt.query_map([CAPTURE_ACTOR], |r| {
            let data: String = r.get(2)?;
            Ok((r.get(0)?, r.get(1)?, serde_json::from_str(&data).unwrap()))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_captured_table_leaves_an_audit_row_per_write_in_the_same_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    capture_writes(&pool, &["tasks".to_string()]).await.unwrap();
    let queue = Queue::new(pool.clone(), QueueConfig::default()).unwrap();
    let id = queue.enqueue(NewTask::new("email", json!({}))).await.unwrap().id;
    let claimed =
        queue.claim(Claimer { queue: "default", worker: "w1" }, 1, Duration::from_secs(60)).await.unwrap();
    queue.complete(id, &claimed[0].token, json!({"ok": true})).await.unwrap();
    let key = json!({"table": "tasks", "key": [id]});
    assert_eq!(
        captured(&pool).await,
        [
            (Some(id), "tasks.insert".to_string(), key.clone()),
            (Some(id), "tasks.update".to_string(), key.clone()),
            (Some(id), "tasks.update".to_string(), key.clone()),
        ]
    );

    // Inside the write, the audit row is already there; when the write fails, both
    // the change and its audit row roll back.
    let err = pool
        .write(move |c| {
            c.execute("UPDATE tasks SET priority = 9 WHERE id = ?1", [id])?;
            let seen: i64 = c.query_row(
                "SELECT count(*) FROM audit WHERE action = 'tasks.update' AND task_id = ?1",
                [id],
                |r| r.get(0),
            )?;
            assert_eq!(seen, 3, "the update's audit row is written by the update itself");
            Err::<(), _>(Error::invalid("test", "roll this write back"))
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E6001");
    assert_eq!(captured(&pool).await.len(), 3, "the audit row rolled back with its write");
    assert_eq!(queue.get(id).await.unwrap().priority, 5);

    queue.cancel(queue.enqueue(NewTask::new("email", json!({}))).await.unwrap().id).await.unwrap();
    raw_write(&pool, "DELETE FROM tasks").await.unwrap();
    let actions: Vec<String> = captured(&pool).await.into_iter().map(|(_, action, _)| action).collect();
    assert_eq!(actions.iter().filter(|a| *a == "tasks.delete").count(), 2, "{actions:?}");
    pool.close().await.unwrap();
}

#[tokio::test]
async fn without_capture_writes_leave_no_audit_row() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    // The default config lists no table: nothing is installed.
    capture_writes(&pool, &strata_core::Config::default().audit.tables).await.unwrap();
    let queue = Queue::new(pool.clone(), QueueConfig::default()).unwrap();
    let id = queue.enqueue(NewTask::new("email", json!({}))).await.unwrap().id;
    let claimed =
        queue.claim(Claimer { queue: "default", worker: "w1" }, 1, Duration::from_secs(60)).await.unwrap();
    queue.complete(id, &claimed[0].token, json!({})).await.unwrap();
    assert_eq!(count(&pool, "audit").await, 0);
    let triggers: i64 = pool
        .write(|c| {
            Ok(c.query_row("SELECT count(*) FROM sqlite_temp_schema WHERE type = 'trigger'", [], |r| {
                r.get(0)
            })?)
        })
        .await
        .unwrap();
    assert_eq!(triggers, 0, "no trigger on the writer");
    pool.close().await.unwrap();
}

#[tokio::test]
async fn a_without_rowid_table_is_keyed_by_its_primary_key_and_unknown_tables_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    for (tables, reason) in [(vec!["nope"], "no table `nope`"), (vec!["flags", "audit"], "cannot be audited")]
    {
        let tables: Vec<String> = tables.into_iter().map(String::from).collect();
        let err = capture_writes(&pool, &tables).await.unwrap_err();
        assert_eq!(err.code(), "E6001", "{err}");
        assert!(err.to_string().contains(reason), "{err}");
    }
    raw_write(
        &pool,
        "INSERT INTO flags (name, value, updated_by, updated_at) VALUES ('beta', 'true', 'me', 1)",
    )
    .await
    .unwrap();
    assert_eq!(count(&pool, "audit").await, 0, "a refused list installs nothing");

    capture_writes(&pool, &["flags".to_string()]).await.unwrap();
    capture_writes(&pool, &["flags".to_string()]).await.unwrap();
    raw_write(&pool, "UPDATE flags SET value = 'false' WHERE name = 'beta'").await.unwrap();
    assert_eq!(
        captured(&pool).await,
        [(None, "flags.update".to_string(), json!({"table": "flags", "key": ["beta"]}))],
        "one row per write even when installed twice"
    );
    pool.close().await.unwrap();
}

#[tokio::test]
async fn audit_operations_log_their_name_table_and_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let audit = Audit::new(pool.clone());
    let lines = crate::op_spans::logged(async {
        audit.append(NewAuditEntry::by("ann").action("a.x")).await.unwrap();
        audit.list(&AuditFilter::default(), PageRequest::first(10)).await.unwrap();
        audit.tail(0, 10).await.unwrap();
        assert_eq!(
            audit.list(&AuditFilter::default(), PageRequest::first(0)).await.unwrap_err().code(),
            "E6001"
        );
    })
    .await;
    crate::op_spans::assert_op(&lines, "audit.append", "audit", "ok", "rows=1");
    crate::op_spans::assert_op(&lines, "audit.list", "audit", "ok", "rows=1");
    crate::op_spans::assert_op(&lines, "audit.tail", "audit", "ok", "rows=1");
    crate::op_spans::assert_op(&lines, "audit.list", "audit", "error", "code=\"E6001\"");
}

#[tokio::test]
async fn audit_times_are_utc_date_times_and_rfc_3339_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let audit = Audit::new(pool.clone());
    let before = time::OffsetDateTime::now_utc() - Duration::from_millis(1);
    let entry = audit.append(NewAuditEntry::by("ann").action("a.x")).await.unwrap().into_stored().unwrap();
    assert!(entry.ts >= before && entry.ts <= time::OffsetDateTime::now_utc(), "{}", entry.ts);
    let json = serde_json::to_value(&entry).unwrap();
    let text = json["ts"].as_str().unwrap();
    assert_eq!(
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap(),
        entry.ts
    );
    // A time filter at the entry's own millisecond finds it (since is inclusive) and
    // one a millisecond later does not.
    let at = AuditFilter { since: Some(entry.ts), ..AuditFilter::default() };
    assert_eq!(audit.list(&at, PageRequest::first(10)).await.unwrap().items, std::slice::from_ref(&entry));
    let later = AuditFilter { since: Some(entry.ts + Duration::from_millis(1)), ..AuditFilter::default() };
    assert!(audit.list(&later, PageRequest::first(10)).await.unwrap().items.is_empty());
}
