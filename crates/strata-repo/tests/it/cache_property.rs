//! The cache never returns an expired entry, as a property: random sequences of
//! set, get, touch, delete, sweep and clock moves give the answers of an in-memory
//! map that drops an entry at its expiry time, and a sweep leaves exactly the live
//! entries in the table.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use strata_repo::clock::ManualClock;
use strata_repo::{Cache, CacheConfig, CacheKey};

const START: i64 = 1_700_000_000_000;

#[derive(Debug, Clone)]
enum Op {
    Set { key: u8, value: u32, ttl_ms: Option<u64> },
    Get { key: u8 },
    Touch { key: u8, ttl_ms: Option<u64> },
    Delete { key: u8 },
    Sweep,
    Advance { ms: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..4;
    let ttl = prop::option::weighted(0.8, 1u64..60);
    prop_oneof![
        3 => (key.clone(), any::<u32>(), ttl.clone()).prop_map(|(key, value, ttl_ms)| Op::Set { key, value, ttl_ms }),
        4 => key.clone().prop_map(|key| Op::Get { key }),
        1 => (key.clone(), ttl).prop_map(|(key, ttl_ms)| Op::Touch { key, ttl_ms }),
        1 => key.prop_map(|key| Op::Delete { key }),
        1 => Just(Op::Sweep),
        3 => (0i64..40).prop_map(|ms| Op::Advance { ms }),
    ]
}

/// The reference: value and expiry per key; an entry is live while now < expiry.
#[derive(Default)]
struct Model {
    entries: HashMap<u8, (u32, Option<i64>)>,
}

impl Model {
    fn live(&self, key: u8, now: i64) -> Option<u32> {
        self.entries.get(&key).filter(|(_, exp)| exp.is_none_or(|e| now < e)).map(|(v, _)| *v)
    }
}

#[test]
fn the_cache_never_returns_an_expired_entry_and_sweeps_leave_exactly_the_live_ones() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pool = runtime.block_on(crate::migrated(dir.path()));
    let clock = ManualClock::new(START);
    let cache = Cache::with_config(pool.clone(), CacheConfig::default(), Arc::new(clock.clone())).unwrap();
    let case = AtomicU64::new(0);
    let mut runner =
        TestRunner::new(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() });
    runner
        .run(&prop::collection::vec(op(), 1..60), |ops| {
            // Each case its own namespace and a clean table.
            let ns = format!("case{}", case.fetch_add(1, Ordering::SeqCst));
            runtime.block_on(pool.write(|c| Ok(c.execute("DELETE FROM cache", [])?))).unwrap();
            let mut now = START;
            clock.set(now);
            let mut model = Model::default();
            for (i, op) in ops.iter().enumerate() {
                let key = |k: &u8| k.to_string();
                match op {
                    Op::Set { key: k, value, ttl_ms } => {
                        let ttl = ttl_ms.map(Duration::from_millis);
                        runtime
                            .block_on(cache.set(CacheKey { namespace: &ns, key: &key(k) }, value, ttl))
                            .unwrap();
                        model.entries.insert(*k, (*value, ttl_ms.map(|t| now + t as i64)));
                    }
                    Op::Get { key: k } => {
                        let got = runtime
                            .block_on(cache.get::<u32>(CacheKey { namespace: &ns, key: &key(k) }))
                            .unwrap();
                        prop_assert_eq!(got, model.live(*k, now), "op {} {:?} at +{}", i, op, now - START);
                    }
                    Op::Touch { key: k, ttl_ms } => {
                        let ttl = ttl_ms.map(Duration::from_millis);
                        let touched = runtime
                            .block_on(cache.touch(CacheKey { namespace: &ns, key: &key(k) }, ttl))
                            .unwrap();
                        let live = model.live(*k, now).is_some();
                        prop_assert_eq!(touched, live, "op {} {:?}", i, op);
                        if live {
                            model.entries.get_mut(k).unwrap().1 = ttl_ms.map(|t| now + t as i64);
                        }
                    }
                    Op::Delete { key: k } => {
                        let deleted = runtime
                            .block_on(cache.delete(CacheKey { namespace: &ns, key: &key(k) }))
                            .unwrap();
                        prop_assert_eq!(deleted, model.entries.remove(k).is_some(), "op {} {:?}", i, op);
                    }
                    Op::Sweep => {
                        runtime.block_on(cache.sweep_expired(2)).unwrap();
                        model.entries.retain(|_, (_, exp)| exp.is_none_or(|e| now < e));
                        let rows: i64 =
                            runtime
                                .block_on(pool.read(|c| {
                                    Ok(c.query_row("SELECT count(*) FROM cache", [], |r| r.get(0))?)
                                }))
                                .unwrap();
                        prop_assert_eq!(rows, model.entries.len() as i64, "op {} sweep", i);
                    }
                    Op::Advance { ms } => {
                        now += ms;
                        clock.set(now);
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}
