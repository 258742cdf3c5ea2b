//! Metrics: recording (one and chunked batches), time ranges, aggregates, retention.

use serde_json::json;
use strata_core::ConstraintKind;
use strata_repo::{Metrics, NewMetric, PageRequest};

use crate::migrated;
use crate::rows::{assert_constraint, count};

#[tokio::test]
async fn a_range_is_half_open_in_time_order_and_of_one_series() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::new(migrated(dir.path()).await);
    for ts in [50, 10, 40, 20, 30] {
        metrics.record(NewMetric::at(ts, "latency", ts as f64).labels(json!({"host": "a"}))).await.unwrap();
        metrics.record(NewMetric::at(ts, "errors", 1.0)).await.unwrap();
    }
    let got = metrics.range("latency", 20, 50, PageRequest::first(100)).await.unwrap();
    assert_eq!(got.items.iter().map(|m| m.ts).collect::<Vec<_>>(), vec![20, 30, 40]);
    assert!(got.items.iter().all(|m| m.name == "latency" && m.labels == json!({"host": "a"})));
    assert_eq!(got.next, None);
}

#[tokio::test]
async fn range_pages_visit_every_sample_once_even_with_equal_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::new(migrated(dir.path()).await);
    let samples: Vec<NewMetric> =
        (0..40_i32).map(|i| NewMetric::at(i64::from(i / 7), "cpu", f64::from(i))).collect();
    metrics.record_batch(samples).await.unwrap();
    let mut seen = Vec::new();
    let mut page = PageRequest::first(4);
    loop {
        let got = metrics.range("cpu", 0, 100, page).await.unwrap();
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
        metrics.record(NewMetric::at(ts, "q", value)).await.unwrap();
    }
    let agg = metrics.aggregate("q", 1, 9).await.unwrap();
    assert_eq!(
        (agg.count, agg.min, agg.max, agg.avg, agg.sum),
        (3, Some(1.0), Some(7.0), Some(4.0), Some(12.0))
    );
    let empty = metrics.aggregate("q", 100, 200).await.unwrap();
    assert_eq!((empty.count, empty.min, empty.avg), (0, None, None));
}

#[tokio::test]
async fn a_batch_larger_than_a_chunk_writes_every_sample() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let metrics = Metrics::new(pool.clone());
    let samples: Vec<NewMetric> = (0..1_234).map(|i| NewMetric::at(i, "rps", 1.0)).collect();
    assert_eq!(metrics.record_batch(samples).await.unwrap(), 1_234);
    assert_eq!(count(&pool, "metrics").await, 1_234);
    assert_eq!(metrics.aggregate("rps", 0, 2_000).await.unwrap().count, 1_234);
}

#[tokio::test]
async fn purge_before_drops_old_samples_of_every_series() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let metrics = Metrics::new(pool.clone());
    let samples: Vec<NewMetric> =
        (0..1_100).map(|i| NewMetric::at(i, if i % 2 == 0 { "a" } else { "b" }, 0.0)).collect();
    metrics.record_batch(samples).await.unwrap();
    assert_eq!(metrics.purge_before(1_050).await.unwrap(), 1_050);
    assert_eq!(count(&pool, "metrics").await, 50);
}

#[tokio::test]
async fn an_empty_series_name_is_a_check_violation_and_its_batch_chunk_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let metrics = Metrics::new(pool.clone());
    assert_constraint(&metrics.record(NewMetric::at(1, "", 1.0)).await.unwrap_err(), ConstraintKind::Check);
    let batch = vec![NewMetric::at(1, "ok", 1.0), NewMetric::at(2, "", 1.0)];
    assert_constraint(&metrics.record_batch(batch).await.unwrap_err(), ConstraintKind::Check);
    assert_eq!(count(&pool, "metrics").await, 0);
}
