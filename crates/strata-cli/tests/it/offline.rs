//! Commands that need no database keep working when it is unreachable (property 14 on
//! the binary): `--help`, `--version`, `config check`, `errors`, `completions`.

use std::path::Path;

use crate::strata;

/// A config file whose database is in a directory that no longer exists.
fn config_with_removed_directory(dir: &Path) -> String {
    let gone = dir.join("gone");
    std::fs::create_dir(&gone).unwrap();
    std::fs::remove_dir(&gone).unwrap();
    let file = dir.join("strata.toml");
    std::fs::write(&file, format!("path = {:?}\n", gone.join("app.db").display().to_string())).unwrap();
    file.display().to_string()
}

fn stdout_of(dir: &Path, args: &[String]) -> String {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = strata(dir, &args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn commands_without_the_database_work_while_it_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_removed_directory(dir.path());
    let with = |args: &[&'static str]| -> Vec<String> {
        ["--config", config.as_str()].iter().chain(args).map(|a| a.to_string()).collect()
    };
    assert!(stdout_of(dir.path(), &with(&["--help"])).contains("Usage: strata"));
    assert!(stdout_of(dir.path(), &with(&["--version"])).starts_with("strata "));
    assert!(stdout_of(dir.path(), &with(&["config", "check"])).contains("gone/app.db"));
    let explained = stdout_of(dir.path(), &with(&["errors", "E2004"]));
    assert!(explained.starts_with("E2004 (") && explained.contains("\nhint: "), "{explained}");
    assert!(stdout_of(dir.path(), &with(&["completions", "bash"])).contains("complete -F"));
    // Whereas a command that needs the database fails with its code.
    let check = strata(dir.path(), &["--config", config.as_str(), "check"]);
    assert_eq!(check.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&check.stderr).contains("E2004"));
}

#[test]
fn config_check_names_the_offending_field_and_errors_lists_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "[pool]\nreaders = 0\n").unwrap();
    let out = strata(dir.path(), &["--config", "bad.toml", "config", "check"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pool.readers"));
    // `errors` needs no config at all, not even a valid one.
    let listed = crate::json_doc(dir.path(), &["--config", "bad.toml", "--json", "errors"], 0);
    let codes: Vec<&str> = listed.as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"E2004") && codes.contains(&"E4001"), "{codes:?}");
    let unknown = strata(dir.path(), &["errors", "E0000"]);
    assert_eq!(unknown.status.code(), Some(3));
}
