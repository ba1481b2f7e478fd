//! The report's SVG plots (plotters, SVG backend: text is left to the SVG viewer's fonts).

use super::{Cell, LiteRt, ModelRow};
use anyhow::{Result, anyhow};
use plotters::prelude::*;
use std::path::Path;

const COLORS: [RGBColor; 8] = [
    RGBColor(0x33, 0x33, 0x33),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
];

/// Grouped bars on a log scale: one group per model, one bar per series; `None` values are
/// left out.
fn grouped_bars(
    path: &Path,
    title: &str,
    y_label: &str,
    models: &[&str],
    series: &[(String, Vec<Option<f64>>)],
) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let values = series.iter().flat_map(|(_, v)| v.iter().flatten().copied());
    let (lo, hi) = values.fold((f64::INFINITY, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() || hi <= 0.0 {
        return Err(anyhow!("{title}: nothing to plot"));
    }
    let (lo, hi) = (lo / 2.0, hi * 2.0);
    let root = SVGBackend::new(path, (960, 540)).into_drawing_area();
    let err = |e: DrawingAreaErrorKind<_>| anyhow!("plotting {}: {e:?}", path.display());
    root.fill(&WHITE).map_err(err)?;
    let n = series.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..models.len() as f64, (lo..hi).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(models.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 && i < models.len() {
                models[i].to_string()
            } else {
                String::new()
            }
        })
        .y_desc(y_label)
        .y_label_formatter(&|y| format!("{y:.3}"))
        .draw()
        .map_err(err)?;
    for (k, (name, vals)) in series.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let bars = vals.iter().enumerate().filter_map(|(i, v)| {
            let v = (*v)?;
            let x0 = i as f64 + 0.1 + 0.8 * k as f64 / n;
            let x1 = x0 + 0.8 / n;
            Some(Rectangle::new([(x0, lo), (x1, v)], color.filled()))
        });
        chart
            .draw_series(bars)
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

fn secs(c: &Cell) -> Option<f64> {
    c.secs().map(|s| s * 1e3)
}

/// Latency per model (ms, log scale): native, each runner on wasmtime and wasmi, LiteRT.
pub(super) fn latency(path: &Path, rows: &[ModelRow], lite: &LiteRt) -> Result<()> {
    let models: Vec<&str> = rows.iter().map(|r| r.short).collect();
    let mut series = vec![(
        "native".to_string(),
        rows.iter()
            .map(|r| Some(r.native.median.as_secs_f64() * 1e3))
            .collect::<Vec<_>>(),
    )];
    for (k, rr) in rows[0].runners.iter().enumerate() {
        series.push((
            format!("wasmtime ({})", rr.runner),
            rows.iter().map(|r| secs(&r.runners[k].wasmtime)).collect(),
        ));
        series.push((
            format!("wasmi ({})", rr.runner),
            rows.iter().map(|r| secs(&r.runners[k].wasmi)).collect(),
        ));
    }
    if !lite.models.is_empty() {
        series.push((
            "LiteRT XNNPACK 1 thread".into(),
            rows.iter()
                .map(|r| lite.models.get(r.short).and_then(|m| m.0).map(|s| s * 1e3))
                .collect(),
        ));
    }
    grouped_bars(path, "Latency per inference", "ms (log)", &models, &series)
}

/// Time relative to native per model (log scale), per engine and runner.
pub(super) fn ratios(path: &Path, rows: &[ModelRow]) -> Result<()> {
    let models: Vec<&str> = rows.iter().map(|r| r.short).collect();
    let mut series = Vec::new();
    for (k, rr) in rows[0].runners.iter().enumerate() {
        for (engine, pick) in [
            (
                "wasmtime",
                (|r: &super::RunnerRow| &r.wasmtime) as fn(&super::RunnerRow) -> &Cell,
            ),
            ("wasmi", |r: &super::RunnerRow| &r.wasmi),
        ] {
            series.push((
                format!("{engine} ({})", rr.runner),
                rows.iter()
                    .map(|r| {
                        pick(&r.runners[k])
                            .secs()
                            .map(|s| s / r.native.median.as_secs_f64())
                    })
                    .collect(),
            ));
        }
    }
    grouped_bars(
        path,
        "Time / native time",
        "x native (log)",
        &models,
        &series,
    )
}
