//! `strata backup create|list|verify|prune`, `strata restore` and `strata recover`
//! as a script sees them.

use std::path::Path;

use crate::check::{damage_index, no_disk_limits, notes_db};
use crate::holder::{self, Holder, Role};
use crate::{json_doc, strata, text};

/// Masks backup file stamps (`20261123T101336.686Z`), sha256 digests and durations.
fn masked(bytes: &[u8], dir: &Path) -> String {
    let text = text(bytes, dir);
    let mut out = String::new();
    for word in text.split_inclusive([' ', '\n', '/', '-']) {
        let core = word.trim_end_matches([' ', '\n', '/', '-']);
        let tail = &word[core.len()..];
        if core.len() == 64 && core.chars().all(|c| c.is_ascii_hexdigit()) {
            out += "[SHA256]";
        } else if let Some(i) = core.find('T').filter(|&i| i == 8 && core.len() >= 20) {
            // `20261123T101336.686Z` is 20 bytes; what follows (`.sqlite`) is kept.
            out += &format!("[STAMP]{}", &core[i + 12..]);
        } else {
            out += core;
        }
        out += tail;
    }
    out.lines()
        .map(|l| if l.trim_start().starts_with("took ") { "  took [N] ms" } else { l })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn create_list_verify_and_prune() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    notes_db(d);
    let create = strata(d, &["--db", "app.db", "backup", "create"]);
    assert_eq!(create.status.code(), Some(0), "{}", text(&create.stderr, d));
    insta::assert_snapshot!("backup_create", masked(&create.stdout, d));

    let list = strata(d, &["--db", "app.db", "--json", "backup", "list"]);
    let doc: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let backups = doc["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 1);
    assert_eq!(backups[0]["state"], "complete");
    let file = backups[0]["path"].as_str().unwrap().to_string();

    let verify = strata(d, &["--db", "app.db", "backup", "verify", &file]);
    assert_eq!(verify.status.code(), Some(0));
    assert!(text(&verify.stdout, d).contains(": ok\n"));

    std::fs::OpenOptions::new().append(true).open(d.join(&file)).unwrap().set_len(4096).unwrap();
    let verify = strata(d, &["--db", "app.db", "backup", "verify", &file]);
    assert_eq!(verify.status.code(), Some(1), "a damaged backup is a problem found");

    let prune = strata(d, &["--db", "app.db", "backup", "prune"]);
    assert_eq!(prune.status.code(), Some(0));
    assert!(text(&prune.stdout, d).contains("(last)"));
}

/// Takes a backup of `app.db` into `b/` and answers the backup file's path.
fn backup_into_b(d: &std::path::Path) -> String {
    assert_eq!(strata(d, &["--db", "app.db", "backup", "create", "--out", "b"]).status.code(), Some(0));
    let file = std::fs::read_dir(d.join("b"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "sqlite"))
        .unwrap();
    file.display().to_string()
}

#[test]
fn restore_needs_force_and_keeps_the_replaced_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    notes_db(d);
    let file = backup_into_b(d);
    let refused = strata(d, &["--db", "app.db", "restore", &file]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(text(&refused.stderr, d).starts_with("E5009"), "{}", text(&refused.stderr, d));
    let done = strata(d, &["--db", "app.db", "restore", &file, "--force"]);
    assert_eq!(done.status.code(), Some(0), "{}", text(&done.stderr, d));
    assert!(text(&done.stdout, d).contains("the replaced database is kept as"));
    let kept = std::fs::read_dir(d)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains(".replaced-"))
        .count();
    assert_eq!(kept, 1);
}

/// `restore --force` and `recover` exit 3 with `code` while `role` holds the
/// database in another process, leave the database, `-wal` and `-shm` as they
/// were, and `restore --force` succeeds once that process has exited.
fn refused_while_held_then_restored(test: &str, role: Role, code: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    notes_db(d);
    let file = backup_into_b(d);
    let db = d.join("app.db");
    let mut holder = Holder::start(test, role, &db);
    let before = holder::contents(&db);

    for args in
        [&["--db", "app.db", "restore", &file, "--force"][..], &["--db", "app.db", "recover", "--from", "b"]]
    {
        let refused = strata(d, args);
        let stderr = text(&refused.stderr, d);
        assert_eq!(refused.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.starts_with(code), "{args:?}: {stderr}");
        assert!(stderr.contains("hint: "), "{stderr}");
    }
    assert!(holder::contents(&db) == before, "the database, its -wal and its -shm are untouched");

    holder.stop();
    let done = strata(d, &["--db", "app.db", "restore", &file, "--force"]);
    assert_eq!(done.status.code(), Some(0), "{}", text(&done.stderr, d));
}

#[test]
fn restore_and_recover_refuse_while_a_strata_process_has_the_database() {
    if holder::run_as_child() {
        return;
    }
    refused_while_held_then_restored(
        "backup::restore_and_recover_refuse_while_a_strata_process_has_the_database",
        Role::Pool,
        "E5011",
    );
}

#[test]
fn restore_and_recover_refuse_while_another_program_reads_the_database() {
    if holder::run_as_child() {
        return;
    }
    refused_while_held_then_restored(
        "backup::restore_and_recover_refuse_while_another_program_reads_the_database",
        Role::ReadTransaction,
        "E5012",
    );
}

#[test]
fn recover_restores_the_backup_of_a_damaged_database_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    notes_db(d);
    let config = no_disk_limits(d);
    assert_eq!(strata(d, &["--db", "app.db", "backup", "create"]).status.code(), Some(0));
    let healthy = strata(d, &["--db", "app.db", "--config", &config, "recover"]);
    assert_eq!(healthy.status.code(), Some(0));
    assert!(text(&healthy.stdout, d).contains("nothing to recover"));

    damage_index(&d.join("app.db"));
    let out = strata(d, &["--db", "app.db", "--config", &config, "--json", "recover"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr, d));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["recovered"], true);
    assert!(doc["loss_window"]["seconds"].as_i64().unwrap() >= 0);
    assert!(doc["moved_aside"].as_str().unwrap().contains("app.db.corrupt-"));
    let check = strata(d, &["--db", "app.db", "--config", &config, "check", "--full"]);
    assert_eq!(check.status.code(), Some(0), "the restored database is healthy");
}

/// `backup create --out b --json`: the new backup file's path (relative to `d`).
fn create_into_b(d: &Path) -> String {
    let doc = json_doc(d, &["--db", "app.db", "--json", "backup", "create", "--out", "b"], 0);
    doc["path"].as_str().expect("the backup's path").to_string()
}

fn file_name(path: &str) -> String {
    Path::new(path).file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_backup_subcommand_reports_each_state_of_a_backup_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // No database yet: create refuses with E2004 and creates nothing; list says so.
    let doc = json_doc(d, &["--db", "app.db", "--json", "backup", "create"], 3);
    assert_eq!(doc["code"], "E2004", "{doc}");
    assert!(doc["message"].as_str().unwrap().contains("app.db does not exist or is not a file"), "{doc}");
    assert!(!d.join("app.db").exists() && !d.join("backups").exists());
    let empty = strata(d, &["--db", "app.db", "backup", "list"]);
    assert_eq!(empty.status.code(), Some(0));
    assert_eq!(text(&empty.stdout, d), "no backups in ./backups\n");

    // Two backups, then one leftover of every other state beside them.
    notes_db(d);
    let older = create_into_b(d);
    let newer = create_into_b(d);
    assert_ne!(older, newer);
    std::fs::copy(d.join(&older), d.join("b/app-copied.sqlite")).unwrap();
    std::fs::write(d.join("b/app-killed.sqlite.partial"), b"half a copy").unwrap();
    std::fs::copy(d.join(format!("{older}.json")), d.join("b/app-gone.sqlite.json")).unwrap();

    let list = strata(d, &["--db", "app.db", "backup", "list", "--dir", "b"]);
    assert_eq!(list.status.code(), Some(0), "{}", text(&list.stderr, d));
    let listed = text(&list.stdout, d);
    assert!(listed.starts_with("b:\n"), "{listed}");
    for (file, state) in [
        (file_name(&older), "verified"),
        (file_name(&newer), "verified"),
        ("app-copied.sqlite".to_string(), "no manifest"),
        ("app-killed.sqlite.partial".to_string(), "partial (in progress or killed)"),
        ("app-gone.sqlite".to_string(), "manifest without data"),
    ] {
        let line = listed
            .lines()
            .find(|l| l.contains(&format!("{file} ")))
            .unwrap_or_else(|| panic!("{file}: {listed}"));
        assert!(line.contains(state), "{file} is {state}: {line}");
    }
    assert_eq!(listed.matches(" V12 ").count(), 3, "the schema version of each manifest: {listed}");
    let doc = json_doc(d, &["--db", "app.db", "--json", "backup", "list", "--dir", "b"], 0);
    let mut states: Vec<&str> =
        doc["backups"].as_array().unwrap().iter().map(|b| b["state"].as_str().unwrap()).collect();
    states.sort_unstable();
    assert_eq!(states, ["complete", "complete", "no_manifest", "orphan", "partial"]);

    // A copy without a manifest verifies by integrity only, and says so.
    let verify = strata(d, &["--db", "app.db", "backup", "verify", "b/app-copied.sqlite"]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr, d));
    let verified = text(&verify.stdout, d);
    assert!(verified.starts_with("b/app-copied.sqlite: ok\n  integrity_check: ok\n"), "{verified}");
    assert!(verified.contains("no manifest: sha256 and page count not compared"), "{verified}");
    // A backup that differs from its manifest fails, with the problem named.
    std::fs::OpenOptions::new().append(true).open(d.join(&older)).unwrap().set_len(8192).unwrap();
    let doc = json_doc(d, &["--db", "app.db", "--json", "backup", "verify", &older], 1);
    assert_eq!(doc["ok"], false, "{doc}");
    let problems = doc["problems"].as_array().unwrap();
    assert!(!problems.is_empty(), "{doc}");
    let failed = strata(d, &["--db", "app.db", "backup", "verify", &older]);
    assert!(text(&failed.stdout, d).contains(": FAILED\n  integrity_check: "), "{}", text(&failed.stdout, d));
    assert!(text(&failed.stdout, d).contains("  problem: "), "{}", text(&failed.stdout, d));

    // Retention: keep the newest only. The older backup and the orphan manifest go;
    // the copy without a manifest and the fresh partial file stay.
    std::fs::write(d.join("keep1.toml"), "[backup]\nkeep_last = 1\nkeep_daily = 0\nkeep_weekly = 0\n")
        .unwrap();
    let prune = strata(d, &["--db", "app.db", "--config", "keep1.toml", "backup", "prune", "--dir", "b"]);
    assert_eq!(prune.status.code(), Some(0), "{}", text(&prune.stderr, d));
    assert_eq!(
        text(&prune.stdout, d),
        format!(
            "keep   {} (last)\nremove {}\nremove app-gone.sqlite.json (leftover)\n",
            file_name(&newer),
            file_name(&older)
        )
    );
    assert!(!d.join(&older).exists() && !d.join(format!("{older}.json")).exists());
    assert!(
        d.join(&newer).exists()
            && d.join("b/app-copied.sqlite").exists()
            && d.join("b/app-killed.sqlite.partial").exists()
    );
    let doc = json_doc(
        d,
        &["--db", "app.db", "--config", "keep1.toml", "--json", "backup", "prune", "--dir", "b"],
        0,
    );
    assert_eq!(doc["removed"].as_array().unwrap().len(), 0, "{doc}");
    assert_eq!(doc["kept"].as_array().unwrap().len(), 1, "{doc}");

    // An empty directory has nothing to prune.
    std::fs::create_dir(d.join("none")).unwrap();
    let prune = strata(d, &["--db", "app.db", "backup", "prune", "--dir", "none"]);
    assert_eq!(text(&prune.stdout, d), "no backups to prune\n");
}

#[test]
fn restore_reports_the_backup_and_what_it_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    notes_db(d);
    let backup = create_into_b(d);
    // A -wal beside the database is moved aside with it.
    std::fs::write(d.join("app.db-wal"), b"").unwrap();
    let out = strata(d, &["--db", "app.db", "restore", &backup, "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr, d));
    let restored = text(&out.stdout, d);
    assert!(restored.starts_with(&format!("restored app.db from {backup} (taken [TIME])\n")), "{restored}");
    assert!(restored.contains("  the replaced database is kept as app.db.replaced-"), "{restored}");
    let doc = json_doc(d, &["--db", "app.db", "--json", "restore", &backup, "--force"], 0);
    assert!(doc["replaced"].as_str().unwrap().contains("app.db.replaced-"), "{doc}");
    assert_eq!(doc["database"], "app.db");
}

#[test]
fn recover_in_text_says_what_it_found_restored_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    notes_db(d);
    let config = no_disk_limits(d);
    assert_eq!(strata(d, &["--db", "app.db", "backup", "create"]).status.code(), Some(0));
    damage_index(&d.join("app.db"));
    let out = strata(d, &["--db", "app.db", "--config", &config, "recover"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr, d));
    let report = text(&out.stdout, d);
    assert!(report.starts_with("app.db: damaged, recovered\n  found: ["), "{report}");
    assert!(report.contains("\n  restored ./backups/app-"), "{report}");
    assert!(report.contains("\n  the damaged file is kept as app.db.corrupt-"), "{report}");
    assert!(report.contains("\n  loss window: [TIME] to [TIME] ("), "{report}");
}
