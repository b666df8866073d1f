//! Helpers shared by the golden-fixture tests: reading reference.json files made by
//! tools/reference and comparing tensors with them.
#![allow(dead_code)]

pub mod family;

use candle_core::{DType, Tensor};
use serde_json::Value;
use std::path::PathBuf;

/// Every family's tiny fixture (tests/fixtures/<name>), text families first.
pub const FAMILIES: [&str; 7] = [
    "bert",
    "roberta",
    "xlmr",
    "distilbert",
    "electra",
    "albert",
    "vit",
];

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Copies a fixture's checkpoint files (not its sub-folders: vit/expected/ holds other tests'
/// inputs) into `to`, an existing directory.
pub fn copy_fixture_files(name: &str, to: &std::path::Path) {
    for e in std::fs::read_dir(fixture(name)).unwrap() {
        let path = e.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}

pub fn read_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A nested JSON list of numbers, flattened, with its shape.
pub fn flat(v: &Value) -> (Vec<f64>, Vec<usize>) {
    fn walk(v: &Value, depth: usize, out: &mut Vec<f64>, shape: &mut Vec<usize>) {
        match v {
            Value::Array(items) => {
                if shape.len() <= depth {
                    shape.push(items.len());
                }
                for it in items {
                    walk(it, depth + 1, out, shape);
                }
            }
            Value::Number(n) => out.push(n.as_f64().unwrap()),
            other => panic!("not a number: {other}"),
        }
    }
    let (mut out, mut shape) = (Vec::new(), Vec::new());
    walk(v, 0, &mut out, &mut shape);
    (out, shape)
}

pub fn ints(v: &Value) -> Vec<Vec<u32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        })
        .collect()
}

pub fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Largest |a - b| / max(1, |b|): absolute for values of order one, relative beyond.
pub fn max_scaled_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
        .fold(0.0, f64::max)
}

/// ||a - b|| / ||b||.
pub fn rel_l2(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den.max(1e-300)).sqrt()
}

pub fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) -> f64 {
    let d = max_scaled_diff(got, want);
    eprintln!("{what}: max diff {d:.3e} (tolerance {tol:.0e})");
    assert!(d <= tol, "{what}: max diff {d:.3e} > {tol:.0e}");
    d
}

/// Runs the calig binary built for these tests.
pub fn calig(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_calig"))
        .args(args)
        .output()
        .expect("run calig")
}

pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs calig, expects success and returns its stdout parsed as JSON.
pub fn json_ok(args: &[&str]) -> Value {
    let o = calig(args);
    assert!(o.status.success(), "calig {args:?}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("calig {args:?}: stdout is not JSON: {e}"))
}

/// Runs calig, expects failure with an error message containing every `needle`.
pub fn fails_with(args: &[&str], needles: &[&str]) {
    let o = calig(args);
    let err = stderr(&o);
    assert!(
        !o.status.success(),
        "calig {args:?} succeeded; stdout: {}",
        stdout(&o)
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "calig {args:?}: exit {:?}, stderr: {err}",
        o.status
    );
    assert!(!err.contains("panicked"), "calig {args:?} panicked: {err}");
    for n in needles {
        assert!(
            err.contains(n),
            "calig {args:?}: stderr lacks `{n}`:\n{err}"
        );
    }
}

/// First reference input of a fixture, as a batch of one, in the model's dtype.
pub fn first_input(m: &calig::model::LoadedModel, name: &str) -> calig::model::ModelInput {
    use candle_core::IndexOp;
    let r = read_json(&fixture(name).join("reference.json"));
    if m.config.family.is_text() {
        m.prepare_text(r["texts"][0].as_str().unwrap()).unwrap().1
    } else {
        let (px, shape) = flat(&r["pixel_values"]);
        let px32: Vec<f32> = px.iter().map(|&x| x as f32).collect();
        let t = Tensor::from_vec(px32, shape, &candle_core::Device::Cpu)
            .unwrap()
            .to_dtype(m.model.dtype())
            .unwrap();
        calig::model::ModelInput::Image(calig::model::ImageInput {
            pixel_values: t.i(0..1).unwrap(),
        })
    }
}

/// `calig batch --method gae` on the tiny BERT fixture over `rows` (id, text) written as
/// DIR/NAME.jsonl; returns the output DIR/NAME-explained.jsonl.
pub fn gae_batch(dir: &std::path::Path, name: &str, rows: &[(&str, &str)]) -> PathBuf {
    let input = dir.join(format!("{name}.jsonl"));
    let body: String = rows
        .iter()
        .map(|(id, text)| format!("{}\n", serde_json::json!({"id": id, "text": text})))
        .collect();
    std::fs::write(&input, body).unwrap();
    let out = dir.join(format!("{name}-explained.jsonl"));
    let _ = std::fs::remove_file(&out);
    let o = calig(&[
        "batch",
        "--model",
        fixture("bert").to_str().unwrap(),
        "--method",
        "gae",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "batch: {}", stderr(&o));
    out
}

/// An ERASER-shaped directory of three documents with one evidence span each.
pub fn eraser_dir(dir: &std::path::Path) -> std::path::PathBuf {
    let root = dir.join("movies");
    std::fs::create_dir_all(root.join("docs")).unwrap();
    let docs = [
        (
            "d1",
            "POS",
            "a gorgeous , witty and moving film .\nwe loved it .",
            (1, 4),
        ),
        ("d2", "NEG", "dull , lifeless and far too long .", (0, 3)),
        (
            "d3",
            "POS",
            "an unexpected delight from start to finish .",
            (1, 3),
        ),
    ];
    let mut ann = String::new();
    for (id, class, text, (s, e)) in docs {
        std::fs::write(root.join("docs").join(id), text).unwrap();
        ann.push_str(&format!(
            "{{\"annotation_id\": \"{id}\", \"classification\": \"{class}\", \"evidences\": [[{{\"docid\": \"{id}\", \"start_token\": {s}, \"end_token\": {e}, \"text\": \"\"}}]]}}\n"
        ));
    }
    std::fs::write(root.join("val.jsonl"), ann).unwrap();
    root
}

/// An idx file (MNIST's format) of unsigned bytes with these dimensions.
pub fn idx_file(path: &std::path::Path, dims: &[u32], data: &[u8]) {
    let mut v = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    std::fs::write(path, v).unwrap();
}
