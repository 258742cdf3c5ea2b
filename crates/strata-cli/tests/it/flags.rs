//! `strata flags list|get|set`: the set/get/list round trip, the bare-word rule, JSON
//! object values, descriptions, the `flag.set` audit row with the actor, and errors.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::queue::{json_of, run, with_db};
use crate::text;

fn database(dir: &Path) {
    with_db(dir, async |_: &strata::Database| ());
}

#[test]
fn set_get_and_list_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    database(d);
    let set =
        run(d, &["flags", "set", "mode", "fast", "--actor", "alice", "--description", "how hard to try"]);
    assert_eq!(set.status.code(), Some(0), "{}", text(&set.stderr, d));
    assert_eq!(text(&set.stdout, d), "set mode = \"fast\" (by alice)\n");

    let limits = r#"{"rate": 0.5, "burst": [1, 2], "name": "x"}"#;
    let doc = json_of(d, &["flags", "--actor", "bob", "set", "limits", limits], 0);
    assert_eq!(doc["value"], json!({ "rate": 0.5, "burst": [1, 2], "name": "x" }));
    assert_eq!(doc["updated_by"], "bob");
    assert_eq!(doc["description"], "");
    assert_eq!(json_of(d, &["flags", "set", "quoted", "\"42\"", "--actor", "bob"], 0)["value"], json!("42"));
    assert_eq!(json_of(d, &["flags", "set", "count", "42", "--actor", "bob"], 0)["value"], json!(42));
    assert_eq!(json_of(d, &["flags", "set", "on", "true", "--actor", "bob"], 0)["value"], json!(true));
    assert_eq!(json_of(d, &["flags", "set", "negative", "-3", "--actor", "bob"], 0)["value"], json!(-3));

    let mode = json_of(d, &["flags", "get", "mode"], 0);
    assert_eq!(mode["value"], "fast");
    assert_eq!(mode["description"], "how hard to try");
    assert_eq!(mode["updated_by"], "alice");
    let updated_at = mode["updated_at"].as_str().expect("an RFC 3339 time");
    let updated_at =
        time::OffsetDateTime::parse(updated_at, &time::format_description::well_known::Rfc3339).unwrap();
    assert!(updated_at.unix_timestamp() > 1_700_000_000, "{updated_at}");
    let get = run(d, &["flags", "get", "limits"]);
    insta::assert_snapshot!("flags_get", text(&get.stdout, d));

    // A second set keeps the description unless given, and replaces the value.
    let again = json_of(d, &["flags", "set", "mode", "slow", "--actor", "carol"], 0);
    assert_eq!(
        (again["value"].clone(), again["description"].clone()),
        (json!("slow"), json!("how hard to try"))
    );

    let list = run(d, &["flags", "list"]);
    assert_eq!(list.status.code(), Some(0));
    insta::assert_snapshot!("flags_list", text(&list.stdout, d));
    let page = json_of(d, &["flags", "list", "--limit", "2"], 0);
    let names: Vec<&str> =
        page["flags"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["count", "limits"]);
    assert_eq!(page["next"], "limits");
    let page = json_of(d, &["flags", "list", "--limit", "2", "--after", "limits"], 0);
    let names: Vec<&str> =
        page["flags"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["mode", "negative"]);
}

#[test]
fn every_set_is_audited_with_its_actor() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    database(d);
    json_of(d, &["flags", "set", "mode", "fast", "--actor", "alice"], 0);
    json_of(d, &["flags", "set", "mode", r#"{"level": 2}"#, "--actor", "ops-bot"], 0);
    let audit = json_of(d, &["audit", "list", "--action", "flag.set"], 0);
    let entries: Vec<(Value, Value)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].clone(), e["data"].clone()))
        .collect();
    assert_eq!(
        entries,
        [
            (json!("ops-bot"), json!({ "name": "mode", "old": "fast", "new": { "level": 2 } })),
            (json!("alice"), json!({ "name": "mode", "old": null, "new": "fast" })),
        ]
    );

    // Without --actor: $USER, else $USERNAME, else strata-cli.
    let set_as = |vars: &[(&str, &str)], value: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
        command.args(["--db", "app.db", "--json", "flags", "set", "who", value]).current_dir(d);
        command.env_remove("USER").env_remove("USERNAME").env_remove("STRATA_DB").env_remove("STRATA_CONFIG");
        command.envs(vars.iter().copied());
        let out = command.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr, d));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["updated_by"].clone()
    };
    assert_eq!(set_as(&[("USER", "unix-user"), ("USERNAME", "win-user")], "1"), "unix-user");
    assert_eq!(set_as(&[("USERNAME", "win-user")], "2"), "win-user");
    assert_eq!(set_as(&[], "3"), "strata-cli");
    let who = json_of(d, &["audit", "list", "--action", "flag.set", "--limit", "3"], 0);
    let actors: Vec<&str> =
        who["entries"].as_array().unwrap().iter().map(|e| e["actor"].as_str().unwrap()).collect();
    assert_eq!(actors, ["strata-cli", "win-user", "unix-user"]);
}

#[test]
fn errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    database(d);
    let missing = run(d, &["flags", "get", "missing"]);
    assert_eq!(missing.status.code(), Some(3));
    assert!(
        text(&missing.stderr, d).starts_with("E4002 not found: flag `missing`\nhint: "),
        "{}",
        text(&missing.stderr, d)
    );
    let doc = json_of(d, &["flags", "get", "missing"], 3);
    assert_eq!((doc["code"].clone(), doc["kind"].clone()), (json!("E4002"), json!("not_found")));

    let broken = json_of(d, &["flags", "set", "limits", r#"{"rate": "#], 3);
    assert_eq!(broken["code"], "E6001");
    assert!(broken["message"].as_str().unwrap().contains("not valid JSON"), "{broken}");
    assert_eq!(json_of(d, &["flags", "set", "", "1"], 3)["code"], "E6001");
    assert_eq!(json_of(d, &["flags", "set", "x", "1", "--actor", " "], 3)["code"], "E6001");
    assert_eq!(run(d, &["flags", "set", "only-a-name"]).status.code(), Some(2));
    assert_eq!(
        json_of(d, &["flags", "list"], 0),
        json!({ "flags": [], "next": null }),
        "nothing was written"
    );
    assert_eq!(text(&run(d, &["flags", "list"]).stdout, d), "no flags\n");
}
