//! Agents, checkpoints and task state: what a running task leaves behind.

use serde_json::json;
use strata_core::ConstraintKind;
use strata_repo::{AgentState, Agents, Checkpoints, NewSession, PageRequest, Sessions, TaskState};

use crate::migrated;
use crate::rows::{assert_constraint, count, task};

#[tokio::test]
async fn a_spawned_agent_reads_back_and_lists_under_its_task_and_session() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let agents = Agents::new(pool.clone());
    let session = Sessions::new(pool.clone())
        .create(NewSession { app_name: "app".into(), user_id: "ann".into(), ..NewSession::default() })
        .await
        .unwrap()
        .id;
    let (t1, t2) = (task(&pool).await, task(&pool).await);
    let mut of_t1 = Vec::new();
    for i in 0..7 {
        of_t1.push(agents.spawn(t1, (i % 2 == 0).then_some(session), "worker").await.unwrap());
        agents.spawn(t2, None, "other").await.unwrap();
    }
    let a = &of_t1[0];
    assert_eq!((a.state, a.resource_usage.clone(), a.terminated_at), (AgentState::Spawned, json!({}), None));
    assert_eq!(agents.get(a.id).await.unwrap(), *a);

    let first = agents.list_by_task(t1, PageRequest::first(4)).await.unwrap();
    let second = agents.list_by_task(t1, PageRequest::after(first.next.unwrap(), 4)).await.unwrap();
    assert_eq!(second.next, None);
    assert_eq!([first.items, second.items].concat(), of_t1);

    let in_session = agents.list_by_session(session, PageRequest::first(100)).await.unwrap();
    let expected: Vec<i64> = of_t1.iter().step_by(2).map(|a| a.id).collect();
    assert_eq!(in_session.items.iter().map(|a| a.id).collect::<Vec<_>>(), expected);
    assert_eq!(agents.get(9_999).await.unwrap_err().code(), "E4002");
}

#[tokio::test]
async fn a_terminal_agent_state_is_timestamped_and_cannot_be_left() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let agents = Agents::new(pool.clone());
    let id = agents.spawn(task(&pool).await, None, "worker").await.unwrap().id;
    let running = agents.set_state(id, AgentState::Running).await.unwrap();
    assert_eq!((running.state, running.terminated_at), (AgentState::Running, None));
    let done = agents.set_state(id, AgentState::Completed).await.unwrap();
    assert!(done.terminated_at.is_some());
    let err = agents.set_state(id, AgentState::Running).await.unwrap_err();
    assert_eq!(err.code(), "E4006");
    assert_eq!(agents.get(id).await.unwrap(), done);
    assert_eq!(agents.set_state(9_999, AgentState::Running).await.unwrap_err().code(), "E4002");
}

#[tokio::test]
async fn resource_usage_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let agents = Agents::new(pool.clone());
    let id = agents.spawn(task(&pool).await, None, "worker").await.unwrap().id;
    let usage = json!({"tokens": 1200, "cpu_ms": 35});
    assert_eq!(agents.update_resource_usage(id, usage.clone()).await.unwrap().resource_usage, usage);
    assert_eq!(agents.get(id).await.unwrap().resource_usage, usage);
    assert_eq!(agents.update_resource_usage(9_999, json!({})).await.unwrap_err().code(), "E4002");
}

#[tokio::test]
async fn an_agent_of_an_unknown_task_or_session_is_a_foreign_key_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let agents = Agents::new(pool.clone());
    let task_id = task(&pool).await;
    assert_constraint(&agents.spawn(9_999, None, "worker").await.unwrap_err(), ConstraintKind::ForeignKey);
    assert_constraint(
        &agents.spawn(task_id, Some(9_999), "worker").await.unwrap_err(),
        ConstraintKind::ForeignKey,
    );
    assert_constraint(&agents.spawn(task_id, None, "").await.unwrap_err(), ConstraintKind::Check);
    assert_eq!(count(&pool, "agents").await, 0);
}

#[tokio::test]
async fn the_latest_checkpoint_is_the_highest_iteration() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let checkpoints = Checkpoints::new(pool.clone());
    let (t1, t2) = (task(&pool).await, task(&pool).await);
    assert_eq!(checkpoints.latest(t1).await.unwrap(), None);
    for iteration in [0, 2, 1] {
        checkpoints.save(t1, iteration, json!({"i": iteration}), None).await.unwrap();
    }
    checkpoints.save(t2, 9, json!({}), None).await.unwrap();
    let latest = checkpoints.latest(t1).await.unwrap().unwrap();
    assert_eq!((latest.iteration, latest.state), (2, json!({"i": 2})));
    assert_eq!(checkpoints.get(t1, 1).await.unwrap().state, json!({"i": 1}));
    assert_eq!(checkpoints.get(t1, 5).await.unwrap_err().code(), "E4002");
}

#[tokio::test]
async fn checkpoints_list_in_iteration_order_across_pages() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let checkpoints = Checkpoints::new(pool.clone());
    let t = task(&pool).await;
    for iteration in (0..10).rev() {
        checkpoints.save(t, iteration, json!(iteration), None).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut page = PageRequest::first(3);
    loop {
        let got = checkpoints.list(t, page).await.unwrap();
        seen.extend(got.items.iter().map(|c| c.iteration));
        match got.next {
            Some(after) => page = PageRequest::after(after, 3),
            None => break,
        }
    }
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
}

#[tokio::test]
async fn bad_checkpoints_are_constraint_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let checkpoints = Checkpoints::new(pool.clone());
    let t = task(&pool).await;
    checkpoints.save(t, 0, json!({}), None).await.unwrap();
    let before = count(&pool, "checkpoints").await;
    assert_constraint(&checkpoints.save(t, -1, json!({}), None).await.unwrap_err(), ConstraintKind::Check);
    assert_constraint(
        &checkpoints.save(9_999, 0, json!({}), None).await.unwrap_err(),
        ConstraintKind::ForeignKey,
    );
    assert_constraint(
        &checkpoints.save(t, 1, json!({}), Some(9_999)).await.unwrap_err(),
        ConstraintKind::ForeignKey,
    );
    assert_constraint(
        &checkpoints.save(t, 0, json!({}), None).await.unwrap_err(),
        ConstraintKind::PrimaryKey,
    );
    assert_eq!(count(&pool, "checkpoints").await, before);
}

#[tokio::test]
async fn task_state_sets_replaces_reads_and_deletes_keys() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let state = TaskState::new(pool.clone());
    let t = task(&pool).await;
    state.set(t, "cursor", json!(1)).await.unwrap();
    let replaced = state.set(t, "cursor", json!({"page": 2})).await.unwrap();
    assert_eq!(replaced.value, json!({"page": 2}));
    assert_eq!(state.get(t, "cursor").await.unwrap(), replaced);
    assert!(state.delete(t, "cursor").await.unwrap());
    assert!(!state.delete(t, "cursor").await.unwrap());
    assert_eq!(state.get(t, "cursor").await.unwrap_err().code(), "E4002");
    assert_constraint(&state.set(9_999, "k", json!(1)).await.unwrap_err(), ConstraintKind::ForeignKey);
    assert_constraint(&state.set(t, "", json!(1)).await.unwrap_err(), ConstraintKind::Check);
    assert_eq!(count(&pool, "state").await, 0);
}

#[tokio::test]
async fn task_state_keys_list_in_order_across_pages() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let state = TaskState::new(pool.clone());
    let (t, other) = (task(&pool).await, task(&pool).await);
    let mut keys: Vec<String> = (0..11).map(|i| format!("k{i:02}")).collect();
    for key in keys.iter().rev() {
        state.set(t, key, json!(null)).await.unwrap();
        state.set(other, key, json!(null)).await.unwrap();
    }
    keys.sort();
    let mut seen = Vec::new();
    let mut page = PageRequest::<String>::first(4);
    loop {
        let got = state.keys(t, page).await.unwrap();
        seen.extend(got.items);
        match got.next {
            Some(after) => page = PageRequest::<String>::after(after, 4),
            None => break,
        }
    }
    assert_eq!(seen, keys);
}

#[tokio::test]
async fn agent_checkpoint_and_state_operations_log_their_name_table_and_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let (agents, checkpoints, state) =
        (Agents::new(pool.clone()), Checkpoints::new(pool.clone()), TaskState::new(pool.clone()));
    let t = task(&pool).await;
    let lines = crate::op_spans::logged(async {
        agents.spawn(t, None, "crawler").await.unwrap();
        assert_eq!(agents.get(404).await.unwrap_err().code(), "E4002");
        checkpoints.save(t, 1, json!({}), None).await.unwrap();
        assert_eq!(checkpoints.get(t, 9).await.unwrap_err().code(), "E4002");
        state.set(t, "cursor", json!(1)).await.unwrap();
        assert_eq!(state.set(t, "", json!(1)).await.unwrap_err().code(), "E4001");
    })
    .await;
    crate::op_spans::assert_op(&lines, "agents.spawn", "agents", "ok", "rows=1");
    crate::op_spans::assert_op(&lines, "agents.get", "agents", "error", "code=\"E4002\"");
    crate::op_spans::assert_op(&lines, "checkpoints.save", "checkpoints", "ok", "rows=1");
    crate::op_spans::assert_op(&lines, "checkpoints.get", "checkpoints", "error", "code=\"E4002\"");
    crate::op_spans::assert_op(&lines, "state.set", "state", "ok", "rows=1");
    crate::op_spans::assert_op(&lines, "state.set", "state", "error", "code=\"E4001\"");
}
