//! Property 17: Comprehensive operation logging.
//!
//! Whatever sequence of facade and ops operations runs (open, inserts that succeed or
//! violate a constraint, reads, migrate, a health check, a backup, close), each one
//! leaves exactly one end event on target `strata::op`, captured by a real subscriber,
//! with its name, tables, duration, the rows it stands for and its outcome (with the
//! error code on failure).

use proptest::prelude::*;
use serde_json::Value;
use strata::ops::CheckLevel;
use strata::query::sea_query::Query;
use strata::{Config, Database, MigrationSet, Migrations};

use crate::p09_detailed_technical_logging::{Captured, block_on, with_json_subscriber};

const NOTES: &str = "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL);";
const SELECT_IDS: &str = "SELECT id FROM notes";

#[derive(Debug, Clone)]
enum Op {
    /// One INSERT of this many rows.
    Insert(u8),
    /// INSERT of id 0 (never one the other inserts get): a constraint violation once
    /// it exists.
    InsertFirst,
    /// Every row.
    Select,
    /// Nothing pending: zero migrations.
    Migrate,
    /// A quick health check.
    Health,
    /// A verified backup.
    Backup,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1_u8..5).prop_map(Op::Insert),
        Just(Op::InsertFirst),
        Just(Op::Select),
        Just(Op::Migrate),
        Just(Op::Health),
        Just(Op::Backup),
    ]
}

#[derive(serde::Deserialize)]
struct Id {
    id: i64,
}

/// The one end event of `op` since the last call; it has every field of an end event.
fn one_end_event(captured: &Captured, op: &str) -> Value {
    let events = captured.take_op_events();
    let ends: Vec<&Value> = events.iter().filter(|e| e["fields"]["op"] == op).collect();
    assert_eq!(ends.len(), 1, "exactly one end event for {op}: {events:#?}");
    let event = ends[0].clone();
    assert_eq!(event["span"]["name"], "strata.op", "{event}");
    assert!(event["fields"]["tables"].is_string(), "{event}");
    assert!(event["fields"]["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{event}");
    match event["fields"]["outcome"].as_str() {
        Some("ok") => {
            assert_eq!(event["level"], "DEBUG", "{event}");
            assert!(event["fields"]["rows"].is_u64(), "{event}");
        }
        Some("error") => {
            assert_eq!(event["level"], "WARN", "{event}");
            assert!(event["fields"]["code"].is_string(), "{event}");
        }
        other => panic!("outcome {other:?} in {event}"),
    }
    event
}

fn rows(event: &Value) -> u64 {
    event["fields"]["rows"].as_u64().unwrap()
}

async fn run(ops: &[Op], captured: &Captured) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::for_path(dir.path().join("app.db"));
    let set = MigrationSet::from_sources([("V1__notes", NOTES, None)]).unwrap();
    let db = Database::open_with(&config, Migrations::from(set)).await.unwrap();
    assert_eq!(one_end_event(captured, "database.open")["fields"]["outcome"], "ok");
    let (mut count, mut first) = (0_u64, false);
    for op in ops {
        match op {
            Op::Insert(n) => {
                let mut insert = Query::insert().into_table("notes").columns(["body"]).to_owned();
                for i in 0..*n {
                    insert.values_panic([format!("note {i}").into()]);
                }
                db.execute_query(&insert).await.unwrap();
                count += u64::from(*n);
                assert_eq!(rows(&one_end_event(captured, "execute")), u64::from(*n));
            }
            Op::InsertFirst => {
                let insert = Query::insert()
                    .into_table("notes")
                    .columns(["id", "body"])
                    .values_panic([0.into(), "first".into()])
                    .to_owned();
                let result = db.execute_query(&insert).await;
                let event = one_end_event(captured, "execute");
                if first {
                    assert_eq!(result.unwrap_err().code(), "E4001");
                    assert_eq!(event["fields"]["code"], "E4001", "{event}");
                } else {
                    result.unwrap();
                    assert_eq!(rows(&event), 1);
                    (first, count) = (true, count + 1);
                }
            }
            Op::Select => {
                let ids: Vec<Id> = db.query_as(SELECT_IDS, ()).await.unwrap();
                assert_eq!(rows(&one_end_event(captured, "query")), u64::try_from(ids.len()).unwrap());
                assert_eq!(u64::try_from(ids.len()).unwrap(), count);
                assert!(ids.iter().all(|row| row.id >= 0));
            }
            Op::Migrate => {
                db.migrate().await.unwrap();
                assert_eq!(rows(&one_end_event(captured, "database.migrate")), 0);
            }
            Op::Health => {
                let report = db.health(CheckLevel::Quick).await.unwrap();
                let event = one_end_event(captured, "health.check");
                assert_eq!(rows(&event), u64::try_from(report.findings.len()).unwrap());
            }
            Op::Backup => {
                let report = db.backup().await.unwrap();
                assert_eq!(rows(&one_end_event(captured, "backup.create")), report.manifest.page_count);
            }
        }
    }
    db.close().await.unwrap();
    assert_eq!(one_end_event(captured, "database.close")["fields"]["outcome"], "ok");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Every operation of a random sequence leaves exactly one end event with its
    /// name, tables, duration, rows (equal to what it returned) and outcome.
    #[test]
    fn p17_comprehensive_operation_logging(ops in proptest::collection::vec(op(), 1..8)) {
        with_json_subscriber(|captured| block_on(run(&ops, captured)));
    }
}
