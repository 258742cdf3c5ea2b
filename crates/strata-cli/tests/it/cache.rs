//! `strata cache stats|get|delete|purge-expired|clear` and `strata ratelimit
//! status|check|reset`: both forms of every subcommand, exit codes, typed errors for
//! bad input with nothing written, the audit rows of the changes, and that the read
//! commands leave the database file byte for byte as it was.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use strata::repo::{CacheKey, Quota};

use crate::queue::{json_of, run, with_db};
use crate::readonly::state;
use crate::text;

const HOUR: Duration = Duration::from_secs(3600);

/// `app.db` with namespace `pages` (a JSON entry `a` live for an hour, a JSON entry
/// `b` already expired and not swept), namespace `blobs` (bytes `z`, no expiry), and
/// rate limit key `api:x` checked once under 5 per hour.
fn seeded(dir: &Path) {
    with_db(dir, async |db: &strata::Database| {
        let cache = db.cache();
        cache
            .set(CacheKey { namespace: "pages", key: "a" }, &json!({ "title": "home" }), Some(HOUR))
            .await
            .unwrap();
        cache.set(CacheKey { namespace: "pages", key: "b" }, &"old", Some(HOUR)).await.unwrap();
        cache.set_bytes(CacheKey { namespace: "blobs", key: "z" }, &[0x00, 0x01, 0xab], None).await.unwrap();
        let quota = Quota::per_period(5, HOUR);
        assert!(db.rate_limits().check("api:x", quota, 1).await.unwrap().is_allowed());
    });
    let conn = rusqlite::Connection::open(dir.join("app.db")).unwrap();
    conn.execute("UPDATE cache SET expires_at = 1 WHERE key = 'b'", []).unwrap();
}

fn code_of(dir: &Path, args: &[&str]) -> Value {
    json_of(dir, args, 3)["code"].clone()
}

#[test]
fn read_commands_show_entries_and_state_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seeded(d);
    let before = state(&d.join("app.db"));

    let stats = run(d, &["cache", "stats"]);
    assert_eq!(stats.status.code(), Some(0), "{}", text(&stats.stderr, d));
    insta::assert_snapshot!("cache_stats", text(&stats.stdout, d));
    let doc = json_of(d, &["cache", "stats"], 0);
    assert_eq!(
        doc,
        json!({ "namespaces": [
            { "namespace": "blobs", "entries": 1, "bytes": 3, "expired": 0 },
            { "namespace": "pages", "entries": 2, "bytes": 21, "expired": 1 },
        ] })
    );
    let one = json_of(d, &["cache", "stats", "--namespace", "pages"], 0);
    assert_eq!(one["namespaces"], json!([{ "namespace": "pages", "entries": 2, "bytes": 21, "expired": 1 }]));
    let none = json_of(d, &["cache", "stats", "--namespace", "nothing"], 0);
    assert_eq!(none, json!({ "namespaces": [] }));

    let get = run(d, &["cache", "get", "pages", "a"]);
    assert_eq!(get.status.code(), Some(0), "{}", text(&get.stderr, d));
    insta::assert_snapshot!("cache_get", text(&get.stdout, d));
    for _ in 0..2 {
        let entry = json_of(d, &["cache", "get", "pages", "a"], 0);
        assert_eq!(entry["value"], json!({ "title": "home" }));
        assert_eq!((entry["format"].clone(), entry["size"].clone()), (json!("json"), json!(16)));
        assert_eq!(entry["hits"], 0, "get recorded a hit");
        let at = |field: &str| {
            let text = entry[field].as_str().unwrap_or_else(|| panic!("{field} is not RFC 3339: {entry}"));
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
        };
        assert!(at("expires_at") > at("created_at"));
        assert!(at("read_at") >= at("created_at") && at("updated_at") >= at("created_at"));
    }
    let bytes = json_of(d, &["cache", "get", "blobs", "z"], 0);
    assert_eq!((bytes["format"].clone(), bytes["value"].clone()), (json!("bytes"), json!("0001ab")));
    assert_eq!(bytes["expires_at"], Value::Null);
    let shown = run(d, &["cache", "get", "blobs", "z"]);
    assert!(text(&shown.stdout, d).contains("value: 3 bytes, hex 0001ab\n"), "{}", text(&shown.stdout, d));

    // Absent and expired entries are E4002, exit 3.
    assert_eq!(code_of(d, &["cache", "get", "pages", "b"]), "E4002");
    assert_eq!(code_of(d, &["cache", "get", "pages", "nothing"]), "E4002");
    let absent = run(d, &["cache", "get", "pages", "b"]);
    assert!(text(&absent.stderr, d).contains("cache entry `pages/b` (absent or expired)"));

    let status = run(d, &["ratelimit", "status", "api:x"]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status.stderr, d));
    insta::assert_snapshot!("ratelimit_status", text(&status.stdout, d));
    let doc = json_of(d, &["ratelimit", "status", "api:x"], 0);
    assert_eq!(doc["quota"], json!({ "limit": 5, "period_ms": 3_600_000, "burst": 5 }));
    assert_eq!((doc["remaining"].clone(), doc["last_allowed"].clone()), (json!(4), json!(true)));
    assert_eq!(code_of(d, &["ratelimit", "status", "api:never"]), "E4002");

    assert_eq!(state(&d.join("app.db")), before, "a read command changed the database or its directory");
}

#[test]
fn delete_purge_and_clear_change_the_cache_and_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seeded(d);

    let delete = run(d, &["cache", "delete", "pages", "a", "--actor", "alice"]);
    assert_eq!(delete.status.code(), Some(0), "{}", text(&delete.stderr, d));
    assert_eq!(text(&delete.stdout, d), "deleted cache entry pages/a\n");
    let again = run(d, &["cache", "delete", "pages", "a"]);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(text(&again.stdout, d), "no cache entry pages/a: nothing deleted\n");
    let doc = json_of(d, &["cache", "delete", "pages", "a"], 0);
    assert_eq!((doc["deleted"].clone(), doc["key"].clone()), (json!(false), json!("a")));

    let purge = json_of(d, &["cache", "purge-expired", "--actor", "alice"], 0);
    assert_eq!((purge["deleted"].clone(), purge["batches"].clone()), (json!(1), json!(1)));
    let purge = run(d, &["cache", "purge-expired"]);
    assert_eq!(text(&purge.stdout, d), "purged 0 expired cache entries in 1 batch(es)\n");

    json_of(d, &["cache", "delete", "blobs", "nothing"], 0);
    with_db(d, async |db: &strata::Database| {
        db.cache().set(CacheKey { namespace: "pages", key: "c" }, &1, None).await.unwrap();
        db.cache().set(CacheKey { namespace: "pages", key: "d" }, &2, None).await.unwrap();
    });
    // Clearing everything needs --yes: E6001, and nothing is deleted.
    let refused = run(d, &["cache", "clear"]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(text(&refused.stderr, d).contains("pass --yes to confirm"), "{}", text(&refused.stderr, d));
    assert_eq!(code_of(d, &["cache", "clear"]), "E6001");
    let entries = |d: &Path| -> u64 {
        json_of(d, &["cache", "stats"], 0)["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["entries"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(entries(d), 3);

    let one = run(d, &["cache", "clear", "--namespace", "blobs", "--actor", "bob"]);
    assert_eq!(one.status.code(), Some(0), "{}", text(&one.stderr, d));
    assert_eq!(text(&one.stdout, d), "cleared 1 cache entry of namespace blobs\n");
    let all = json_of(d, &["cache", "clear", "--yes", "--actor", "bob"], 0);
    assert_eq!((all["deleted"].clone(), all["namespace"].clone()), (json!(2), Value::Null));
    assert_eq!(entries(d), 0);
    let stats = run(d, &["cache", "stats"]);
    assert_eq!(text(&stats.stdout, d), "no cache entries\n");

    let audit = json_of(d, &["audit", "list", "--limit", "100"], 0);
    let rows: Vec<(String, String, Value)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("cache."))
        .map(|e| {
            (e["action"].as_str().unwrap().into(), e["actor"].as_str().unwrap().into(), e["data"].clone())
        })
        .collect();
    let actions: Vec<&str> = rows.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "cache.clear",
            "cache.clear",
            "cache.delete",
            "cache.purge_expired",
            "cache.purge_expired",
            "cache.delete",
            "cache.delete",
            "cache.delete"
        ]
    );
    assert_eq!((rows[0].1.as_str(), rows[0].2.clone()), ("bob", json!({ "namespace": null, "deleted": 2 })));
    assert_eq!(rows[7].1, "alice");
    assert_eq!(rows[7].2, json!({ "namespace": "pages", "key": "a", "deleted": true }));
}

#[test]
fn ratelimit_check_consumes_denies_with_exit_1_and_reset_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seeded(d);
    let quota = ["--limit", "2", "--period-ms", "3600000"];
    let check = |args: &[&str], code| {
        let all: Vec<&str> = ["ratelimit", "check", "k"].iter().chain(args).copied().collect();
        json_of(d, &all, code)
    };
    let first = run(d, &["ratelimit", "check", "k", "--limit", "2", "--period-ms", "3600000"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr, d));
    assert_eq!(
        text(&first.stdout, d),
        "allowed: k took 1 unit(s) of 2 per 3600000 ms, burst 2; 1 left now\n"
    );
    let second = check(&quota, 0);
    assert_eq!((second["allowed"].clone(), second["remaining"].clone()), (json!(true), json!(0)));
    assert_eq!(second["retry_after_ms"], Value::Null);
    let denied = check(&quota, 1);
    assert_eq!(denied["allowed"], false);
    assert_eq!(denied["remaining"], Value::Null);
    let retry = denied["retry_after_ms"].as_u64().unwrap();
    assert!(retry > 1_700_000 && retry <= 1_800_000, "retry after {retry} ms");
    let shown = run(d, &["ratelimit", "check", "k", "--limit", "2", "--period-ms", "3600000"]);
    assert_eq!(shown.status.code(), Some(1));
    assert!(text(&shown.stdout, d).starts_with("denied: k over 2 per 3600000 ms, burst 2; retry in "));
    let status = json_of(d, &["ratelimit", "status", "k"], 0);
    assert_eq!((status["remaining"].clone(), status["last_allowed"].clone()), (json!(0), json!(false)));

    let reset = run(d, &["ratelimit", "reset", "k", "--actor", "carol"]);
    assert_eq!(reset.status.code(), Some(0), "{}", text(&reset.stderr, d));
    assert_eq!(text(&reset.stdout, d), "reset rate limit k: its next check starts with a full burst\n");
    let again = json_of(d, &["ratelimit", "reset", "k"], 0);
    assert_eq!(again["reset"], false);
    assert_eq!(code_of(d, &["ratelimit", "status", "k"]), "E4002");
    assert_eq!(check(&quota, 0)["remaining"], 1, "the reset key did not start with a full burst");
    let audit = json_of(d, &["audit", "list", "--action", "ratelimit.reset"], 0);
    let last = &audit["entries"][1];
    assert_eq!(
        (last["actor"].clone(), last["data"].clone()),
        (json!("carol"), json!({ "key": "k", "reset": true }))
    );

    // --burst and --cost.
    let burst = json_of(
        d,
        &["ratelimit", "check", "b", "--limit", "1", "--period-ms", "60000", "--burst", "3", "--cost", "3"],
        0,
    );
    assert_eq!((burst["cost"].clone(), burst["quota"]["burst"].clone()), (json!(3), json!(3)));
}

#[test]
fn ratelimit_check_takes_the_configured_quota_of_the_longest_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seeded(d);
    std::fs::write(
        d.join("strata.toml"),
        "[ratelimit.quotas]\n\"api:\" = { limit = 1, period_ms = 60000 }\n\
         \"api:big\" = { limit = 100, period_ms = 60000 }\n",
    )
    .unwrap();
    let configured =
        |key: &str, code| json_of(d, &["--config", "strata.toml", "ratelimit", "check", key], code);
    let first = configured("api:x2", 0);
    assert_eq!(first["quota"], json!({ "limit": 1, "period_ms": 60000, "burst": 1 }));
    assert_eq!(configured("api:x2", 1)["allowed"], false);
    assert_eq!(configured("api:big1", 0)["quota"]["limit"], 100);
    // No flags and no configured prefix: E4012, nothing written.
    assert_eq!(code_of(d, &["--config", "strata.toml", "ratelimit", "check", "other"]), "E4012");
    assert_eq!(code_of(d, &["ratelimit", "status", "other"]), "E4002");
}

#[test]
fn bad_input_is_a_typed_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seeded(d);
    let before = state(&d.join("app.db"));
    for bad in [
        &["--limit", "0", "--period-ms", "1000"][..],
        &["--limit", "-1", "--period-ms", "1000"],
        &["--limit", "5", "--period-ms", "0"],
        &["--limit", "5", "--period-ms", "-1000"],
        &["--limit", "5", "--period-ms", "1000", "--burst", "0"],
        &["--limit", "5", "--period-ms", "1000", "--cost", "0"],
        &["--limit", "5", "--period-ms", "1000", "--cost", "-2"],
        &["--limit", "5", "--period-ms", "1000", "--cost", "6"],
        &["--limit", "4294967296", "--period-ms", "1000"],
    ] {
        let all: Vec<&str> = ["ratelimit", "check", "bad"].iter().chain(bad).copied().collect();
        assert_eq!(code_of(d, &all), "E6022", "{bad:?}");
    }
    let zero = run(d, &["ratelimit", "check", "bad", "--limit", "0", "--period-ms", "1000"]);
    assert!(
        text(&zero.stderr, d).contains("limit must be 1 to 4294967295, not 0"),
        "{}",
        text(&zero.stderr, d)
    );
    // A limit without a period is a usage error (exit 2).
    assert_eq!(run(d, &["ratelimit", "check", "bad", "--limit", "5"]).status.code(), Some(2));
    assert_eq!(state(&d.join("app.db")), before, "a refused command wrote something");
    assert_eq!(code_of(d, &["ratelimit", "status", "bad"]), "E4002");

    // No database: E2004, nothing created.
    let empty = tempfile::tempdir().unwrap();
    for args in [&["cache", "stats"][..], &["cache", "clear", "--yes"], &["ratelimit", "reset", "k"]] {
        assert_eq!(code_of(empty.path(), args), "E2004", "{args:?}");
    }
    assert!(!empty.path().join("app.db").exists());
}
