//! PNG line plots of mean curves, one line per method (token-F1@k, deletion/insertion,
//! perturbation), with a 95 % bootstrap band around each and the number of examples in the
//! title, drawn with plotters into an RGB buffer and encoded with `image`. Lines differ in
//! colour, dash and marker, so overlapping ones stay apart. Text uses the embedded DejaVu Sans,
//! so plots look the same on every machine.

use super::outcome::CurveValues;
use super::stats::{mean, quantile};
use crate::error::{CaligError, Result};
use plotters::prelude::*;
use rand::{Rng, SeedableRng};
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

/// Bootstrap resamples of the examples behind the bands.
const BAND_RESAMPLES: usize = 500;

/// Per method and point, the 2.5 / 97.5 % quantiles of the mean over resamples of the
/// examples. Paired: every method and point use the same resampled examples (seeded), as the
/// tables' paired intervals do, so two methods' bands move together.
fn bands(curve: &CurveValues) -> Vec<Vec<(f64, f64)>> {
    let n = curve.values.first().map_or(0, Vec::len);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let draws: Vec<Vec<usize>> = if n >= 2 {
        (0..BAND_RESAMPLES)
            .map(|_| (0..n).map(|_| rng.random_range(0..n)).collect())
            .collect()
    } else {
        Vec::new()
    };
    curve
        .values
        .iter()
        .map(|per_example| {
            (0..curve.xs.len())
                .map(|i| {
                    let at: Vec<f64> = per_example.iter().map(|v| v[i]).collect();
                    if draws.is_empty() {
                        let m = mean(&at);
                        return (m, m);
                    }
                    let mut means: Vec<f64> = draws
                        .iter()
                        .map(|d| d.iter().map(|&j| at[j]).sum::<f64>() / n as f64)
                        .collect();
                    means.sort_by(f64::total_cmp);
                    (quantile(&means, 0.025), quantile(&means, 0.975))
                })
                .collect()
        })
        .collect()
}

/// x tick labels: whole numbers without decimals (token-F1@k's k), else at most two decimals.
fn tick_label(x: f64, whole: bool) -> String {
    if whole {
        format!("{x:.0}")
    } else {
        let t = format!("{x:.2}");
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn err(e: impl std::fmt::Display) -> CaligError {
    CaligError::Unsupported(format!("plotting failed: {e}"))
}

/// Draws the mean of each method's curves; `title` and axis labels as given. The PNG goes to
/// `path`, the same plot in vectors (SVG, for papers) beside it.
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    curve: &CurveValues,
    methods: &[String],
) -> Result<()> {
    fonts();
    let plot = Plot {
        title,
        x_label,
        y_label,
        curve,
        methods,
    };
    let h = plot.height();
    let mut buf = vec![255u8; (W * h * 3) as usize];
    plot.draw(BitMapBackend::with_buffer(&mut buf, (W, h)).into_drawing_area())?;
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&buf, W, h, image::ExtendedColorType::Rgb8)
        .map_err(err)?;
    super::report::write_atomic(path, &png)?;
    let mut svg = String::new();
    plot.draw(SVGBackend::with_string(&mut svg, (W, h)).into_drawing_area())?;
    super::report::write_atomic(&path.with_extension("svg"), svg.as_bytes())
}

/// One plot's data and words, drawn on any plotters backend.
struct Plot<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    curve: &'a CurveValues,
    methods: &'a [String],
}

impl Plot<'_> {
    /// Tall enough for one legend line per method.
    fn height(&self) -> u32 {
        H.max(80 + 20 * self.methods.len() as u32)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<()> {
        let (title, x_label, y_label, curve, methods) = (
            self.title,
            self.x_label,
            self.y_label,
            self.curve,
            self.methods,
        );
        let means: Vec<Vec<f64>> = curve
            .values
            .iter()
            .map(|per_example| {
                (0..curve.xs.len())
                    .map(|i| mean(&per_example.iter().map(|v| v[i]).collect::<Vec<_>>()))
                    .collect()
            })
            .collect();
        let bands = bands(curve);
        let n = curve.values.first().map_or(0, Vec::len);
        let (x0, x1) = (
            curve.xs.first().copied().unwrap_or(0.0),
            curve.xs.last().copied().unwrap_or(1.0),
        );
        let whole_x = curve.xs.iter().all(|x| x.fract() == 0.0);
        let finite = means
            .iter()
            .flatten()
            .chain(bands.iter().flatten().flat_map(|(l, h)| [l, h]))
            .filter(|v| v.is_finite());
        let y_max = finite.clone().fold(0.0f64, |a, &b| a.max(b));
        let y_min = finite.fold(0.0f64, |a, &b| a.min(b));
        let pad = ((y_max - y_min) * 0.05).max(1e-3);
        root.fill(&WHITE).map_err(err)?;
        let (plot_area, legend) = root.split_horizontally(W - LEGEND);
        let caption = format!("{title} (n = {n})");
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(caption, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, (y_min - pad)..(y_max + pad))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&|x| tick_label(*x, whole_x))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(err)?;
        // Bands first, under every line.
        for (mi, band) in bands.iter().enumerate() {
            let mut outline: Vec<(f64, f64)> = curve
                .xs
                .iter()
                .zip(band)
                .map(|(&x, &(_, hi))| (x, hi))
                .collect();
            outline.extend(
                curve
                    .xs
                    .iter()
                    .zip(band)
                    .rev()
                    .map(|(&x, &(lo, _))| (x, lo)),
            );
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    colour(mi).mix(0.12).filled(),
                )))
                .map_err(err)?;
        }
        for (mi, (ys, name)) in means.iter().zip(methods).enumerate() {
            let colour = colour(mi);
            let style = ShapeStyle::from(&colour).stroke_width(2);
            let points: Vec<(f64, f64)> =
                curve.xs.iter().copied().zip(ys.iter().copied()).collect();
            // Every other line dashed, and past the palette's colours the dashes alternate
            // the other way, so that two lines never look alike.
            let dashed = (mi % 2 == 1) != (mi / COLOURS.len() % 2 == 1);
            if dashed {
                chart
                    .draw_series(DashedLineSeries::new(points.clone(), 8, 5, style))
                    .map_err(err)?;
            } else {
                chart
                    .draw_series(LineSeries::new(points.clone(), style))
                    .map_err(err)?;
            }
            draw_markers(&mut chart, &points, mi, colour)?;
            // The legend entry: a short line sample with its marker, and the method's name.
            let y = 40 + 20 * mi as i32;
            if dashed {
                legend
                    .draw(&PathElement::new([(8, y), (18, y)], style))
                    .and_then(|()| legend.draw(&PathElement::new([(26, y), (36, y)], style)))
                    .map_err(err)?;
            } else {
                legend
                    .draw(&PathElement::new([(8, y), (36, y)], style))
                    .map_err(err)?;
            }
            legend_marker(&legend, (22, y), mi, colour)?;
            legend
                .draw(&Text::new(name.clone(), (44, y - 8), ("sans-serif", 14)))
                .map_err(err)?;
        }
        legend
            .draw(&Text::new(
                "bands: 95 % bootstrap of the mean".to_string(),
                (8, 40 + 20 * methods.len() as i32),
                ("sans-serif", 13),
            ))
            .map_err(err)?;
        root.present().map_err(err)?;
        Ok(())
    }
}

/// The marker shapes, in turn per method: circle, triangle, cross, square.
fn draw_markers<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    points: &[(f64, f64)],
    mi: usize,
    colour: RGBColor,
) -> Result<()> {
    let style = colour.filled();
    match mi % 4 {
        0 => chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, style))),
        1 => chart.draw_series(points.iter().map(|&p| TriangleMarker::new(p, 5, style))),
        2 => chart.draw_series(
            points
                .iter()
                .map(|&p| Cross::new(p, 4, colour.stroke_width(2))),
        ),
        _ => chart.draw_series(
            points
                .iter()
                .map(|&p| EmptyElement::at(p) + Rectangle::new([(-4, -4), (4, 4)], style)),
        ),
    }
    .map(drop)
    .map_err(err)
}

/// The marker of method `mi` in the legend, at pixel `at`.
fn legend_marker<DB: DrawingBackend>(
    legend: &DrawingArea<DB, plotters::coord::Shift>,
    at: (i32, i32),
    mi: usize,
    colour: RGBColor,
) -> Result<()> {
    let style = colour.filled();
    match mi % 4 {
        0 => legend.draw(&Circle::new(at, 4, style)),
        1 => legend.draw(&TriangleMarker::new(at, 5, style)),
        2 => legend.draw(&Cross::new(at, 4, colour.stroke_width(2))),
        _ => legend.draw(&Rectangle::new(
            [(at.0 - 4, at.1 - 4), (at.0 + 4, at.1 + 4)],
            style,
        )),
    }
    .map_err(err)
}

use image::ImageEncoder as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_number_axes_have_no_decimals() {
        // token-F1@k's k read "10.0, 20.0".
        assert_eq!(tick_label(10.0, true), "10");
        assert_eq!(tick_label(0.5, false), "0.5");
        assert_eq!(tick_label(0.25, false), "0.25");
        assert_eq!(tick_label(1.0, false), "1");
        // Bands hold the mean; two examples vary, one does not.
        let c = CurveValues {
            xs: vec![0.0, 1.0],
            values: vec![vec![vec![1.0, 0.0], vec![3.0, 0.0]]],
        };
        let b = bands(&c);
        assert!(b[0][0].0 <= 2.0 && 2.0 <= b[0][0].1 && b[0][0].0 < b[0][0].1);
        assert_eq!(b[0][1], (0.0, 0.0));
    }

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
