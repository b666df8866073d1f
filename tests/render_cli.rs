//! `calig render` and the report options end to end on the tiny fixtures: a saved explanation
//! redraws to exactly what `calig explain` wrote (text, HTML, PNG; one method or several; text
//! and image), PNG files decode with the documented width, `--method a,b,c`, the colour
//! choices, `--top`, batch output as one page or one PNG per line, and bad input to render.

mod common;

use common::{calig, fails_with, fixture, stderr, stdout};
use std::path::{Path, PathBuf};

const WIDTH: u32 = 1000;

fn bert() -> String {
    fixture("bert").to_str().unwrap().to_string()
}

fn ok(args: &[&str]) -> std::process::Output {
    let o = calig(args);
    assert!(o.status.success(), "calig {args:?}: {}", stderr(&o));
    o
}

/// `calig explain ARGS --format F --output DIR/NAME`, returning the path.
fn explain_to(dir: &Path, name: &str, format: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut a = vec!["explain"];
    a.extend(args);
    a.extend(["--format", format, "--output", out.to_str().unwrap()]);
    ok(&a);
    out
}

fn render_to(dir: &Path, input: &Path, name: &str, format: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut a = vec!["render", input.to_str().unwrap()];
    a.extend(extra);
    a.extend(["--format", format, "--output", out.to_str().unwrap()]);
    ok(&a);
    out
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn render_redraws_what_explain_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let b = bert();
    let vit = fixture("vit");
    let image = vit.join("image.png");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "calig",
            vec!["--model", &b, "--steps", "6", "a gorgeous , witty movie"],
        ),
        (
            "three",
            vec![
                "--model",
                &b,
                "--method",
                "calig,ig,gae",
                "--steps",
                "6",
                "--scale",
                "shared",
                "dull\n\nand long",
            ],
        ),
        (
            "image",
            vec![
                "--model",
                vit.to_str().unwrap(),
                "--method",
                "lig",
                "--steps",
                "4",
                "--image",
                image.to_str().unwrap(),
            ],
        ),
    ];
    for (name, args) in cases {
        let json = explain_to(d, &format!("{name}.json"), "json", &args);
        let scale: Vec<&str> = args
            .windows(2)
            .filter(|w| w[0] == "--scale")
            .flat_map(|w| w.iter().copied())
            .collect();
        for (format, ext) in [("html", "html"), ("text", "txt"), ("png", "png")] {
            let direct = explain_to(d, &format!("{name}-explain.{ext}"), format, &args);
            let redrawn = render_to(d, &json, &format!("{name}-render.{ext}"), format, &scale);
            assert!(
                read(&direct) == read(&redrawn),
                "{name} {format}: render differs from explain"
            );
        }
        let png = image::open(d.join(format!("{name}-render.png")))
            .unwrap()
            .to_rgb8();
        assert_eq!(png.width(), WIDTH, "{name}");
        assert!(png.height() > 150, "{name}: {}", png.height());
    }
    // The image report's PNG holds the 224-pixel input and overlay and a row of layer maps.
    let png = image::open(d.join("image-render.png")).unwrap();
    assert!(png.height() > 224 + 112, "{}", png.height());
    // Three methods: three panels, each taller than nothing.
    let one = image::open(d.join("calig-render.png")).unwrap().height();
    let three = image::open(d.join("three-render.png")).unwrap().height();
    assert!(three > one, "{three} vs {one}");
}

#[test]
fn several_methods_in_one_call() {
    let b = bert();
    let o = ok(&[
        "explain",
        "--model",
        &b,
        "--method",
        "ig,gae,saliency",
        "--steps",
        "4",
        "--format",
        "json",
        "a witty movie",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let methods: Vec<&str> = v
        .as_array()
        .expect("an array for several methods")
        .iter()
        .map(|e| e["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["ig", "gae", "saliency"]);
    // Same input, same prediction, prepared once.
    assert_eq!(v[0]["logits"], v[2]["logits"]);
    let two = |format: &str| {
        stdout(&ok(&[
            "explain",
            "--model",
            &b,
            "--method",
            "ig,gae",
            "--steps",
            "4",
            "--format",
            format,
            "a witty movie",
        ]))
    };
    let text = two("text");
    assert!(
        text.contains("method ig") && text.contains("method gae"),
        "{text}"
    );
    let html = two("html");
    assert_eq!(html.matches("<section class=\"method\">").count(), 2);
    // An option is ignored only when no method reads it.
    let o = ok(&[
        "explain",
        "--model",
        &b,
        "--method",
        "gae,ig",
        "--lambda",
        "0.3",
        "a witty movie",
    ]);
    assert!(stderr(&o).contains("--lambda is ignored by --method gae,ig"));
    let o = ok(&[
        "explain",
        "--model",
        &b,
        "--method",
        "gae,calig",
        "--steps",
        "4",
        "--lambda",
        "0.3",
        "a witty movie",
    ]);
    assert!(!stderr(&o).contains("ignored"), "{}", stderr(&o));
    // batch takes one method.
    fails_with(
        &[
            "batch", "--model", &b, "--method", "ig,gae", "--input", "x.jsonl", "--output",
            "y.jsonl",
        ],
        &["calig batch takes one --method (given: ig,gae)"],
    );
}

#[test]
fn colour_choices_and_top_k() {
    let b = bert();
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_calig"));
        c.args(["explain", "--model", &b, "--method", "gae"])
            .args(extra)
            .arg("a gorgeous , witty movie")
            .env_remove("COLORTERM")
            .env_remove("NO_COLOR");
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let never = run(&["--color", "never"], &[("COLORTERM", "truecolor")]);
    assert!(!never.contains('\x1b'), "--color never: {never:?}");
    let auto = run(&[], &[]);
    assert!(!auto.contains('\x1b'), "auto on a pipe: no colour");
    let always = run(&["--color", "always"], &[]);
    assert!(
        always.contains("\x1b[48;5;"),
        "256 colours without COLORTERM"
    );
    let truecolour = run(&["--color", "always"], &[("COLORTERM", "truecolor")]);
    assert!(truecolour.contains("\x1b[48;2;"), "24-bit with COLORTERM");
    let top = run(&["--top", "2", "--color", "never"], &[]);
    assert!(top.contains("the 2 strongest words by |score|"), "{top}");
    let listed = top
        .lines()
        .skip_while(|l| !l.starts_with("the 2 strongest"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .count();
    assert_eq!(listed, 2, "{top}");
    // Wrapping: a long text at COLUMNS=30 never runs past 30 visible columns.
    let long = "good movie ".repeat(30);
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_calig"));
    let o = c
        .args([
            "explain", "--model", &b, "--method", "gae", "--color", "always",
        ])
        .arg(&long)
        .env("COLUMNS", "30")
        .output()
        .unwrap();
    let out = stdout(&o);
    let running: Vec<&str> = out
        .split("\n\n")
        .nth(1)
        .expect("the running text after the header")
        .lines()
        .collect();
    assert!(running.len() >= 10, "wrapped: {running:?}");
    for l in running {
        let visible = calig::render::text::strip_ansi(l).chars().count();
        assert!(visible <= 30, "{visible} columns: {l:?}");
    }
}

#[test]
fn batch_output_renders_as_one_page_or_one_png_per_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let out = common::gae_batch(d, "in", &[("a", "good movie"), ("b/2", "dull plot")]);
    let html = std::fs::read_to_string(render_to(d, &out, "all.html", "html", &[])).unwrap();
    assert_eq!(html.matches("<section class=\"item\"").count(), 2);
    assert!(html.contains("href=\"#item-1\"") && html.contains("b/2"));
    let text = std::fs::read_to_string(render_to(d, &out, "all.txt", "text", &[])).unwrap();
    assert!(text.contains("line 1, id a") && text.contains("line 2, id b/2"));
    let dir = render_to(d, &out, "pngs", "png", &[]);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["line-00001_a.png", "line-00002_b_2.png"]);
    for n in names {
        assert_eq!(image::open(dir.join(n)).unwrap().width(), WIDTH);
    }
}

#[test]
fn bad_input_to_render_is_a_clear_error_with_no_output() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let good = explain_to(
        d,
        "good.json",
        "json",
        &["--model", &bert(), "--method", "gae", "fun"],
    );
    let good_line =
        serde_json::to_string(&serde_json::from_slice::<serde_json::Value>(&read(&good)).unwrap())
            .unwrap();
    let cases = [
        ("missing.json", None, "No such file"),
        ("empty.json", Some(String::new()), "is empty"),
        ("text.json", Some("hello".into()), "line 1: not JSON"),
        (
            "lines.jsonl",
            Some(format!("{good_line}\n{{\"schema\": 1, \"tokens\": []}}\n")),
            "line 2: not a valid explanation: missing field",
        ),
        (
            "short.json",
            Some(good_line.replace("\"scores\":[", "\"scores\":[0.5,")),
            "scores for",
        ),
    ];
    for (name, content, want) in cases {
        let input = d.join(name);
        if let Some(c) = &content {
            std::fs::write(&input, c).unwrap();
        }
        for (format, out) in [("html", "o.html"), ("png", "o.png"), ("png", "pngdir")] {
            let out = d.join(out);
            fails_with(
                &[
                    "render",
                    input.to_str().unwrap(),
                    "--format",
                    format,
                    "--output",
                    out.to_str().unwrap(),
                ],
                &[name, want],
            );
            assert!(!out.exists(), "{name}: {} was written", out.display());
        }
    }
    fails_with(
        &["render", good.to_str().unwrap(), "--format", "png"],
        &["--format png needs --output"],
    );
    fails_with(
        &["explain", "--model", &bert(), "--format", "png", "fun"],
        &["--format png needs --output"],
    );
    // clap's usage errors exit with 2.
    let o = calig(&["render", good.to_str().unwrap(), "--scale", "global"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("`global` is not a scale: use report, shared, layer"));
    // Leftovers of atomic writes: none.
    let partial: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(partial.is_empty(), "{partial:?}");
}

#[test]
fn an_image_is_found_beside_the_saved_file() {
    // Explained with a relative path in one folder, rendered from another: render finds the
    // image relative to the JSON file; without it, the report says the image is missing.
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::copy(fixture("vit").join("image.png"), work.join("shirt.png")).unwrap();
    let vit = fixture("vit");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_calig"))
        .current_dir(&work)
        .args([
            "explain",
            "--model",
            vit.to_str().unwrap(),
            "--method",
            "gae",
        ])
        .args([
            "--image",
            "shirt.png",
            "--format",
            "json",
            "--output",
            "e.json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let html = stdout(&ok(&[
        "render",
        work.join("e.json").to_str().unwrap(),
        "--format",
        "html",
    ]));
    assert!(
        !html.contains("could not be read"),
        "image found beside e.json"
    );
    std::fs::remove_file(work.join("shirt.png")).unwrap();
    let html = stdout(&ok(&[
        "render",
        work.join("e.json").to_str().unwrap(),
        "--format",
        "html",
    ]));
    assert!(html.contains("The input image (shirt.png) could not be read"));
}
