//! The HTML reports in a real browser (headless Chromium, Debian's `chromium`): each kind of
//! report (one method, an unsigned method, several methods side by side, a truncated
//! multi-paragraph document with its relevance flow, images with the per-layer grid, a batch
//! page from `calig render`) renders, is self-contained (no scripts, no network), and shows its
//! heat map. The screenshots are written to target/tmp/html-screenshots/ (docs/screenshots/
//! keeps one per kind). Without a `chromium` binary the test says so and checks only the HTML.

mod common;

use common::{calig, fixture, stderr};
use std::path::{Path, PathBuf};

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH")?
            .to_str()?
            .split(':')
            .map(|d| Path::new(d).join(name))
            .find(|p| p.is_file())
    })
}

/// Pixels of the screenshot in the report's orange, purple or (unsigned) blue: a heat map.
fn heat_pixels(png: &Path) -> usize {
    let img = image::open(png).unwrap().to_rgb8();
    img.pixels()
        .filter(|p| {
            let [r, g, b] = p.0.map(i32::from);
            let orange = r - g > 60 && r - b > 100;
            let purple = b - g > 40 && r - g > 15;
            let blue = b - r > 60 && b > g;
            orange || purple || blue
        })
        .count()
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("html-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn report(args: &[&str], name: &str) -> (String, PathBuf) {
    let dir = screenshot_dir();
    let html = dir.join(format!("{name}.html"));
    let mut a = args.to_vec();
    a.extend(["--format", "html", "--output", html.to_str().unwrap()]);
    let o = calig(&a);
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    (std::fs::read_to_string(&html).unwrap(), html)
}

#[test]
fn reports_render_in_chromium_with_their_heat_maps() {
    let bert = fixture("bert");
    let vit = fixture("vit");
    let image = vit.join("image.png");
    let long = "a gorgeous , witty movie .\n\nbut the plot is dull and long . ".repeat(8);
    let batch = common::gae_batch(
        &screenshot_dir(),
        "rows",
        &[("a", "a gorgeous , witty movie"), ("b", "dull and long")],
    );
    let cases = [
        (
            vec![
                "explain",
                "--model",
                bert.to_str().unwrap(),
                "--method",
                "calig",
                "--steps",
                "8",
                "a gorgeous , witty movie",
            ],
            "text-calig",
        ),
        (
            vec![
                "explain",
                "--model",
                bert.to_str().unwrap(),
                "--method",
                "gae",
                "a gorgeous , witty movie",
            ],
            "text-gae-unsigned",
        ),
        (
            vec![
                "explain",
                "--model",
                vit.to_str().unwrap(),
                "--method",
                "attnlrp",
                "--image",
                image.to_str().unwrap(),
            ],
            "image-attnlrp",
        ),
        (
            vec![
                "explain",
                "--model",
                bert.to_str().unwrap(),
                "--method",
                "calig,ig,gae",
                "--steps",
                "8",
                "a gorgeous , witty movie",
            ],
            "text-methods",
        ),
        (
            vec![
                "explain",
                "--model",
                bert.to_str().unwrap(),
                "--method",
                "lig",
                "--steps",
                "8",
                &long,
            ],
            "text-long",
        ),
        (
            vec![
                "explain",
                "--model",
                vit.to_str().unwrap(),
                "--method",
                "calig",
                "--steps",
                "4",
                "--image",
                image.to_str().unwrap(),
            ],
            "image-calig-layers",
        ),
        (vec!["render", batch.to_str().unwrap()], "batch-render"),
    ];
    let browser = chromium();
    if browser.is_none() {
        eprintln!("chromium not found: checking the HTML only (apt-get install chromium)");
    }
    for (args, name) in cases {
        let (html, path) = report(&args, name);
        assert!(!html.contains("<script"), "{name}: no scripts");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{name}: no network"
        );
        assert!(html.contains("class=\"ramp\""), "{name}: a colour bar");
        match name {
            "text-methods" => assert_eq!(
                html.matches("<section class=\"method\">").count(),
                3,
                "{name}: three methods side by side"
            ),
            "text-long" => {
                assert!(html.contains("truncated here"), "{name}: the cut is shown");
                assert!(
                    html.contains("white-space:pre-wrap"),
                    "{name}: spacing kept"
                );
                assert!(
                    html.contains("class=\"flow\""),
                    "{name}: the relevance flow"
                );
            }
            "image-calig-layers" => {
                assert!(
                    html.contains("class=\"layergrid\""),
                    "{name}: a map per layer"
                )
            }
            "batch-render" => assert_eq!(
                html.matches("<section class=\"item\"").count(),
                2,
                "{name}: one section per row"
            ),
            _ => {}
        }
        if name.contains("unsigned") {
            assert!(
                html.contains("unsigned"),
                "{name}: says its scores are unsigned"
            );
        }
        let Some(browser) = &browser else { continue };
        let png = path.with_extension("png");
        let o = std::process::Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .arg(format!("--screenshot={}", png.display()))
            .args(["--window-size=1100,900"])
            .arg(format!("file://{}", path.display()))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{name}: chromium failed: {}",
            stderr(&o)
        );
        let err = stderr(&o);
        assert!(!err.contains("Uncaught"), "{name}: console errors: {err}");
        let heat = heat_pixels(&png);
        eprintln!("{name}: {heat} heat-map pixels in {}", png.display());
        assert!(heat > 500, "{name}: no heat map visible ({heat} pixels)");
    }
}
