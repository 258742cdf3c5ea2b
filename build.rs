//! Build script of the `strata` facade: embeds the reference migrations of
//! `migrations/` (`V{n}__{name}.sql` with their `.down.sql`) into the library, so
//! that `strata::reference_migrations()` and the `strata` binary need no files at
//! run time. Names are checked by strata-schema when the set is built.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for build scripts");
    let dir = Path::new(&root).join("migrations");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut ups: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".sql") && !name.ends_with(".down.sql"))
            .collect(),
        Err(_) => Vec::new(),
    };
    ups.sort();
    let mut out = String::from("&[\n");
    for up in &ups {
        let stem = up.trim_end_matches(".sql");
        let down = dir.join(format!("{stem}.down.sql"));
        let down = if down.exists() {
            format!("Some(include_str!({:?}))", down.display().to_string())
        } else {
            "None".to_string()
        };
        let up_path = dir.join(up).display().to_string();
        writeln!(out, "    ({stem:?}, include_str!({up_path:?}), {down}),")
            .expect("writing to a String cannot fail");
        println!("cargo:rerun-if-changed={up_path}");
    }
    out.push(']');
    let target =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("reference_migrations.rs");
    std::fs::write(target, out).expect("OUT_DIR is writable");
}
