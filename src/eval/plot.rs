//! PNG line plots of mean curves, one line per method (token-F1@k, deletion/insertion,
//! perturbation), drawn with plotters into an RGB buffer and encoded with `image`. Text uses
//! the embedded DejaVu Sans, so plots look the same on every machine.

use super::outcome::CurveValues;
use super::stats::mean;
use crate::error::{CaligError, Result};
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

const W: u32 = 1200;
const H: u32 = 560;
/// Width of the legend column on the right.
const LEGEND: u32 = 330;

/// Okabe–Ito colour-blind-safe palette, then greys.
const COLOURS: [(u8, u8, u8); 10] = [
    (0, 114, 178),
    (213, 94, 0),
    (0, 158, 115),
    (204, 121, 167),
    (230, 159, 0),
    (86, 180, 233),
    (240, 228, 66),
    (0, 0, 0),
    (120, 120, 120),
    (180, 180, 180),
];

fn colour(i: usize) -> RGBColor {
    let (r, g, b) = COLOURS[i % COLOURS.len()];
    RGBColor(r, g, b)
}

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

fn err(e: impl std::fmt::Display) -> CaligError {
    CaligError::Unsupported(format!("plotting failed: {e}"))
}

/// Draws the mean of each method's curves; `title` and axis labels as given.
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    curve: &CurveValues,
    methods: &[String],
) -> Result<()> {
    fonts();
    let means: Vec<Vec<f64>> = curve
        .values
        .iter()
        .map(|per_example| {
            (0..curve.xs.len())
                .map(|i| mean(&per_example.iter().map(|v| v[i]).collect::<Vec<_>>()))
                .collect()
        })
        .collect();
    let (x0, x1) = (
        curve.xs.first().copied().unwrap_or(0.0),
        curve.xs.last().copied().unwrap_or(1.0),
    );
    let finite = means.iter().flatten().filter(|v| v.is_finite());
    let y_max = finite.clone().fold(0.0f64, |a, &b| a.max(b));
    let y_min = finite.fold(0.0f64, |a, &b| a.min(b));
    let pad = ((y_max - y_min) * 0.05).max(1e-3);
    // Tall enough for one legend line per method.
    let h = H.max(60 + 20 * methods.len() as u32);
    let mut buf = vec![255u8; (W * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (W, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (plot_area, legend) = root.split_horizontally(W - LEGEND);
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, (y_min - pad)..(y_max + pad))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(err)?;
        for (mi, (ys, name)) in means.iter().zip(methods).enumerate() {
            let colour = colour(mi);
            // Past the palette, lines repeat its colours dashed.
            let style = ShapeStyle::from(&colour).stroke_width(2);
            let points: Vec<(f64, f64)> =
                curve.xs.iter().copied().zip(ys.iter().copied()).collect();
            if mi < COLOURS.len() {
                chart
                    .draw_series(LineSeries::new(points.clone(), style))
                    .map_err(err)?;
            } else {
                chart
                    .draw_series(DashedLineSeries::new(points.clone(), 6, 4, style))
                    .map_err(err)?;
            }
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                .map_err(err)?;
            // The legend entry: a short line sample and the method's name.
            let y = 40 + 20 * mi as i32;
            {
                let sample = [(8, y), (34, y)];
                if mi < COLOURS.len() {
                    legend.draw(&PathElement::new(sample, style)).map_err(err)?;
                } else {
                    legend
                        .draw(&PathElement::new([(8, y), (16, y)], style))
                        .and_then(|()| legend.draw(&PathElement::new([(24, y), (34, y)], style)))
                        .map_err(err)?;
                }
                legend
                    .draw(&Text::new(name.clone(), (42, y - 8), ("sans-serif", 14)))
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&buf, W, h, image::ExtendedColorType::Rgb8)
        .map_err(err)?;
    super::report::write_atomic(path, &png)
}

use image::ImageEncoder as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_png_with_one_line_per_method() {
        let dir = tempfile::tempdir().unwrap();
        let c = CurveValues {
            xs: vec![0.0, 0.5, 1.0],
            values: vec![vec![vec![1.0, 0.5, 0.0]], vec![vec![1.0, 0.8, 0.6]]],
        };
        let p = dir.path().join("c.png");
        line_plot(&p, "t", "x", "y", &c, &["a".into(), "b".into()]).unwrap();
        let img = image::open(&p).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (W, H));
        // The first two palette colours appear (the two lines).
        for (r, g, b) in &COLOURS[..2] {
            assert!(
                img.pixels().any(|p| p.0 == [*r, *g, *b]),
                "colour {r},{g},{b}"
            );
        }
    }
}
