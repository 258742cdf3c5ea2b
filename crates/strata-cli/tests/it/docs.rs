//! `strata docs put|get|ls|rm|verify|gc` on real files: round trips, refusals,
//! verification of a deleted file, a changed file and an orphan (also in `strata
//! check`), gc, a `docs put` killed at random moments, and a 200 MB document streamed
//! through with bounded memory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::{command, json_doc, spawn, strata, text};

/// Runs `strata` in `dir` with extra environment variables.
fn strata_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(dir, args).envs(env.iter().copied()).output().expect("strata runs")
}

fn init(dir: &Path) {
    let out = strata(dir, &["init"]);
    assert!(out.status.success(), "{}", text(&out.stderr, dir));
}

fn store_dir(dir: &Path) -> PathBuf {
    dir.join("strata.db.files")
}

fn blob(dir: &Path, sha: &str) -> PathBuf {
    store_dir(dir).join(&sha[..2]).join(sha)
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn put_get_ls_rm_round_trip_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d);
    // A PNG whose extension says text: the content decides.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    std::fs::write(d.join("picture.txt"), png).unwrap();
    std::fs::write(d.join("notes.txt"), b"hello strata\n").unwrap();

    let doc = json_doc(d, &["--json", "docs", "put", "picture.txt", "--name", "pic", "--tag", "img"], 0);
    assert_eq!(doc["name"], "pic");
    assert_eq!(doc["mime"], "image/png");
    assert_eq!(doc["size"], png.len());
    assert_eq!(doc["sha256"], hex_sha256(png));
    assert_eq!(doc["tags"], serde_json::json!(["img"]));
    let pic_id = doc["id"].as_i64().unwrap();
    let notes = json_doc(d, &["--json", "docs", "put", "notes.txt"], 0);
    assert_eq!(notes["name"], "notes.txt");
    assert_eq!(notes["mime"], "text/plain");

    // get by id to a file, by name to stdout.
    let got = json_doc(d, &["--json", "docs", "get", &pic_id.to_string(), "-o", "out.png"], 0);
    assert_eq!(got["document"]["id"], pic_id);
    assert_eq!(std::fs::read(d.join("out.png")).unwrap(), png);
    let out = strata(d, &["docs", "get", "notes.txt"]);
    assert!(out.status.success(), "{}", text(&out.stderr, d));
    assert_eq!(out.stdout, b"hello strata\n");

    let listed = json_doc(d, &["--json", "docs", "ls"], 0);
    assert_eq!(listed["documents"].as_array().unwrap().len(), 2);
    let tagged = json_doc(d, &["--json", "docs", "ls", "--tag", "img"], 0);
    assert_eq!(tagged["documents"].as_array().unwrap().len(), 1);
    let human = strata(d, &["docs", "ls"]);
    let human = text(&human.stdout, d);
    assert!(human.contains("image/png") && human.contains("notes.txt"), "{human}");

    json_doc(d, &["--json", "docs", "rm", &pic_id.to_string()], 0);
    let err = json_doc(d, &["--json", "docs", "get", &pic_id.to_string(), "-o", "again.png"], 3);
    assert_eq!(err["code"], "E4002");
    assert!(!d.join("again.png").exists());
    assert_eq!(json_doc(d, &["--json", "docs", "ls"], 0)["documents"].as_array().unwrap().len(), 1);
}

#[test]
fn refusals_are_typed_errors_with_hints_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d);
    std::fs::write(d.join("a.txt"), b"text").unwrap();
    let err = json_doc(d, &["--json", "docs", "put", "a.txt", "--name", "../escape"], 3);
    assert_eq!(err["code"], "E6080");
    assert!(!err["hint"].as_str().unwrap().is_empty());
    let out = strata_env(d, &["--json", "docs", "put", "a.txt"], &[("STRATA_DOCUMENTS__MAX_BYTES", "2")]);
    assert_eq!(out.status.code(), Some(3));
    let err: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["code"], "E6081");
    let out = strata_env(
        d,
        &["--json", "docs", "put", "a.txt"],
        &[("STRATA_DOCUMENTS__ALLOWED_TYPES", "[\"image/*\"]")],
    );
    let err: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["code"], "E6082", "{err}");
    // Nothing was kept: no row, no content file, no temporary file.
    assert_eq!(json_doc(d, &["--json", "docs", "ls"], 0)["documents"].as_array().unwrap().len(), 0);
    let verify = json_doc(d, &["--json", "docs", "verify"], 0);
    assert_eq!((verify["files"].as_u64(), verify["temp_files"].as_u64()), (Some(0), Some(0)));
    // Without a database nothing is created.
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("a.txt"), b"text").unwrap();
    let err = json_doc(empty.path(), &["--json", "docs", "put", "a.txt"], 3);
    assert_eq!(err["code"], "E2004");
    assert!(!empty.path().join("strata.db").exists());
}

#[test]
fn verify_and_check_find_a_deleted_file_a_changed_file_and_an_orphan_and_gc_removes_the_orphan() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d);
    for (name, content) in
        [("gone.txt", "will be deleted"), ("changed.txt", "will be changed"), ("fine.txt", "fine")]
    {
        std::fs::write(d.join(name), content).unwrap();
        json_doc(d, &["--json", "docs", "put", name], 0);
    }
    let clean = json_doc(d, &["--json", "docs", "verify"], 0);
    assert_eq!(clean["documents"], 3);
    let check = json_doc(d, &["--json", "check"], 0);
    assert_eq!(check["documents"]["documents"], 3);

    std::fs::remove_file(blob(d, &hex_sha256(b"will be deleted"))).unwrap();
    std::fs::write(blob(d, &hex_sha256(b"will be changed")), "will be CHANGED").unwrap();
    let orphan_sha = hex_sha256(b"nobody's");
    std::fs::create_dir_all(blob(d, &orphan_sha).parent().unwrap()).unwrap();
    std::fs::write(blob(d, &orphan_sha), "nobody's").unwrap();

    let report = json_doc(d, &["--json", "docs", "verify"], 1);
    assert_eq!(report["missing"][0]["name"], "gone.txt", "{report:#}");
    assert_eq!(report["changed"][0]["name"], "changed.txt", "{report:#}");
    assert_eq!(report["orphans"][0]["sha256"], orphan_sha, "{report:#}");
    let human = text(&strata(d, &["docs", "verify"]).stdout, d);
    assert!(
        human.contains("missing: document 1 (gone.txt)") && human.contains("verdict: damaged"),
        "{human}"
    );

    // strata check reports them too (sizes on a quick check, hashes on a full one).
    let check = json_doc(d, &["--json", "check", "--full"], 1);
    let findings: Vec<String> = check["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(findings.iter().filter(|c| *c == "documents").count(), 2, "{findings:?}");
    assert!(findings.contains(&"documents_orphans".to_string()), "{findings:?}");

    let gc = strata_env(d, &["--json", "docs", "gc"], &[("STRATA_DOCUMENTS__GC_GRACE_SECS", "0")]);
    assert!(gc.status.success(), "{}", text(&gc.stderr, d));
    let gc: serde_json::Value = serde_json::from_slice(&gc.stdout).unwrap();
    assert_eq!(gc["gc"]["files"], 1, "{gc:#}");
    assert!(!blob(d, &orphan_sha).exists());
    assert!(blob(d, &hex_sha256(b"fine")).exists());
}

/// Writes `size` bytes of deterministic noise (incompressible, so no layer can cheat).
fn write_noise(path: &Path, size: u64) -> String {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut hasher = Sha256::new();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for b in chunk.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state as u8;
        }
        let n = left.min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n]).unwrap();
        hasher.update(&chunk[..n]);
        left -= n as u64;
    }
    file.flush().unwrap();
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `strata ARGS` in `dir` and returns its output with the highest VmHWM (peak
/// resident memory, kB) seen in /proc while it ran.
fn run_measuring_memory(dir: &Path, args: &[&str]) -> (Output, u64) {
    let mut child = spawn(dir, args);
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0;
    let deadline = Instant::now() + Duration::from_secs(600);
    while child.try_wait().unwrap().is_none() {
        if let Ok(status) = std::fs::read_to_string(&status_path)
            && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kb: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
            peak_kb = peak_kb.max(kb);
        }
        assert!(Instant::now() < deadline, "strata {args:?} did not finish in 10 minutes");
        std::thread::sleep(Duration::from_millis(5));
    }
    (child.wait_with_output().unwrap(), peak_kb)
}

#[cfg(target_os = "linux")]
#[test]
fn a_200_mb_document_streams_in_and_out_with_bounded_memory() {
    const SIZE: u64 = 200 * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d);
    let sha = write_noise(&d.join("big.bin"), SIZE);
    let (out, put_kb) = run_measuring_memory(d, &["--json", "docs", "put", "big.bin"]);
    assert!(out.status.success(), "{}", text(&out.stderr, d));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["sha256"], sha);
    assert_eq!(doc["size"], SIZE);
    std::fs::remove_file(d.join("big.bin")).unwrap();
    let (out, get_kb) = run_measuring_memory(d, &["--json", "docs", "get", "big.bin", "-o", "back.bin"]);
    assert!(out.status.success(), "{}", text(&out.stderr, d));
    let back = std::fs::File::open(d.join("back.bin")).unwrap();
    assert_eq!(back.metadata().unwrap().len(), SIZE);
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::io::BufReader::new(back), &mut hasher).unwrap();
    let back_sha: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(back_sha, sha);
    // Both processes stay far below the document's 200 MB: the content is streamed a
    // chunk at a time, never held whole.
    println!("peak resident memory: put {put_kb} kB, get {get_kb} kB");
    assert!(put_kb > 0 && get_kb > 0, "VmHWM was never read");
    assert!(put_kb < 64 * 1024, "docs put peaked at {put_kb} kB for a 200 MB document");
    assert!(get_kb < 64 * 1024, "docs get peaked at {get_kb} kB for a 200 MB document");
}

#[cfg(unix)]
#[test]
fn a_put_killed_at_any_moment_leaves_no_row_without_its_complete_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d);
    // Large enough that a kill lands in the middle of streaming, hashing, syncing or
    // renaming as often as before or after it.
    write_noise(&d.join("doc.bin"), 8 * 1024 * 1024);
    let mut killed = 0;
    let mut finished = 0;
    for round in 0..12u64 {
        // A distinct content each round, so that every round writes a new file.
        let mut file = std::fs::OpenOptions::new().append(true).open(d.join("doc.bin")).unwrap();
        file.write_all(&round.to_le_bytes()).unwrap();
        drop(file);
        let mut child = command(d, &["docs", "put", "doc.bin", "--name", &format!("round-{round}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill between 0 and ~600 ms in: before, during and after the streaming.
        let wait = Duration::from_millis((round * 7919 % 600) + 1);
        std::thread::sleep(wait);
        if child.try_wait().unwrap().is_none() {
            // SIGKILL: no destructor, no flush, no cleanup.
            child.kill().unwrap();
            killed += 1;
        } else {
            finished += 1;
        }
        child.wait().unwrap();

        // The invariant after every kill: each row has its file, complete and intact.
        let conn = rusqlite::Connection::open(d.join("strata.db")).unwrap();
        let mut stmt = conn.prepare("SELECT id, size, sha256 FROM documents").unwrap();
        let rows: Vec<(i64, i64, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (id, size, sha) in rows {
            let content = std::fs::read(blob(d, &sha))
                .unwrap_or_else(|e| panic!("round {round}: document {id} has no file: {e}"));
            assert_eq!(content.len() as i64, size, "round {round}: document {id} is incomplete");
            assert_eq!(hex_sha256(&content), sha, "round {round}: document {id} is damaged");
        }
    }
    println!("killed {killed} put(s), {finished} finished first");
    assert!(killed > 0, "no put was killed: the test did not test anything");
    // What the kills left is at most unreferenced files and temporary files, which
    // verify lists without calling them damage and gc removes.
    let report = json_doc(d, &["--json", "docs", "verify"], 0);
    assert_eq!(report["missing"].as_array().unwrap().len(), 0);
    let gc = strata_env(d, &["--json", "docs", "gc"], &[("STRATA_DOCUMENTS__GC_GRACE_SECS", "0")]);
    assert!(gc.status.success(), "{}", text(&gc.stderr, d));
    let report = json_doc(d, &["--json", "docs", "verify"], 0);
    assert_eq!(report["orphans"].as_array().unwrap().len(), 0, "{report:#}");
    assert_eq!(report["temp_files"], 0, "{report:#}");
}

#[test]
fn a_backup_holds_the_documents_verify_checks_them_and_restore_puts_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d);
    std::fs::write(d.join("a.txt"), "first document").unwrap();
    std::fs::write(d.join("b.txt"), "second document").unwrap();
    json_doc(d, &["--json", "docs", "put", "a.txt"], 0);
    let b = json_doc(d, &["--json", "docs", "put", "b.txt"], 0);
    json_doc(d, &["--json", "docs", "rm", &b["id"].as_i64().unwrap().to_string()], 0);

    let created = json_doc(d, &["--json", "backup", "create"], 0);
    let backup = created["path"].as_str().unwrap().to_string();
    // Both files are listed: a soft-deleted row still references its file.
    let listed: Vec<&str> = created["manifest"]["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["sha256"].as_str().unwrap())
        .collect();
    let (a_sha, b_sha) = (hex_sha256(b"first document"), hex_sha256(b"second document"));
    assert_eq!(listed.len(), 2, "{created:#}");
    assert!(listed.contains(&a_sha.as_str()) && listed.contains(&b_sha.as_str()));
    let backed_up = |sha: &str| d.join(format!("{backup}.files")).join(&sha[..2]).join(sha);
    assert_eq!(std::fs::read(backed_up(&a_sha)).unwrap(), b"first document");
    assert_eq!(json_doc(d, &["--json", "backup", "verify", &backup], 0)["ok"], true);

    // The store is lost: restore puts the files back with the rows.
    std::fs::remove_dir_all(store_dir(d)).unwrap();
    let restored = json_doc(d, &["--json", "restore", &backup, "--force"], 0);
    assert_eq!(restored["documents_restored"], 2, "{restored:#}");
    let out = strata(d, &["docs", "get", "a.txt"]);
    assert_eq!(out.stdout, b"first document", "{}", text(&out.stderr, d));
    assert_eq!(json_doc(d, &["--json", "docs", "verify"], 0)["missing"].as_array().unwrap().len(), 0);

    // A changed file in the backup fails its verification.
    std::fs::write(backed_up(&b_sha), "second DOCUMENT").unwrap();
    let verify = json_doc(d, &["--json", "backup", "verify", &backup], 1);
    assert!(verify["problems"].to_string().contains(&b_sha), "{verify:#}");
}

#[test]
fn check_reports_the_volumes_and_a_free_space_percentage_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d);
    let quiet = [("STRATA_MONITOR__FREE_DISK_WARN_MB", "0"), ("STRATA_MONITOR__FREE_DISK_CRITICAL_MB", "0")];
    let out = strata_env(d, &["--json", "check"], &quiet);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout, d));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let volumes = report["storage"]["volumes"].as_array().unwrap();
    assert_eq!(volumes[0]["role"], "database");
    assert!(volumes[0]["total_bytes"].as_u64().unwrap() >= volumes[0]["free_bytes"].as_u64().unwrap());
    // Less than 100% free is true of any volume holding a database: a warning.
    let mut env = quiet.to_vec();
    env.push(("STRATA_MONITOR__FREE_DISK_WARN_PERCENT", "100"));
    let out = strata_env(d, &["--json", "check"], &env);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let finding =
        report["findings"].as_array().unwrap().iter().find(|f| f["check"] == "free_disk").unwrap().clone();
    assert_eq!(finding["severity"], "warning");
    assert!(finding["message"].as_str().unwrap().contains("warning below 100%"), "{finding}");
    // A critical percentage below the warning one is a config error that names it.
    env.push(("STRATA_MONITOR__FREE_DISK_CRITICAL_PERCENT", "101"));
    let err = strata_env(d, &["--json", "check"], &env);
    let err: serde_json::Value = serde_json::from_slice(&err.stdout).unwrap();
    assert_eq!(err["code"], "E1003");
}
