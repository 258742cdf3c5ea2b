//! The audit log never loses an entry: appends that the database cannot take (a lock
//! held past the retry budget, the file gone) go to the spill file and are replayed
//! once, in order; a full spill file, a line cut short by a crash and a replay run
//! twice are each handled without losing or duplicating what was kept.

use std::path::Path;
use std::time::Duration;

use strata_core::{Config, ConstraintKind, RetryPolicy};
use strata_pool::{Pool, PoolState};
use strata_repo::audit::{Appended, spawn_replayer, spill_path};
use strata_repo::{Audit, AuditEntry, NewAuditEntry};

use crate::migrated_with;
use crate::rows::assert_constraint;

/// A config whose retry budget (busy timeout and policy) is spent in about 200 ms.
pub(crate) fn quick(dir: &Path) -> Config {
    let mut config = Config::for_path(dir.join("test.db"));
    config.retry = RetryPolicy {
        initial_delay_ms: 5,
        max_delay_ms: 20,
        max_attempts: 5,
        max_elapsed_ms: 200,
        jitter: true,
    };
    config.sqlite.busy_timeout_ms = 20;
    config
}

/// Another connection holding the database's write lock until dropped or released.
pub(crate) struct Holder(rusqlite::Connection);

impl Holder {
    pub(crate) fn hold(db: &Path) -> Holder {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        Holder(conn)
    }

    pub(crate) fn release(self) {
        self.0.execute_batch("COMMIT").unwrap();
    }
}

/// Every row of `audit`, oldest first.
async fn rows(audit: &Audit) -> Vec<AuditEntry> {
    audit.tail(0, 1_000).await.unwrap()
}

fn actions(rows: &[AuditEntry]) -> Vec<&str> {
    rows.iter().map(|r| r.action.as_str()).collect()
}

/// Waits (at most 30 s) until the pool's state satisfies `done`.
pub(crate) async fn wait_state(pool: &Pool, done: impl FnMut(&PoolState) -> bool) {
    let mut rx = pool.watch_state();
    tokio::time::timeout(Duration::from_secs(30), rx.wait_for(done))
        .await
        .unwrap_or_else(|_| panic!("the pool's state stayed {:?}", pool.state()))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_past_the_busy_budget_spill_and_the_next_append_replays_them_first_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let config = quick(dir.path());
    let pool = migrated_with(&config).await;
    let audit = Audit::new(pool.clone());
    audit.append(NewAuditEntry::by("ann").action("before")).await.unwrap().into_stored().unwrap();

    let holder = Holder::hold(&config.path);
    let mut uids = Vec::new();
    for action in ["held.1", "held.2", "held.3"] {
        let appended = audit.append(NewAuditEntry::by("ann").action(action)).await.unwrap();
        let Appended::Spilled { cause, path, .. } = &appended else { panic!("not spilled: {appended:?}") };
        assert!(cause.starts_with("E2008"), "spilled for busy: {cause}");
        assert_eq!(path, &spill_path(&config.path));
        uids.push(appended.uid().to_string());
    }
    let spill = spill_path(&config.path);
    assert_eq!(std::fs::read_to_string(&spill).unwrap().lines().count(), 3);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&spill).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert_eq!(actions(&rows(&audit).await), ["before"], "nothing reached the table while it was locked");

    holder.release();
    let after = audit.append(NewAuditEntry::by("ann").action("after")).await.unwrap().into_stored().unwrap();
    let all = rows(&audit).await;
    assert_eq!(actions(&all), ["before", "held.1", "held.2", "held.3", "after"]);
    let replayed: Vec<&str> = all[1..4].iter().map(|r| r.uid.as_deref().unwrap()).collect();
    assert_eq!(replayed, uids, "each spilled entry is in the table under its own uid");
    assert_eq!(all.last().unwrap(), &after);
    assert_eq!(std::fs::metadata(&spill).unwrap().len(), 0, "the spill file is emptied after the replay");
    assert_eq!(audit.replay().await.unwrap().entries, 0);
    assert_eq!(rows(&audit).await.len(), 5, "a second replay adds nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_database_spills_at_once_and_the_replayer_puts_the_entries_in_on_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let config = quick(dir.path());
    let pool = migrated_with(&config).await;
    let audit = Audit::new(pool.clone());
    let replayer = spawn_replayer(audit.clone());
    audit.append(NewAuditEntry::by("ann").action("before")).await.unwrap().into_stored().unwrap();
    // Nothing of the table waits in the -wal while the file is away.
    pool.exclusive(|c| Ok(c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?)).await.unwrap();

    let away = dir.path().join("away.db");
    std::fs::rename(&config.path, &away).unwrap();
    wait_state(&pool, |s| !s.is_healthy()).await;
    for action in ["gone.1", "gone.2"] {
        let appended = audit.append(NewAuditEntry::by("ann").action(action)).await.unwrap();
        let Appended::Spilled { cause, .. } = &appended else { panic!("not spilled: {appended:?}") };
        assert!(cause.starts_with("E2040"), "spilled for the unavailable pool: {cause}");
    }
    // An entry the table would refuse is refused now too, and never spilled.
    let err = audit.append(NewAuditEntry::by("").action("gone.bad")).await.unwrap_err();
    assert_constraint(&err, ConstraintKind::Check);
    assert_eq!(std::fs::read_to_string(spill_path(&config.path)).unwrap().lines().count(), 2);

    std::fs::rename(&away, &config.path).unwrap();
    wait_state(&pool, PoolState::is_healthy).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while rows(&audit).await.len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replayer never replayed: {:?}",
            rows(&audit).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(actions(&rows(&audit).await), ["before", "gone.1", "gone.2"]);
    replayer.stop().await;
    pool.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spill_file_refuses_the_entry_with_e5050_and_loses_nothing_already_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = quick(dir.path());
    config.audit.spill_max_bytes = 400;
    let pool = migrated_with(&config).await;
    let audit = Audit::new(pool.clone());

    let holder = Holder::hold(&config.path);
    let mut kept = Vec::new();
    let err = loop {
        let action = format!("held.{}", kept.len());
        match audit.append(NewAuditEntry::by("ann").action(action.clone())).await {
            Ok(appended) => {
                assert!(appended.is_spilled());
                kept.push(action);
            }
            Err(err) => break err,
        }
        assert!(kept.len() < 10, "the spill file never filled up");
    };
    assert_eq!(err.code(), "E5050", "{err}");
    assert!(err.to_string().contains("audit-spill.jsonl"), "{err}");
    assert!(!err.hint().is_empty());
    assert!(!kept.is_empty());
    assert!(std::fs::metadata(spill_path(&config.path)).unwrap().len() <= 400);

    holder.release();
    let report = audit.replay().await.unwrap();
    assert_eq!(report.replayed, kept.len() as u64);
    assert_eq!(actions(&rows(&audit).await), kept);
}

#[tokio::test]
async fn a_line_cut_short_by_a_crash_is_reported_kept_aside_and_the_rest_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let config = quick(dir.path());
    let pool = migrated_with(&config).await;
    let audit = Audit::new(pool.clone());
    let spill = spill_path(&config.path);
    let line = |uid: char, action: &str| {
        format!(r#"{{"uid":"{}","ts":1,"actor":"ann","action":"{action}"}}"#, uid.to_string().repeat(32))
    };
    // Two whole lines, then a crash in the middle of the third.
    let cut = &line('c', "cut")[..30];
    std::fs::write(&spill, format!("{}\n{}\n{cut}", line('a', "one"), line('b', "two"))).unwrap();

    // The next spilled entry does not run into the cut line.
    let holder = Holder::hold(&config.path);
    // The spill file waits: the append replays it first, which fails while the lock is held.
    let appended = audit.append(NewAuditEntry::by("ann").action("three")).await.unwrap();
    assert!(appended.is_spilled());
    holder.release();

    let pending = audit.pending().await.unwrap();
    assert_eq!(pending.entries.len(), 3);
    assert_eq!(pending.damaged.len(), 1);
    assert_eq!(pending.damaged[0].line, 3);

    let report = audit.replay().await.unwrap();
    assert_eq!((report.entries, report.replayed, report.skipped), (3, 3, 0));
    assert_eq!(report.damaged.len(), 1);
    let err = report.damaged[0].to_error(&spill);
    assert_eq!(err.code(), "E5051");
    assert!(err.to_string().contains("line 3"), "{err}");
    assert_eq!(actions(&rows(&audit).await), ["one", "two", "three"]);
    let mut aside = spill.clone().into_os_string();
    aside.push(".damaged");
    assert_eq!(std::fs::read_to_string(aside).unwrap(), format!("{cut}\n"), "the cut line is kept aside");
    assert_eq!(std::fs::metadata(&spill).unwrap().len(), 0);
}

#[tokio::test]
async fn a_replay_run_again_after_a_crash_before_its_truncate_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = quick(dir.path());
    let pool = migrated_with(&config).await;
    let audit = Audit::new(pool.clone());
    let spill = spill_path(&config.path);
    let text: String = (0..600)
        .map(|i| format!(r#"{{"uid":"{i:032x}","ts":{i},"actor":"ann","action":"a.{i}"}}"#) + "\n")
        .collect();
    std::fs::write(&spill, &text).unwrap();
    assert_eq!(audit.replay().await.unwrap().replayed, 600);
    // A crash after the commits and before the truncate leaves the file as it was.
    std::fs::write(&spill, &text).unwrap();
    let report = audit.replay().await.unwrap();
    assert_eq!((report.entries, report.replayed, report.skipped), (600, 0, 600));
    let all = rows(&audit).await;
    assert_eq!(all.len(), 600);
    assert!(all.iter().enumerate().all(|(i, r)| r.action == format!("a.{i}")), "in file order");
}
