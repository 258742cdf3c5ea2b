//! Metrics: recording (one and chunked batches), time ranges, aggregates, retention.

use serde_json::json;
use strata_core::ConstraintKind;
use strata_repo::clock::to_datetime as at;
use strata_repo::{Metrics, NewMetric, PageRequest};

use crate::migrated;
use crate::rows::{assert_constraint, count};

#[tokio::test]
async fn a_range_is_half_open_in_time_order_and_of_one_series() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::new(migrated(dir.path()).await);
    for ts in [50, 10, 40, 20, 30] {
        metrics
            .record(NewMetric::at(at(ts), "latency", ts as f64).labels(json!({"host": "a"})))
            .await
            .unwrap();
        metrics.record(NewMetric::at(at(ts), "errors", 1.0)).await.unwrap();
    }
    let got = metrics.range("latency", at(20), at(50), PageRequest::first(100)).await.unwrap();
    assert_eq!(got.items.iter().map(|m| m.ts).collect::<Vec<_>>(), vec![at(20), at(30), at(40)]);
    assert!(got.items.iter().all(|m| m.name == "latency" && m.labels == json!({"host": "a"})));
    assert_eq!(got.next, None);
}

#[tokio::test]
async fn range_pages_visit_every_sample_once_even_with_equal_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::new(migrated(dir.path()).await);
    let samples: Vec<NewMetric> =
        (0..40_i32).map(|i| NewMetric::at(at(i64::from(i / 7)), "cpu", f64::from(i))).collect();
    metrics.record_batch(samples).await.unwrap();
    let mut seen = Vec::new();
    let mut page = PageRequest::first(4);
    loop {
        let got = metrics.range("cpu", at(0), at(100), page).await.unwrap();
        seen.extend(got.items.iter().map(|m| m.value));
        match got.next {
            Some(after) => page = PageRequest::after(after, 4),
            None => break,
        }
    }
    assert_eq!(seen, (0..40).map(f64::from).collect::<Vec<_>>());
}

#[tokio::test]
async fn aggregate_counts_and_summarises_a_range() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::new(migrated(dir.path()).await);
    for (ts, value) in [(1, 4.0), (2, 1.0), (3, 7.0), (9, 100.0)] {
        metrics.record(NewMetric::at(at(ts), "q", value)).await.unwrap();
    }
    let agg = metrics.aggregate("q", at(1), at(9)).await.unwrap();
    assert_eq!(
        (agg.count, agg.min, agg.max, agg.avg, agg.sum),
        (3, Some(1.0), Some(7.0), Some(4.0), Some(12.0))
    );
    let empty = metrics.aggregate("q", at(100), at(200)).await.unwrap();
    assert_eq!((empty.count, empty.min, empty.avg), (0, None, None));
}

#[tokio::test]
async fn a_batch_larger_than_a_chunk_writes_every_sample() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let metrics = Metrics::new(pool.clone());
    let samples: Vec<NewMetric> = (0..1_234).map(|i| NewMetric::at(at(i), "rps", 1.0)).collect();
    let recorded = metrics.record_batch(samples).await.unwrap();
    assert_eq!((recorded.stored, recorded.spilled), (1_234, 0));
    assert_eq!(count(&pool, "metrics").await, 1_234);
    assert_eq!(metrics.aggregate("rps", at(0), at(2_000)).await.unwrap().count, 1_234);
}

#[tokio::test]
async fn purge_before_drops_old_samples_of_every_series() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let metrics = Metrics::new(pool.clone());
    let samples: Vec<NewMetric> =
        (0..1_100).map(|i| NewMetric::at(at(i), if i % 2 == 0 { "a" } else { "b" }, 0.0)).collect();
    metrics.record_batch(samples).await.unwrap();
    assert_eq!(metrics.purge_before(at(1_050)).await.unwrap(), 1_050);
    assert_eq!(count(&pool, "metrics").await, 50);
}

#[tokio::test]
async fn an_empty_series_name_is_a_check_violation_and_its_batch_chunk_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let metrics = Metrics::new(pool.clone());
    assert_constraint(
        &metrics.record(NewMetric::at(at(1), "", 1.0)).await.unwrap_err(),
        ConstraintKind::Check,
    );
    let batch = vec![NewMetric::at(at(1), "ok", 1.0), NewMetric::at(at(2), "", 1.0)];
    assert_constraint(&metrics.record_batch(batch).await.unwrap_err(), ConstraintKind::Check);
    assert_eq!(count(&pool, "metrics").await, 0);
}

#[tokio::test]
async fn each_metrics_operation_logs_its_span_with_name_tables_and_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::new(migrated(dir.path()).await);
    let (log, _guard) = crate::op_spans::capture();
    metrics.record_batch(vec![NewMetric::at(at(1), "q", 1.0), NewMetric::at(at(2), "q", 2.0)]).await.unwrap();
    assert_eq!(metrics.aggregate("q", at(0), at(10)).await.unwrap().count, 2);
    let bad_cursor = metrics.range("q", at(0), at(10), PageRequest::after(999, 10)).await.unwrap_err();
    assert_eq!(bad_cursor.code(), "E6001");

    let batch = log.line("metrics.record_batch", "ok");
    assert!(batch.contains("tables=\"metrics\"") && batch.contains("rows=2"), "{batch}");
    assert!(log.line("metrics.aggregate", "ok").contains("rows=2"));
    let range = log.line("metrics.range", "error");
    assert!(range.contains("WARN") && range.contains("code=\"E6001\""), "{range}");
}

#[tokio::test]
async fn a_sample_time_is_a_utc_date_time_kept_to_the_millisecond() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::new(migrated(dir.path()).await);
    let taken = time::macros::datetime!(2026-12-04 19:30:00.123 UTC);
    metrics.record(NewMetric::at(taken, "q", 1.0)).await.unwrap();
    let end = taken + std::time::Duration::from_millis(1);
    let got = metrics.range("q", taken, end, PageRequest::first(10)).await.unwrap().items;
    assert_eq!(got.iter().map(|m| m.ts).collect::<Vec<_>>(), vec![taken]);
    assert_eq!(serde_json::to_value(&got[0]).unwrap()["ts"], "2026-12-04T19:30:00.123Z");
}
