//! The benchmark report generator: measures every model on native, wasmtime and wasmi in one
//! run, the cost of one `infer` call, and the gateway figures (cold start with and without a
//! compile-cache hit, hot-swap latency, KWS requests per second over HTTP: `gateway.rs`), and
//! writes `BENCHMARKS.md` with SVG plots. Run it through `benches/report.sh`, which
//! builds the runner variants, LiteRT figures and QEMU counts it reads; not part of CI.
//!
//! ```text
//! report [--out FILE] [--plots DIR] [--quick]   write the report (default ../BENCHMARKS.md)
//! report rss [RUNNER.wasm]                      print the peak RSS of this process after
//!                                               loading the four MLPerf plugins on wasmtime
//! report models [--quick]                       only the latency per model (native and each
//!                                               runner of EDGEPLUG_RUNNERS on wasmtime and
//!                                               wasmi, median and fastest), on stdout: a
//!                                               side-by-side check of a kernel change
//! report count MODEL RUNNER ENGINE              one warm inference of MODEL (demo, kws, vww,
//!                                               ic, ad) on ENGINE (native, wasmtime,
//!                                               wasmtime-limits: the daemon's fuel metering
//!                                               and epoch deadline, wasmi)
//!                                               with RUNNER (`shared` or a runner core
//!                                               module) inside `edgeplug_benches::measured`,
//!                                               for an instruction count that does not
//!                                               depend on the machine's load:
//!     valgrind --tool=callgrind --toggle-collect='*measured*' report count kws shared wasmi
//! ```
//!
//! Inputs (environment; each optional, the report says what was missing):
//! - `EDGEPLUG_RUNNERS`: `name=path,...` runner core modules to compare with the shared
//!   artifact (e.g. `scalar=...,simd128=...` from `report.sh`).
//! - `EDGEPLUG_LITERT_JSON`: the output of `benches/litert_bench.py`.
//! - `EDGEPLUG_M4_LOG`: a file with the output of `mcu-port/run-qemu.sh cortex-m4`
//!   (wasmi) and, after a line `--native`, of `run-qemu.sh --native cortex-m4`.
//! - `EDGEPLUG_RSS`: the output of `report rss`.

use anyhow::{Context, Result, bail};
use edgeplug::engine::{EngineConfig, PluginInstance, WasmiInstance, WasmtimeEngine};
use edgeplug_benches::{Timing, Workload, pack, read_runner, shared_models, time_calls, workloads};
use edgeplug_model::{Interpreter, model_stats};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod gateway;
mod plot;

/// KWS MACs (`../shared/models/BENCHMARK_ANCHORS.md` converts with the same counts).
const ESP32_S3_MHZ: f64 = 240.0;
/// Supply voltage of the power model (V).
const SUPPLY_V: f64 = 3.3;
/// Active current of one Xtensa LX7 core at 240 MHz running from internal SRAM (A); the
/// power model's assumption (ESP32-S3 datasheet, "Modem-sleep" current class, radios off).
const ACTIVE_A: f64 = 0.045;
/// Instructions per cycle assumed for the energy estimate.
const IPC: f64 = 1.0;

/// One engine's result on one model.
#[derive(Clone, Debug)]
enum Cell {
    /// Timed; outputs equal to the native executor's.
    Time(Timing),
    /// Not run, with why.
    Missing(String),
}

impl Cell {
    fn secs(&self) -> Option<f64> {
        match self {
            Cell::Time(t) => Some(t.median.as_secs_f64()),
            Cell::Missing(_) => None,
        }
    }
}

/// Everything measured for one model.
#[derive(Clone, Debug)]
struct ModelRow {
    short: &'static str,
    macs: u64,
    arena: usize,
    epm: usize,
    native: Timing,
    /// Per runner name: (component bytes, wasmtime, wasmi, linear memory bytes).
    runners: Vec<RunnerRow>,
}

#[derive(Clone, Debug)]
struct RunnerRow {
    runner: String,
    component: usize,
    wasmtime: Cell,
    wasmi: Cell,
    memory: usize,
}

struct Budget {
    min_samples: usize,
    max_samples: usize,
    min_time: Duration,
}

fn runners() -> Result<Vec<(String, Option<Vec<u8>>)>> {
    let mut out = vec![("shared".to_string(), None)];
    if let Ok(list) = std::env::var("EDGEPLUG_RUNNERS") {
        for item in list.split(',').filter(|s| !s.is_empty()) {
            let Some((name, path)) = item.split_once('=') else {
                bail!("EDGEPLUG_RUNNERS: `{item}` is not name=path");
            };
            let bytes = read_runner(Path::new(path))?;
            if bytes == edgeplug_plugins::RUNNER_MODULE {
                // The same bytes as the shared artifact: measure them once.
                out[0].0 = format!("shared = {name}");
            } else {
                out.push((name.to_string(), Some(bytes)));
            }
        }
    }
    Ok(out)
}

fn measure(
    w: &Workload,
    runners: &[(String, Option<Vec<u8>>)],
    budget: &Budget,
    slow_budget: &Budget,
) -> Result<ModelRow> {
    let model = edgeplug_tflite::import(&w.tflite).context("import")?;
    let stats = model_stats(&model);
    let mut interp = Interpreter::new(&model).context("prepare")?;
    let out_len = model.tensors[model.outputs[0] as usize]
        .byte_len()
        .context("output size")?;
    let mut expected = vec![0u8; out_len];
    let input = w.input.as_slice();
    let native = time_calls(
        || {
            interp
                .invoke(&[std::hint::black_box(input)], &mut [&mut expected])
                .expect("native invoke")
        },
        budget.min_samples,
        budget.max_samples,
        budget.min_time,
    );
    let epm = edgeplug_model::format::encode(&model).context("encode")?;
    let config = EngineConfig::default();
    let engine = WasmtimeEngine::new(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut rows = Vec::new();
    for (name, core) in runners {
        let component = pack(&epm, core.as_deref())?;
        let file = format!("{}-{name}.wasm", w.short);
        let mut wt = PluginInstance::Wasmtime(engine.compile(&file, &component)?.instantiate()?);
        let wasmtime = time_engine(&mut wt, input, &expected, budget);
        let memory = wt.memory_bytes();
        let wasmi = match WasmiInstance::load(&file, &component, &config) {
            Ok(i) => time_engine(&mut PluginInstance::Wasmi(i), input, &expected, slow_budget),
            Err(e) => Cell::Missing(format!("wasmi refused it: {e}")),
        };
        rows.push(RunnerRow {
            runner: name.clone(),
            component: component.len(),
            wasmtime,
            wasmi,
            memory,
        });
    }
    Ok(ModelRow {
        short: w.short,
        macs: stats.macs,
        arena: interp.arena_bytes(),
        epm: epm.len(),
        native,
        runners: rows,
    })
}

fn time_engine(p: &mut PluginInstance, input: &[u8], expected: &[u8], b: &Budget) -> Cell {
    match p.infer_raw(&[input]) {
        Ok(out) if out[0].data == expected => {}
        Ok(_) => return Cell::Missing("output differs from native".into()),
        Err(e) => return Cell::Missing(format!("infer failed: {e}")),
    }
    Cell::Time(time_calls(
        || {
            p.infer_raw(&[std::hint::black_box(input)]).expect("infer");
        },
        b.min_samples,
        b.max_samples,
        b.min_time,
    ))
}

/// One model's LiteRT result: (XNNPACK seconds, reference-kernel seconds, XNNPACK output
/// equal to TFLM's vector).
type LiteRtModel = (Option<f64>, Option<f64>, Option<bool>);

/// LiteRT results per model short name.
#[derive(Clone, Debug, Default)]
struct LiteRt {
    version: String,
    models: BTreeMap<String, LiteRtModel>,
    note: Option<String>,
}

fn litert() -> LiteRt {
    let Some(path) = std::env::var_os("EDGEPLUG_LITERT_JSON") else {
        return LiteRt {
            note: Some("EDGEPLUG_LITERT_JSON not set (run benches/report.sh)".into()),
            ..LiteRt::default()
        };
    };
    let parsed = std::fs::read(&path)
        .map_err(anyhow::Error::from)
        .and_then(|b| Ok(serde_json::from_slice::<serde_json::Value>(&b)?));
    let v = match parsed {
        Ok(v) => v,
        Err(e) => {
            return LiteRt {
                note: Some(format!("cannot read {}: {e}", Path::new(&path).display())),
                ..LiteRt::default()
            };
        }
    };
    let mut out = LiteRt {
        version: v["version"].as_str().unwrap_or("?").to_string(),
        note: v["note"].as_str().map(str::to_string),
        ..LiteRt::default()
    };
    if let Some(models) = v["models"].as_object() {
        for (k, m) in models {
            out.models.insert(
                k.clone(),
                (
                    m["xnnpack_s"].as_f64(),
                    m["reference_s"].as_f64(),
                    m["output_equal"].as_bool(),
                ),
            );
        }
    }
    out
}

/// Cortex-M4 instruction counts of one KWS inference: (native, wasmi, source).
fn m4_counts() -> (u64, u64, String) {
    const README: (u64, u64) = (28_044_640, 569_285_520);
    let Some(path) = std::env::var_os("EDGEPLUG_M4_LOG") else {
        return (
            README.0,
            README.1,
            "mcu-port/README.md (QEMU 10.0.2, not re-run by this report)".into(),
        );
    };
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let (wasmi, native) = text.split_once("\n--native").unwrap_or((&text, ""));
    let count = |s: &str| {
        s.lines()
            .filter_map(|l| l.strip_prefix("instructions: "))
            .filter_map(|n| n.trim().parse::<u64>().ok())
            .max()
    };
    match (count(native), count(wasmi)) {
        (Some(n), Some(w)) => (n, w, "QEMU run by report.sh (this run)".into()),
        _ => (
            README.0,
            README.1,
            format!(
                "mcu-port/README.md: the QEMU log {} had no counts",
                Path::new(&path).display()
            ),
        ),
    }
}

/// One row of BENCHMARK_ANCHORS.md's table: (result, CPU / clock, runtime, MHz, latency ms
/// per model in MLPERF order).
struct Anchor {
    result: String,
    cpu: String,
    runtime: String,
    mhz: f64,
    ms: [Option<f64>; 4],
}

fn anchors(shared: &Path) -> Vec<Anchor> {
    let text = std::fs::read_to_string(shared.join("BENCHMARK_ANCHORS.md")).unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if cells.len() != 7 || !cells[0].contains('`') {
            continue;
        }
        let words: Vec<&str> = cells[1].split_whitespace().collect();
        let Some(mhz) = words
            .windows(2)
            .find(|w| w[1].starts_with("MHz"))
            .and_then(|w| w[0].parse::<f64>().ok())
        else {
            continue;
        };
        let mut ms = [None; 4];
        for (i, c) in cells[3..7].iter().enumerate() {
            ms[i] = c
                .split(" ms")
                .next()
                .and_then(|v| v.trim().parse::<f64>().ok());
        }
        out.push(Anchor {
            result: cells[0].replace('`', ""),
            cpu: cells[1].to_string(),
            runtime: cells[2].to_string(),
            mhz,
            ms,
        });
    }
    out
}

fn fmt_time(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

fn fmt_cell(c: &Cell) -> String {
    match c {
        Cell::Time(t) => fmt_time(t.median.as_secs_f64()),
        Cell::Missing(_) => "n/a".into(),
    }
}

fn ratio(a: Option<f64>, b: f64) -> String {
    a.map_or("n/a".into(), |a| format!("{:.2}x", a / b))
}

fn rss_probe(runner: Option<&Path>) -> Result<()> {
    let core = runner.map(read_runner).transpose()?;
    let shared = shared_models().context("../shared/models is needed")?;
    let before = vm_hwm()?;
    let engine =
        WasmtimeEngine::new(&EngineConfig::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut keep = Vec::new();
    for w in workloads(Some(&shared))?
        .into_iter()
        .filter(|w| w.short != "demo")
    {
        let model = edgeplug_tflite::import(&w.tflite)?;
        let epm = edgeplug_model::format::encode(&model)?;
        let component = pack(&epm, core.as_deref())?;
        let mut inst =
            PluginInstance::Wasmtime(engine.compile(w.short, &component)?.instantiate()?);
        inst.infer_raw(&[&w.input])?;
        keep.push(inst);
    }
    println!("rss_before_kib: {before}");
    println!("rss_peak_kib: {}", vm_hwm()?);
    println!("plugins: {}", keep.len());
    Ok(())
}

fn vm_hwm() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/self/status")
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("rss") {
        return rss_probe(args.get(1).map(Path::new));
    }
    if args.first().map(String::as_str) == Some("count") {
        return count(&args[1..]);
    }
    let root = edgeplug_benches::workspace_root();
    let root = root.canonicalize().unwrap_or(root);
    let mut out = root.join("BENCHMARKS.md");
    let mut plots = root.join("benches/plots");
    let mut quick = false;
    let models_only = args.first().map(String::as_str) == Some("models");
    let mut it = args.iter().skip(usize::from(models_only));
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => out = PathBuf::from(it.next().context("--out needs a file")?),
            "--plots" => plots = PathBuf::from(it.next().context("--plots needs a directory")?),
            "--quick" => quick = true,
            other => bail!("unknown argument `{other}` (see the source's header)"),
        }
    }
    let budget = if quick {
        Budget {
            min_samples: 3,
            max_samples: 20,
            min_time: Duration::from_millis(200),
        }
    } else {
        Budget {
            min_samples: 20,
            max_samples: 2000,
            min_time: Duration::from_secs(2),
        }
    };
    let slow = if quick {
        Budget {
            min_samples: 1,
            max_samples: 5,
            min_time: Duration::from_millis(200),
        }
    } else {
        Budget {
            min_samples: 5,
            max_samples: 200,
            min_time: Duration::from_secs(3),
        }
    };
    let shared = shared_models().context("../shared/models is needed for the report")?;
    let runners = runners()?;
    let mut rows = Vec::new();
    for w in workloads(Some(&shared))? {
        eprintln!("measuring {} ...", w.short);
        let row = measure(&w, &runners, &budget, &slow)?;
        for r in &row.runners {
            eprintln!(
                "  {:8} native {} wasmtime {} wasmi {}",
                r.runner,
                fmt_time(row.native.median.as_secs_f64()),
                fmt_cell(&r.wasmtime),
                fmt_cell(&r.wasmi)
            );
        }
        rows.push(row);
    }
    if models_only {
        print_models(&rows);
        return Ok(());
    }
    eprintln!("measuring the call overhead ...");
    let call = gateway::call_cost(quick);
    let effort = gateway::Effort::new(quick);
    let loads = workloads(Some(&shared))?;
    let mut cold = Vec::new();
    for w in &loads {
        eprintln!("measuring the cold start of {} ...", w.short);
        cold.push(
            gateway::cold_start(w, effort).with_context(|| format!("cold start of {}", w.short)),
        );
    }
    let kws = loads
        .iter()
        .find(|w| w.short == "kws")
        .context("no KWS workload")?;
    eprintln!("measuring hot swaps ...");
    let swap = gateway::swap(kws, effort);
    eprintln!("measuring KWS requests per second ...");
    let serving = gateway::serving(kws, effort);
    let extra = Extra {
        call,
        cold,
        swap,
        serving,
    };
    let text = render(
        &rows,
        &litert(),
        m4_counts(),
        &anchors(&shared),
        &plots,
        &root,
        &extra,
    )?;
    std::fs::write(&out, text).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// `report count MODEL RUNNER ENGINE` (see the header): sets up, runs one inference to
/// warm up, then one inside [`edgeplug_benches::measured`], and checks that both gave the
/// native executor's output.
fn count(args: &[String]) -> Result<()> {
    let [model, runner, engine] = args else {
        bail!("usage: report count MODEL RUNNER ENGINE");
    };
    let shared = shared_models().context("../shared/models is needed")?;
    let w = workloads(Some(&shared))?
        .into_iter()
        .find(|w| w.short == model.as_str())
        .with_context(|| format!("no model `{model}` (demo, kws, vww, ic, ad)"))?;
    let m = edgeplug_tflite::import(&w.tflite).context("import")?;
    let mut interp = Interpreter::new(&m).context("prepare")?;
    let out_len = m.tensors[m.outputs[0] as usize]
        .byte_len()
        .context("output size")?;
    let mut expected = vec![0u8; out_len];
    interp.invoke(&[&w.input], &mut [&mut expected])?;
    let got = if engine == "native" {
        let mut out = vec![0u8; out_len];
        edgeplug_benches::measured(|| interp.invoke(&[&w.input], &mut [&mut out]))?;
        out
    } else {
        let core = match runner.as_str() {
            "shared" => None,
            path => Some(read_runner(Path::new(path))?),
        };
        let epm = edgeplug_model::format::encode(&m).context("encode")?;
        let component = pack(&epm, core.as_deref())?;
        let config = match engine.as_str() {
            "wasmtime-limits" => EngineConfig {
                fuel: Some(1 << 40),
                deadline: Some(Duration::from_secs(1)),
                ..EngineConfig::default()
            },
            _ => EngineConfig::default(),
        };
        let file = format!("{model}.wasm");
        let mut p = match engine.as_str() {
            "wasmtime" | "wasmtime-limits" => {
                let engine = WasmtimeEngine::new(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
                PluginInstance::Wasmtime(engine.compile(&file, &component)?.instantiate()?)
            }
            "wasmi" => PluginInstance::Wasmi(WasmiInstance::load(&file, &component, &config)?),
            other => bail!("unknown engine `{other}` (native, wasmtime, wasmtime-limits, wasmi)"),
        };
        let warm = p.infer_raw(&[&w.input])?;
        let out = edgeplug_benches::measured(|| p.infer_raw(&[&w.input]))?;
        if warm[0].data != out[0].data {
            bail!("the two inferences differ");
        }
        out[0].data.clone()
    };
    if got != expected {
        bail!("{engine} output differs from the native executor's");
    }
    eprintln!("{model} on {engine} ({runner}): output identical to native");
    Ok(())
}

/// `report models`: one line per model and engine, median and fastest call, and the
/// median's ratio to native.
fn print_models(rows: &[ModelRow]) {
    let t = |d: Duration| fmt_time(d.as_secs_f64());
    println!("| model | runner | engine | median | fastest | / native |");
    println!("|---|---|---|---:|---:|---:|");
    for row in rows {
        let native = row.native.median.as_secs_f64();
        let (m, f) = (t(row.native.median), t(row.native.min));
        println!("| {} | | native | {m} | {f} | 1.00x |", row.short);
        for r in &row.runners {
            for (engine, cell) in [("wasmtime", &r.wasmtime), ("wasmi", &r.wasmi)] {
                match cell {
                    Cell::Time(x) => println!(
                        "| {} | {} | {engine} | {} | {} | {:.2}x |",
                        row.short,
                        r.runner,
                        t(x.median),
                        t(x.min),
                        x.median.as_secs_f64() / native
                    ),
                    Cell::Missing(why) => {
                        println!("| {} | {} | {engine} | {why} | | |", row.short, r.runner)
                    }
                }
            }
        }
    }
}

/// The figures of `gateway.rs`: each measured independently, so one failing does not lose
/// the others (the report says what was not measured).
struct Extra {
    call: Result<gateway::CallCost>,
    cold: Vec<Result<gateway::ColdRow>>,
    swap: Result<gateway::Swap>,
    serving: Result<gateway::Serving>,
}

#[allow(clippy::too_many_lines, clippy::too_many_arguments)]
fn render(
    rows: &[ModelRow],
    lite: &LiteRt,
    (m4_native, m4_wasmi, m4_source): (u64, u64, String),
    anchors: &[Anchor],
    plots: &Path,
    root: &Path,
    extra: &Extra,
) -> Result<String> {
    let mut s = String::new();
    let rel = |p: &Path| {
        p.strip_prefix(root)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| p.display().to_string())
    };
    writeln!(s, "# edgeplug benchmarks\n")?;
    writeln!(
        s,
        "Generated by `benches/report.sh` (`cargo run --release -p edgeplug-benches --bin report`); \
         every figure below except the published MLPerf Tiny anchors and where a source is named was \
         measured in **one run on one machine**: {}. Times are medians of repeated calls \
         (`infer` with the input already in host memory; wasmtime and wasmi calls include the \
         canonical-ABI copies). The machine is shared with other jobs: absolute times are noisy, \
         ratios measured in the same run are the meaningful part.\n",
        machine()
    )?;
    // Latency table.
    let names: Vec<&str> = rows[0].runners.iter().map(|r| r.runner.as_str()).collect();
    writeln!(s, "## Latency per inference\n")?;
    write!(s, "| model | MACs | native | native MMAC/s |")?;
    for n in &names {
        write!(s, " wasmtime ({n}) | wasmi ({n}) |")?;
    }
    writeln!(s, " LiteRT XNNPACK 1 thread | LiteRT reference kernels |")?;
    write!(s, "|---|---:|---:|---:|")?;
    for _ in &names {
        write!(s, "---:|---:|")?;
    }
    writeln!(s, "---:|---:|")?;
    for r in rows {
        let native = r.native.median.as_secs_f64();
        write!(
            s,
            "| {} | {:.3} M | {} | {:.0} |",
            r.short,
            r.macs as f64 / 1e6,
            fmt_time(native),
            r.macs as f64 / native / 1e6
        )?;
        for rr in &r.runners {
            write!(s, " {} | {} |", fmt_cell(&rr.wasmtime), fmt_cell(&rr.wasmi))?;
        }
        let (x, refk, _) = lite.models.get(r.short).cloned().unwrap_or_default();
        writeln!(
            s,
            " {} | {} |",
            x.map_or("n/a".into(), fmt_time),
            refk.map_or("n/a".into(), fmt_time)
        )?;
    }
    writeln!(s, "\nRatios to native (same run):\n")?;
    write!(s, "| model |")?;
    for n in &names {
        write!(s, " wasmtime ({n}) | wasmi ({n}) |")?;
    }
    writeln!(s, " LiteRT XNNPACK | LiteRT reference |")?;
    write!(s, "|---|")?;
    for _ in &names {
        write!(s, "---:|---:|")?;
    }
    writeln!(s, "---:|---:|")?;
    for r in rows {
        let native = r.native.median.as_secs_f64();
        write!(s, "| {} |", r.short)?;
        for rr in &r.runners {
            write!(
                s,
                " {} | {} |",
                ratio(rr.wasmtime.secs(), native),
                ratio(rr.wasmi.secs(), native)
            )?;
        }
        let (x, refk, _) = lite.models.get(r.short).cloned().unwrap_or_default();
        writeln!(s, " {} | {} |", ratio(x, native), ratio(refk, native))?;
    }
    let mut notes = Vec::new();
    for r in rows {
        for rr in &r.runners {
            for (engine, c) in [("wasmtime", &rr.wasmtime), ("wasmi", &rr.wasmi)] {
                if let Cell::Missing(why) = c {
                    notes.push(format!("{} on {engine} ({}): {why}", r.short, rr.runner));
                }
            }
        }
    }
    if !notes.is_empty() {
        writeln!(s, "\nNot measured:\n")?;
        for n in notes {
            writeln!(s, "- {n}")?;
        }
    }
    writeln!(
        s,
        "\nEvery wasmtime and wasmi output above was checked equal, byte for byte, to the native \
         executor's before timing (a cell reads n/a otherwise). LiteRT {}: `ai_edge_litert` \
         `Interpreter(num_threads=1)` with its default delegate (XNNPACK) and with \
         `OpResolverType.BUILTIN_REF` (the reference kernels, no XNNPACK), on the same input files{}.",
        lite.version,
        lite.note
            .as_ref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default()
    )?;
    let eq: Vec<String> = lite
        .models
        .iter()
        .filter_map(|(k, v)| {
            v.2.map(|e| format!("{k} {}", if e { "identical" } else { "differs" }))
        })
        .collect();
    if !eq.is_empty() {
        writeln!(
            s,
            "LiteRT XNNPACK output against TFLM's vector: {}.",
            eq.join(", ")
        )?;
    }
    plot::latency(&plots.join("latency.svg"), rows, lite)?;
    plot::ratios(&plots.join("ratios.svg"), rows)?;
    writeln!(
        s,
        "\n![latency]({}) ![ratios]({})\n",
        rel(&plots.join("latency.svg")),
        rel(&plots.join("ratios.svg"))
    )?;

    match &extra.call {
        Ok(c) => gateway::render_call(&mut s, c)?,
        Err(e) => writeln!(s, "### Cost of one `infer` call\n\nNot measured: {e:#}\n")?,
    }

    // Memory.
    writeln!(s, "## Memory\n")?;
    write!(s, "| model | `.epm` bytes | arena bytes (native) |")?;
    for n in &names {
        write!(s, " component bytes ({n}) | linear memory ({n}) |")?;
    }
    writeln!(s)?;
    write!(s, "|---|---:|---:|")?;
    for _ in &names {
        write!(s, "---:|---:|")?;
    }
    writeln!(s)?;
    for r in rows {
        write!(s, "| {} | {} | {} |", r.short, r.epm, r.arena)?;
        for rr in &r.runners {
            write!(s, " {} | {} KiB |", rr.component, rr.memory / 1024)?;
        }
        writeln!(s)?;
    }
    match std::env::var_os("EDGEPLUG_RSS").map(std::fs::read_to_string) {
        Some(Ok(t)) => {
            let get = |k: &str| {
                t.lines()
                    .find_map(|l| l.strip_prefix(k))
                    .map(|v| v.trim().to_string())
                    .unwrap_or_else(|| "?".into())
            };
            writeln!(
                s,
                "\nPeak RSS of a host process (`report rss`, release build, wasmtime with the \
                 shared runner) after loading the four MLPerf Tiny plugins and running one \
                 inference each: **{} KiB** (VmHWM; {} KiB before loading them).",
                get("rss_peak_kib:"),
                get("rss_before_kib:")
            )?;
        }
        _ => writeln!(s, "\nPeak RSS: not measured (EDGEPLUG_RSS not set).")?,
    }
    writeln!(s)?;

    // MCU.
    let kws = rows.iter().find(|r| r.short == "kws");
    let kws_macs = kws.map_or(2_656_768, |r| r.macs) as f64;
    let n_per = m4_native as f64 / kws_macs;
    let w_per = m4_wasmi as f64 / kws_macs;
    writeln!(s, "## Microcontroller: instructions per MAC\n")?;
    writeln!(
        s,
        "Cortex-M4F (QEMU `mps2-an386`, `-icount shift=0`), KWS, one inference; source: {m4_source}.\n"
    )?;
    writeln!(s, "| KWS on Cortex-M4 | instructions | per MAC |")?;
    writeln!(s, "|---|---:|---:|")?;
    writeln!(s, "| native kernels | {m4_native} | {n_per:.1} |")?;
    writeln!(s, "| wasmi plugin | {m4_wasmi} | {w_per:.0} |")?;
    writeln!(
        s,
        "\nPublished MLPerf Tiny results (`../shared/models/BENCHMARK_ANCHORS.md`) as cycles per \
         MAC = clock × latency / MACs:\n"
    )?;
    writeln!(s, "| result | CPU | runtime | KWS | VWW | IC | AD |")?;
    writeln!(s, "|---|---|---|---:|---:|---:|---:|")?;
    let macs: Vec<f64> = ["kws", "vww", "ic", "ad"]
        .iter()
        .map(|m| {
            rows.iter()
                .find(|r| r.short == *m)
                .map_or(f64::NAN, |r| r.macs as f64)
        })
        .collect();
    for a in anchors {
        write!(s, "| {} | {} | {} |", a.result, a.cpu, a.runtime)?;
        for (i, ms) in a.ms.iter().enumerate() {
            match ms {
                Some(ms) => write!(s, " {:.2} |", a.mhz * 1e6 * ms / 1e3 / macs[i])?,
                None => write!(s, " n/a |")?,
            }
        }
        writeln!(s)?;
    }
    writeln!(
        s,
        "\nOur figures are instructions per MAC under QEMU (1 instruction = 1 tick); a Cortex-M4 \
         runs this integer code at roughly 1 instruction per cycle (loads and taken branches \
         take 2), so the cycle figures above are comparable to within that factor.\n"
    )?;
    writeln!(s, "### Energy estimate per inference (ESP32-S3 class)\n")?;
    writeln!(
        s,
        "Power model (an estimate, not a measurement): one core at {ESP32_S3_MHZ:.0} MHz, \
         {IPC:.1} instruction per cycle, {:.0} mA at {SUPPLY_V:.1} V ({:.0} mW) while computing, \
         so E = instructions / ({ESP32_S3_MHZ:.0} MHz × IPC) × {:.0} mW = {:.3} nJ per instruction. \
         KWS uses the Cortex-M4 counts above as a proxy for the Xtensa LX7's (same 32-bit RISC \
         class); the other models scale KWS's instructions per MAC by their MACs (an \
         extrapolation: per-MAC cost differs by layer mix).\n",
        ACTIVE_A * 1e3,
        ACTIVE_A * SUPPLY_V * 1e3,
        ACTIVE_A * SUPPLY_V * 1e3,
        ACTIVE_A * SUPPLY_V / (ESP32_S3_MHZ * 1e6 * IPC) * 1e9,
    )?;
    writeln!(
        s,
        "| model | MACs | native: time | native: energy | wasmi: time | wasmi: energy |"
    )?;
    writeln!(s, "|---|---:|---:|---:|---:|---:|")?;
    let joules = |instr: f64| instr / (ESP32_S3_MHZ * 1e6 * IPC) * ACTIVE_A * SUPPLY_V;
    for r in rows {
        let m = r.macs as f64;
        let (ni, wi) = if r.short == "kws" {
            (m4_native as f64, m4_wasmi as f64)
        } else {
            (n_per * m, w_per * m)
        };
        writeln!(
            s,
            "| {}{} | {:.3} M | {} | {:.0} µJ | {} | {:.0} µJ |",
            r.short,
            if r.short == "kws" {
                ""
            } else {
                " (extrapolated)"
            },
            m / 1e6,
            fmt_time(ni / (ESP32_S3_MHZ * 1e6 * IPC)),
            joules(ni) * 1e6,
            fmt_time(wi / (ESP32_S3_MHZ * 1e6 * IPC)),
            joules(wi) * 1e6
        )?;
    }

    writeln!(s)?;
    gateway::render_gateway(&mut s, &extra.cold, &extra.swap, &extra.serving)?;

    // Targets.
    writeln!(s, "## Targets (issue 8)\n")?;
    let mut lines = Vec::new();
    for r in rows {
        let n = r.native.median.as_secs_f64();
        for rr in &r.runners {
            let Some(t) = rr.wasmtime.secs() else {
                continue;
            };
            let x = t / n;
            lines.push(format!(
                "- {} ({} runner): wasmtime {:.2}x native (target ≤ 1.1x: {}); wasmi {} native (target ≤ 15x: {})",
                r.short,
                rr.runner,
                x,
                if x <= 1.1 { "met".into() } else { format!("missed by {:.2}x", x / 1.1) },
                ratio(rr.wasmi.secs(), n),
                match rr.wasmi.secs().map(|w| w / n) {
                    Some(w) if w <= 15.0 => "met".to_string(),
                    Some(w) => format!("missed by {:.1}x", w / 15.0),
                    None => "not measured".into(),
                }
            ));
            if let Some((Some(xnn), _, _)) = lite.models.get(r.short) {
                lines.push(format!(
                    "  - against LiteRT XNNPACK 1 thread: wasmtime takes {:.1}x its time (target < 1x: {}); native takes {:.1}x",
                    t / xnn,
                    if t < *xnn { "met".into() } else { format!("missed by {:.1}x", t / xnn) },
                    n / xnn,
                ));
            }
        }
    }
    for l in lines {
        writeln!(s, "{l}")?;
    }
    writeln!(
        s,
        "- Cortex-M4 native kernels: {n_per:.1} instructions/MAC on KWS (target ≤ 3: {}).",
        if n_per <= 3.0 {
            "met".into()
        } else {
            format!("missed by {:.1}x", n_per / 3.0)
        }
    )?;
    writeln!(s, "\n### Why the targets are missed\n")?;
    writeln!(
        s,
        "- **wasmtime vs native.** The native figures are the same Rust kernels compiled for \
         this host (x86-64 baseline: SSE2, which LLVM auto-vectorizes the dot products with). \
         A scalar Wasm guest has no vector instruction; the shared runner's kernels make up \
         for part of it with 64-bit arithmetic (`guest-sdk/kernels/src/swar.rs`): CONV_2D runs \
         as a GEMM over pairs of output pixels whose input vectors are packed into one `i64` \
         per element, so each `i64.mul` computes two multiply-accumulates (exact for dot \
         products shorter than 2^17), four output channels per pass. That is what brings the \
         convolution-heavy models near native. Depthwise and fully-connected layers get no \
         such pairing (each weight is used by one input value per pixel, and a \
         fully-connected layer has one input vector per call), so they stay at one multiply \
         per MAC: AD (fully-connected only) and VWW (depthwise layers and one output per 32 \
         MACs, so the per-output requantization weighs more) stay furthest from native. The \
         `simd128` runner (explicit `i32x4.dot_i16x8_s` / `extmul` inner loops, \
         `guest-sdk/kernels/src/simd.rs`) is faster still on wasmtime. What remains is Wasm's \
         bounds-checked memory accesses, the per-output requantization (64-bit multiplies in \
         scalar code on both sides), and the canonical-ABI copies of input and output per \
         call (largest relative cost on the small models: demo, AD)."
    )?;
    writeln!(
        s,
        "- **LiteRT XNNPACK.** XNNPACK runs hand-written AVX-512 VNNI / AVX2 micro-kernels \
         (this CPU has `avx512_vnni`: 64 int8 MACs per instruction) on pre-packed weights; a \
         Wasm guest is limited to 128-bit SIMD without an 8-bit dot product (relaxed-SIMD's \
         `i32x4.relaxed_dot_i8x16_i7x16_add_s` is excluded: its result is implementation-defined \
         for inputs outside i7, and gateway and MCU outputs must stay identical). XNNPACK also \
         does not compute TFLM's arithmetic: its outputs differ from TFLM's on the models marked \
         `differs` above, while every edgeplug engine is byte-identical with TFLM. The \
         comparable LiteRT figure is its reference-kernel column. Its XNNPACK times were \
         cross-checked (`benches/litert_bench.py` times `invoke()` alone): with a different input \
         set before every call and the output read after it, process CPU time per call equals \
         wall time (one thread) and the outputs change with the inputs, so the figures are real \
         computation, not a cached result."
    )?;
    writeln!(
        s,
        "- **Cortex-M4 native instructions per MAC.** The MCU build of the kernels uses the Arm \
         DSP extension for CONV_2D and DEPTHWISE_CONV_2D (`SMLAD` on `SXTB16`-unpacked \
         operands, register-blocked over two output pixels, `guest-sdk/kernels/src/dsp.rs`), \
         which is how CMSIS-NN and X-CUBE-AI reach 1.4-4.8 cycles/MAC above. KWS is measured \
         here; mcu-port/README.md has IC ResNet-8 at 1.76 and VWW MobileNet at 3.48 \
         instructions/MAC (QEMU, same firmware): VWW misses 3 because it has one output per 32 \
         MACs (231,552 outputs for 7.5 M MACs), so the per-output requantization, clamp and \
         store and the depthwise layers' per-pixel set-up outweigh the MACs. None of this \
         applies to the Wasm artifact, which runs its scalar-Wasm kernels on wasmi."
    )?;
    writeln!(
        s,
        "- **wasmi.** An interpreter pays a dispatch per Wasm instruction, so its cost \
         follows the number of Wasm instructions executed, not their width. A plain scalar \
         multiply-accumulate is about six (two `i32.load8_s`, `i32.mul`, `i32.add`, loop \
         control); the packed GEMM of the convolutions spends one packed-input load and, per \
         output channel, a weight load, an `i64.mul` and an `i64.add` for two MACs. KWS \
         takes 31.1 M units of wasmi fuel per inference with it, 71.3 M without \
         (mcu-port/README.md). With `simd128` one `i32x4.dot_i16x8_s` covers eight MACs, but \
         wasmi (with its `simd` feature) computes a `v128` instruction lane by lane in \
         portable code, so on this host the simd128 runner is not reliably faster than the \
         shared one on wasmi (compare the two wasmi columns), and on the MCU cores, which \
         have no 128-bit registers, it is slower (next section)."
    )?;
    writeln!(s, "\n### The shared artifact: scalar\n")?;
    // simd128's wasmtime speed-up over the shared runner, per model, in this run.
    let speedups: Vec<f64> = rows
        .iter()
        .filter_map(|r| {
            let shared = r.runners.iter().find(|x| x.runner.starts_with("shared"))?;
            let simd = r.runners.iter().find(|x| x.runner.contains("simd128"))?;
            Some(shared.wasmtime.secs()? / simd.wasmtime.secs()?)
        })
        .collect();
    let speedup = match (
        speedups.iter().copied().reduce(f64::min),
        speedups.iter().copied().reduce(f64::max),
    ) {
        (Some(lo), Some(hi)) => format!("{lo:.1}-{hi:.1}x faster per model in this run"),
        _ => "faster (not measured in this run)".to_string(),
    };
    writeln!(
        s,
        "One signed artifact must run on the gateway (wasmtime) and on the MCU (wasmi). It is \
         built scalar, with 64 KiB pages and a 16 KiB stack (`plugins/build.rs`), and its \
         kernels are written for scalar Wasm (`guest-sdk/kernels/src/swar.rs`). simd128 would \
         make wasmtime {speedup} (columns above), but on the MCU it is the slower of the two \
         and needs wasmi's `simd` feature on every MCU host (mcu-port/README.md, \"simd128 on \
         the MCU\", KWS under QEMU, one run of each): Cortex-M4 190.5 instructions/MAC \
         against 95.4 for the scalar artifact, RV32IMAC 411.1 against 249.8 (wasmi computes \
         each `v128` lane in turn; the scalar GEMM's `i64.mul` does two MACs in one dispatch), \
         for +258,684 bytes of firmware flash on Cortex-M4 (firmware plus plugin 1.21 MiB, \
         over the 1 MiB budget the scalar one meets with 53.8 KB to spare) and +447,460 on \
         RV32IMAC. A firmware built without the feature refuses a simd128 plugin with an \
         error that says so. Where the shared artifact misses the wasmtime target above, a \
         gateway-only simd128 plugin (`edgeplug pack --simd128`: manifest target `wasmtime` \
         only) is the way to get closer to it (see the simd128 rows of the targets)."
    )?;
    Ok(s)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    format!("{cpu}, {cores} logical cores, {}", std::env::consts::ARCH)
}
