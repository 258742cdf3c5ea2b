//! Sessions: creation, lookup, keyset listings, the lifecycle table and deletion.

use serde_json::json;
use strata_core::{ConstraintKind, ErrorKind};
use strata_repo::{Agents, Checkpoints, NewSession, PageRequest, SessionStatus, Sessions};

use crate::migrated;
use crate::rows::{assert_constraint, count, task};

#[tokio::test]
async fn a_created_session_reads_back_as_created_with_its_json() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = Sessions::new(migrated(dir.path()).await);
    let created = sessions
        .create(NewSession {
            app_name: "app".into(),
            user_id: "ann".into(),
            state: json!({"step": 1}),
            metadata: json!({"tag": "x"}),
        })
        .await
        .unwrap();
    assert_eq!(created.status, SessionStatus::Created);
    assert_eq!(created.state, json!({"step": 1}));
    assert_eq!(created.metadata, json!({"tag": "x"}));
    assert_eq!(created.terminated_at, None);
    assert_eq!(sessions.get(created.id).await.unwrap(), created);
}

#[tokio::test]
async fn getting_or_deleting_an_unknown_session_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = Sessions::new(migrated(dir.path()).await);
    let err = sessions.get(42).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("E4002", ErrorKind::NotFound));
    assert_eq!(sessions.delete(42).await.unwrap_err().code(), "E4002");
    assert_eq!(sessions.update_state(42, json!({})).await.unwrap_err().code(), "E4002");
    assert_eq!(sessions.activate(42).await.unwrap_err().code(), "E4002");
}

#[tokio::test]
async fn an_empty_app_name_is_a_check_violation_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let sessions = Sessions::new(pool.clone());
    let err = sessions
        .create(NewSession { app_name: "".into(), user_id: "ann".into(), ..NewSession::default() })
        .await
        .unwrap_err();
    assert_constraint(&err, ConstraintKind::Check);
    assert_eq!(count(&pool, "sessions").await, 0);
}

#[tokio::test]
async fn the_lifecycle_allows_exactly_the_documented_transitions() {
    use SessionStatus::*;
    let allowed = [
        (Created, Active),
        (Active, Paused),
        (Paused, Active),
        (Created, Terminated),
        (Active, Terminated),
        (Paused, Terminated),
        (Terminated, Archived),
    ];
    for &from in SessionStatus::ALL {
        for &to in SessionStatus::ALL {
            assert_eq!(from.can_become(to), allowed.contains(&(from, to)), "{from} -> {to}");
        }
    }
}

#[tokio::test]
async fn a_session_walks_its_lifecycle_and_termination_is_timestamped() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = Sessions::new(migrated(dir.path()).await);
    let id = sessions
        .create(NewSession { app_name: "app".into(), user_id: "ann".into(), ..NewSession::default() })
        .await
        .unwrap()
        .id;
    assert_eq!(sessions.activate(id).await.unwrap().status, SessionStatus::Active);
    assert_eq!(sessions.pause(id).await.unwrap().status, SessionStatus::Paused);
    assert_eq!(sessions.activate(id).await.unwrap().status, SessionStatus::Active);
    let terminated = sessions.terminate(id).await.unwrap();
    assert_eq!(terminated.status, SessionStatus::Terminated);
    assert!(terminated.terminated_at.is_some());
    let archived = sessions.archive(id).await.unwrap();
    assert_eq!(archived.status, SessionStatus::Archived);
    assert_eq!(archived.terminated_at, terminated.terminated_at);
}

#[tokio::test]
async fn an_invalid_transition_is_e4006_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = Sessions::new(migrated(dir.path()).await);
    let id = sessions
        .create(NewSession { app_name: "app".into(), user_id: "ann".into(), ..NewSession::default() })
        .await
        .unwrap()
        .id;
    let before = sessions.get(id).await.unwrap();
    for to in [SessionStatus::Paused, SessionStatus::Archived, SessionStatus::Created] {
        let err = sessions.transition(id, to).await.unwrap_err();
        assert_eq!(err.code(), "E4006", "{err}");
        assert_eq!(err.to_string(), format!("session {id} cannot go from created to {to}"));
        assert_eq!(sessions.get(id).await.unwrap(), before);
    }
    sessions.terminate(id).await.unwrap();
    let terminated = sessions.get(id).await.unwrap();
    assert_eq!(sessions.activate(id).await.unwrap_err().code(), "E4006");
    assert_eq!(sessions.terminate(id).await.unwrap_err().code(), "E4006");
    assert_eq!(sessions.get(id).await.unwrap(), terminated);
}

#[tokio::test]
async fn update_state_and_metadata_replace_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = Sessions::new(migrated(dir.path()).await);
    let id = sessions
        .create(NewSession {
            app_name: "app".into(),
            user_id: "ann".into(),
            state: json!({"a": 1}),
            metadata: json!({"m": 1}),
        })
        .await
        .unwrap()
        .id;
    let s = sessions.update_state(id, json!({"b": [1, 2]})).await.unwrap();
    assert_eq!((s.state, s.metadata), (json!({"b": [1, 2]}), json!({"m": 1})));
    let s = sessions.update_metadata(id, json!("note")).await.unwrap();
    assert_eq!((s.state, s.metadata), (json!({"b": [1, 2]}), json!("note")));
    assert_eq!(sessions.get(id).await.unwrap().metadata, json!("note"));
}

#[tokio::test]
async fn listing_by_user_visits_each_of_their_sessions_exactly_once_across_pages() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = Sessions::new(migrated(dir.path()).await);
    let mut expected = Vec::new();
    for i in 0..23 {
        expected.push(
            sessions
                .create(NewSession { app_name: "app".into(), user_id: "ann".into(), ..NewSession::default() })
                .await
                .unwrap()
                .id,
        );
        if i % 3 == 0 {
            sessions
                .create(NewSession { app_name: "app".into(), user_id: "bob".into(), ..NewSession::default() })
                .await
                .unwrap();
            sessions
                .create(NewSession {
                    app_name: "other".into(),
                    user_id: "ann".into(),
                    ..NewSession::default()
                })
                .await
                .unwrap();
        }
    }
    let mut seen = Vec::new();
    let mut page = PageRequest::first(5);
    loop {
        let got = sessions
            .list_by_user(strata_repo::SessionOwner { app_name: "app", user_id: "ann" }, page)
            .await
            .unwrap();
        assert!(got.items.len() <= 5);
        seen.extend(got.items.iter().map(|s| s.id));
        match got.next {
            Some(next) => page = PageRequest::after(next, 5),
            None => break,
        }
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn listing_by_status_pages_through_the_sessions_in_that_state() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = Sessions::new(migrated(dir.path()).await);
    let mut active = Vec::new();
    for i in 0..10 {
        let id = sessions
            .create(NewSession { app_name: "app".into(), user_id: "ann".into(), ..NewSession::default() })
            .await
            .unwrap()
            .id;
        if i % 2 == 0 {
            sessions.activate(id).await.unwrap();
            active.push(id);
        }
    }
    let first = sessions.list_by_status(SessionStatus::Active, PageRequest::first(3)).await.unwrap();
    let next = first.next.expect("five active sessions need two pages of three");
    let second = sessions.list_by_status(SessionStatus::Active, PageRequest::after(next, 3)).await.unwrap();
    assert_eq!(second.next, None);
    let seen: Vec<i64> = first.items.iter().chain(&second.items).map(|s| s.id).collect();
    assert_eq!(seen, active);
    assert!(sessions.list_by_status(SessionStatus::Active, PageRequest::first(0)).await.is_err());
}

#[tokio::test]
async fn deleting_a_session_keeps_its_tasks_agents_and_checkpoints_detached() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let sessions = Sessions::new(pool.clone());
    let session = sessions
        .create(NewSession { app_name: "app".into(), user_id: "ann".into(), ..NewSession::default() })
        .await
        .unwrap()
        .id;
    let task_id = task(&pool).await;
    pool.write(move |c| Ok(c.execute("UPDATE tasks SET session_id = ?1 WHERE id = ?2", [session, task_id])?))
        .await
        .unwrap();
    let agent = Agents::new(pool.clone()).spawn(task_id, Some(session), "worker").await.unwrap();
    Checkpoints::new(pool.clone()).save(task_id, 0, json!({}), Some(session)).await.unwrap();

    sessions.delete(session).await.unwrap();

    assert_eq!(sessions.get(session).await.unwrap_err().code(), "E4002");
    assert_eq!(Agents::new(pool.clone()).get(agent.id).await.unwrap().session_id, None);
    assert_eq!(Checkpoints::new(pool.clone()).get(task_id, 0).await.unwrap().session_id, None);
    let task_session: Option<i64> = pool
        .read(
            move |c| Ok(c.query_row("SELECT session_id FROM tasks WHERE id = ?1", [task_id], |r| r.get(0))?),
        )
        .await
        .unwrap();
    assert_eq!(task_session, None);
}

#[tokio::test]
async fn session_operations_log_their_name_table_and_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = Sessions::new(migrated(dir.path()).await);
    let lines = crate::op_spans::logged(async {
        let app = NewSession { app_name: "app".into(), user_id: "ann".into(), ..NewSession::default() };
        let session = sessions.create(app).await.unwrap();
        sessions.activate(session.id).await.unwrap();
        assert_eq!(sessions.get(404).await.unwrap_err().code(), "E4002");
    })
    .await;
    crate::op_spans::assert_op(&lines, "sessions.create", "sessions", "ok", "rows=1");
    crate::op_spans::assert_op(&lines, "sessions.transition", "sessions", "ok", "rows=1");
    crate::op_spans::assert_op(&lines, "sessions.get", "sessions", "error", "code=\"E4002\"");
}

#[tokio::test]
async fn session_times_are_utc_date_times_and_serialize_as_rfc_3339() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = Sessions::new(migrated(dir.path()).await);
    let before = time::OffsetDateTime::now_utc() - std::time::Duration::from_secs(1);
    let app = NewSession { app_name: "app".into(), user_id: "ann".into(), ..NewSession::default() };
    let created = sessions.create(app).await.unwrap();
    assert!(created.created_at >= before && created.created_at == created.updated_at);
    let terminated = sessions.terminate(created.id).await.unwrap();
    assert!(terminated.terminated_at.unwrap() >= created.created_at);
    let json = serde_json::to_value(&terminated).unwrap();
    for field in ["created_at", "updated_at", "terminated_at"] {
        let text = json[field].as_str().unwrap_or_else(|| panic!("{field} is not a string: {json}"));
        assert!(text.ends_with('Z') && &text[10..11] == "T", "{field}: {text}");
    }
    assert_eq!(serde_json::from_value::<strata_repo::Session>(json).unwrap(), terminated);
}
