//! Per-model counters and a latency histogram, rendered as Prometheus text
//! (`GET /metrics`, text format 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The counters of one model.
#[derive(Debug, Default)]
pub struct ModelMetrics {
    requests_ok: AtomicU64,
    requests_failed: AtomicU64,
    retried: AtomicU64,
    swaps: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_ns: AtomicU64,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    rollbacks: Mutex<BTreeMap<&'static str, u64>>,
    refused: Mutex<BTreeMap<&'static str, u64>>,
}

fn bump(map: &Mutex<BTreeMap<&'static str, u64>>, key: &'static str) {
    let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
    *m.entry(key).or_insert(0) += 1;
}

fn snapshot(map: &Mutex<BTreeMap<&'static str, u64>>) -> BTreeMap<&'static str, u64> {
    map.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

impl ModelMetrics {
    /// Records one answered `infer` request (`ok`: answered with outputs) and its latency.
    pub fn request(&self, ok: bool, latency: Duration) {
        if ok {
            self.requests_ok.fetch_add(1, Ordering::Relaxed);
        } else {
            self.requests_failed.fetch_add(1, Ordering::Relaxed);
        }
        let secs = latency.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ns.fetch_add(
            u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Records a failed plugin call of kind `kind` (`trap`, `fuel`, `deadline`, ...),
    /// whether or not the request was then retried.
    pub fn error(&self, kind: &'static str) {
        bump(&self.errors, kind);
    }

    /// Records a request retried on the previous version during probation.
    pub fn retried(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a promotion (a new active version).
    pub fn swap(&self) {
        self.swaps.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a rollback (`reason`: `probation` or `manual`).
    pub fn rollback(&self, reason: &'static str) {
        bump(&self.rollbacks, reason);
    }

    /// Records a refused install (`check`: the failed check).
    pub fn refused(&self, check: &'static str) {
        bump(&self.refused, check);
    }

    /// Promotions so far.
    pub fn swaps(&self) -> u64 {
        self.swaps.load(Ordering::Relaxed)
    }

    /// Rollbacks so far, all reasons.
    pub fn rollbacks(&self) -> u64 {
        snapshot(&self.rollbacks).values().sum()
    }
}

/// All models' metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    models: Mutex<BTreeMap<String, Arc<ModelMetrics>>>,
}

impl Metrics {
    /// The metrics of `model`, created on first use.
    pub fn model(&self, model: &str) -> Arc<ModelMetrics> {
        let mut models = self.models.lock().unwrap_or_else(|p| p.into_inner());
        models.entry(model.to_string()).or_default().clone()
    }

    /// Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let models: Vec<(String, Arc<ModelMetrics>)> = self
            .models
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, body: &dyn Fn(&mut String)| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            body(&mut out);
        };
        family(
            "edgeplug_requests_total",
            "counter",
            "Inference requests answered, by model and outcome.",
            &|o| {
                for (m, x) in &models {
                    let m = label(m);
                    let ok = x.requests_ok.load(Ordering::Relaxed);
                    let failed = x.requests_failed.load(Ordering::Relaxed);
                    let _ = writeln!(
                        o,
                        "edgeplug_requests_total{{model=\"{m}\",outcome=\"ok\"}} {ok}"
                    );
                    let _ = writeln!(
                        o,
                        "edgeplug_requests_total{{model=\"{m}\",outcome=\"error\"}} {failed}"
                    );
                }
            },
        );
        family(
            "edgeplug_request_duration_seconds",
            "histogram",
            "Inference request latency (queueing and plugin time), by model.",
            &|o| {
                for (m, x) in &models {
                    let m = label(m);
                    for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&x.buckets) {
                        let _ = writeln!(
                            o,
                            "edgeplug_request_duration_seconds_bucket{{model=\"{m}\",le=\"{bound}\"}} {}",
                            bucket.load(Ordering::Relaxed)
                        );
                    }
                    let count = x.latency_count.load(Ordering::Relaxed);
                    let sum = x.latency_sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
                    let _ = writeln!(
                        o,
                        "edgeplug_request_duration_seconds_bucket{{model=\"{m}\",le=\"+Inf\"}} {count}\n\
                         edgeplug_request_duration_seconds_sum{{model=\"{m}\"}} {sum}\n\
                         edgeplug_request_duration_seconds_count{{model=\"{m}\"}} {count}"
                    );
                }
            },
        );
        let keyed =
            |o: &mut String,
             name: &str,
             key: &str,
             get: &dyn Fn(&ModelMetrics) -> BTreeMap<&'static str, u64>| {
                for (m, x) in &models {
                    for (k, v) in get(x) {
                        let _ = writeln!(o, "{name}{{model=\"{}\",{key}=\"{k}\"}} {v}", label(m));
                    }
                }
            };
        family(
            "edgeplug_errors_total",
            "counter",
            "Failed plugin calls (retried or not), by model and kind.",
            &|o| keyed(o, "edgeplug_errors_total", "kind", &|x| snapshot(&x.errors)),
        );
        family(
            "edgeplug_retries_total",
            "counter",
            "Requests retried on the previous version during probation, by model.",
            &|o| {
                for (m, x) in &models {
                    let _ = writeln!(
                        o,
                        "edgeplug_retries_total{{model=\"{}\"}} {}",
                        label(m),
                        x.retried.load(Ordering::Relaxed)
                    );
                }
            },
        );
        family(
            "edgeplug_swaps_total",
            "counter",
            "Promotions of a new active version, by model.",
            &|o| {
                for (m, x) in &models {
                    let _ = writeln!(
                        o,
                        "edgeplug_swaps_total{{model=\"{}\"}} {}",
                        label(m),
                        x.swaps()
                    );
                }
            },
        );
        family(
            "edgeplug_rollbacks_total",
            "counter",
            "Rollbacks to the previous version, by model and reason (probation, manual).",
            &|o| {
                keyed(o, "edgeplug_rollbacks_total", "reason", &|x| {
                    snapshot(&x.rollbacks)
                })
            },
        );
        family(
            "edgeplug_installs_refused_total",
            "counter",
            "Refused installs, by model and failed check.",
            &|o| {
                keyed(o, "edgeplug_installs_refused_total", "check", &|x| {
                    snapshot(&x.refused)
                })
            },
        );
        out
    }
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
