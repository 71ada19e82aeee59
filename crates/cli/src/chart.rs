//! `ksync bench --svg`: throughput vs threads per lock, one panel per critical-section shape.
//!
//! Drawn with plotters' SVG backend alone (no font files: plotters estimates text extents
//! itself and the SVG carries `<text>` elements that the viewer renders in its own sans-serif).

use std::path::Path;

use plotters::prelude::*;

use crate::bench::Results;

/// Pixels per panel.
const PANEL: (u32, u32) = (900, 460);

/// Line colours for the locks under test (Tableau 10 without its grey); the baselines are
/// drawn in greys so the locks under test stand out.
const COLORS: [RGBColor; 9] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
/// Room at the right of each panel for the legend.
const LEGEND_WIDTH: u32 = 150;
const STD_COLOR: RGBColor = RGBColor(150, 150, 150);
const PARKING_LOT_COLOR: RGBColor = RGBColor(70, 70, 70);

/// Writes the chart of `results` to `path`.
pub fn write_svg(path: &Path, results: &Results) -> Result<(), String> {
    let shapes = results.plan.shapes();
    let height = PANEL.1 * u32::try_from(shapes.len()).unwrap_or(1) + 40;
    let root = SVGBackend::new(path, (PANEL.0, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let title = format!(
        "ksync bench: {}, {} cores ({} backend)",
        results.machine.cpu_model, results.machine.cores, results.machine.backend
    );
    let root = root
        .titled(&title, ("sans-serif", 20))
        .map_err(|e| e.to_string())?;
    let panels = root.split_evenly((shapes.len(), 1));
    for (panel, &(cs, ncs)) in panels.iter().zip(&shapes) {
        draw_panel(panel, results, cs, ncs).map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    results: &Results,
    cs: u32,
    ncs: u32,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let threads = &results.plan.threads;
    let n = threads.len();
    let top = results
        .cells
        .iter()
        .filter(|c| c.cs == cs && c.ncs == ncs)
        .map(|c| c.mops())
        .fold(0.0f64, f64::max);
    let y_max = if top > 0.0 { top * 1.15 } else { 1.0 };
    // Threads sit at evenly spaced positions 0..n (the counts are usually powers of two).
    let x_range = -0.3f64..(n as f64 - 0.7).max(0.3);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "throughput vs threads, cs={cs} ncs={ncs} work units ({})",
                match results.plan.rounds {
                    1 => "1 round".to_owned(),
                    n => format!("median of {n} rounds"),
                }
            ),
            ("sans-serif", 16),
        )
        .margin(12)
        .margin_right(LEGEND_WIDTH)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range, 0.0..y_max)?;
    let label_threads = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
            let t = threads[i as usize];
            let star = if results.machine.oversubscribed(t) {
                "*"
            } else {
                ""
            };
            format!("{t}{star}")
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_desc("threads (* = more threads than cores)")
        .y_desc("Mops/s")
        .x_labels(n.max(2))
        .x_label_formatter(&label_threads)
        .disable_x_mesh()
        .draw()?;

    let mut next_color = COLORS.iter().cycle();
    let mut legend = Vec::new();
    for info in &results.plan.locks {
        let color = match info.name {
            "std" => STD_COLOR,
            "parking_lot" => PARKING_LOT_COLOR,
            _ => *next_color.next().expect("cycle never ends"),
        };
        let points: Vec<(f64, f64)> = threads
            .iter()
            .enumerate()
            .filter_map(|(x, &t)| {
                results
                    .cell(info.name, t, cs, ncs)
                    .map(|c| (x as f64, c.mops()))
            })
            .collect();
        let width = if super::bench::BASELINES.contains(&info.name) {
            1
        } else {
            2
        };
        chart.draw_series(LineSeries::new(
            points.iter().copied(),
            color.stroke_width(width),
        ))?;
        legend.push((info.name, color, width));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    // The legend sits in the panel's right margin, outside the plotting area (which clips),
    // so it never hides data.
    let x0 = i32::try_from(area.dim_in_pixel().0.saturating_sub(LEGEND_WIDTH)).unwrap_or(0) + 10;
    for (i, (name, color, width)) in legend.iter().enumerate() {
        let y = 50 + 18 * i32::try_from(i).unwrap_or(0);
        area.draw(&PathElement::new(
            vec![(x0, y), (x0 + 22, y)],
            color.stroke_width(*width + 1),
        ))?;
        area.draw(&Circle::new((x0 + 11, y), 3, color.filled()))?;
        area.draw(&Text::new(
            name.to_string(),
            (x0 + 30, y - 6),
            ("sans-serif", 13),
        ))?;
    }
    Ok(())
}
