//! Compile and run: the code generated for tests/fixture/schema.sql is built in a
//! crate of its own (offline, against this workspace, sharing its target directory)
//! and round-trips rows through a real database file.

use std::path::Path;
use std::process::Command;

use rusqlite::Connection;
use strata_codegen::{Options, generate};

const SCHEMA: &str = include_str!("fixture/schema.sql");
const APP: &str = include_str!("fixture/app.rs");

#[test]
fn generated_code_builds_and_round_trips_rows_through_a_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let krate = dir.path().join("fixture");
    std::fs::create_dir_all(krate.join("src")).unwrap();

    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(SCHEMA).unwrap();
    let code = generate(&conn, &Options::default()).unwrap().code;
    std::fs::write(krate.join("src/generated.rs"), code).unwrap();
    std::fs::write(krate.join("src/main.rs"), APP).unwrap();
    std::fs::write(krate.join("schema.sql"), SCHEMA).unwrap();
    // The workspace's lock file pins every version, so the build needs no network.
    std::fs::copy(root.join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let manifest = format!(
        "[package]\nname = \"codegen-fixture\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\nstrata = {{ path = {root:?} }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\n\
         serde_json = \"1\"\ntokio = {{ version = \"1\", features = [\"rt\", \"macros\"] }}\n\n[workspace]\n",
        root = root.display().to_string()
    );
    std::fs::write(krate.join("Cargo.toml"), manifest).unwrap();

    // The target directory this test was built in: its dependencies are already built.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let build = Command::new(&cargo)
        .args(["build", "--offline", "--quiet", "--target-dir"])
        .arg(&target)
        .current_dir(&krate)
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "the generated code does not build:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );

    let db = dir.path().join("fixture.db");
    let bin = target.join("debug").join(format!("codegen-fixture{}", std::env::consts::EXE_SUFFIX));
    let run = Command::new(&bin).arg(&db).output().unwrap();
    assert!(
        run.status.success(),
        "the fixture failed:\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "round trip ok");

    // The rows are in the file, as another connection reads them.
    let file = Connection::open(&db).unwrap();
    let lines: i64 = file.query_row("SELECT count(*) FROM line_items", [], |r| r.get(0)).unwrap();
    let quantity: i64 =
        file.query_row("SELECT quantity FROM \"order\" WHERE code = 'A-1'", [], |r| r.get(0)).unwrap();
    let blob: Vec<u8> = file.query_row("SELECT v FROM \"weird \"\"name\"\"\"", [], |r| r.get(0)).unwrap();
    assert_eq!((lines, quantity, blob), (2, 5, vec![1, 2, 3]));
}
