//! The `calig` binary: `info` and `predict` on every fixture family, and a clear error (non-zero
//! exit, message naming the bad file or tensor, no panic) for every kind of bad input.

mod common;

use common::{calig, copy_fixture_files, fails_with, fixture, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A writable copy of a fixture directory.
fn copy_fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    std::fs::create_dir(&dir).unwrap();
    copy_fixture_files(name, &dir);
    (tmp, dir)
}

fn edit_config(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_string(&v).unwrap()).unwrap();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn info_describes_every_family() {
    for (name, needle) in [
        ("bert", "Bert"),
        ("roberta", "Roberta"),
        ("xlmr", "XlmRoberta"),
        ("distilbert", "DistilBert"),
        ("electra", "Electra"),
        ("albert", "Albert"),
        ("vit", "Vit"),
    ] {
        let o = calig(&["info", s(&fixture(name))]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains(needle) && out.contains("layers") && out.contains("parameters"),
            "{name}: {out}"
        );
        let o = calig(&["info", s(&fixture(name)), "--format", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["config"]["num_layers"], 3, "{name}");
        assert!(v["parameters"].as_u64().unwrap() > 10_000);
    }
}

#[test]
fn predict_every_family_gives_a_distribution() {
    for name in [
        "bert",
        "bert-bin",
        "bert-sharded",
        "roberta",
        "xlmr",
        "distilbert",
        "electra",
        "albert",
        "vit",
    ] {
        let dir = fixture(name);
        let image = fixture("vit").join("image.png");
        let args: Vec<&str> = if name == "vit" {
            vec!["predict", s(&dir), "--image", s(&image), "--format", "json"]
        } else {
            vec![
                "predict",
                s(&dir),
                "a gorgeous , witty movie .",
                "--format",
                "json",
            ]
        };
        let o = calig(&args);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let total: f64 = v["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["prob"].as_f64().unwrap())
            .sum();
        assert!(
            (total - 1.0).abs() < 1e-5,
            "{name}: probabilities sum to {total}"
        );
        assert!(v["prediction"]["label"].is_string());
    }
}

#[test]
fn predict_text_table() {
    let o = calig(&["predict", s(&fixture("bert")), "it", "is", "bad", "."]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("negative") && out.contains("positive") && out.contains("prob"),
        "{out}"
    );
}

#[test]
fn long_text_is_truncated_and_reported() {
    let long = "good ".repeat(200);
    let o = calig(&["predict", s(&fixture("bert")), &long]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("truncated from 402 to 64 tokens"), "{err}");
}

#[test]
fn unsupported_model_type_is_refused() {
    let (_t, dir) = copy_fixture("bert");
    edit_config(&dir, |v| v["model_type"] = "t5".into());
    fails_with(
        &["info", s(&dir)],
        &["config.json", "unsupported model_type `t5`"],
    );
}

#[test]
fn missing_model_is_named() {
    fails_with(
        &["info", "/no/such/model-dir"],
        &["model not found", "/no/such/model-dir"],
    );
    fails_with(
        &["predict", "some-org/not-cached", "hi"],
        &["some-org/not-cached", "never downloads"],
    );
}

#[test]
fn missing_files_are_named() {
    let (_t, dir) = copy_fixture("bert");
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    fails_with(
        &["info", s(&dir)],
        &["no weights found", "model.safetensors"],
    );
    let (_t2, dir2) = copy_fixture("bert");
    std::fs::remove_file(dir2.join("tokenizer.json")).unwrap();
    fails_with(
        &["predict", s(&dir2), "hello"],
        &["tokenizer.json", "missing"],
    );
    let (_t3, dir3) = copy_fixture("bert");
    std::fs::remove_file(dir3.join("config.json")).unwrap();
    fails_with(&["info", s(&dir3)], &["config.json"]);
}

#[test]
fn corrupt_files_are_named() {
    let (_t, dir) = copy_fixture("bert");
    std::fs::write(
        dir.join("model.safetensors"),
        b"this is not a safetensors file",
    )
    .unwrap();
    fails_with(
        &["info", s(&dir)],
        &["model.safetensors", "cannot read safetensors"],
    );
    let (_t2, dir2) = copy_fixture("bert-bin");
    std::fs::write(dir2.join("pytorch_model.bin"), b"garbage").unwrap();
    fails_with(
        &["info", s(&dir2)],
        &["pytorch_model.bin", "cannot read PyTorch pickle"],
    );
    let (_t3, dir3) = copy_fixture("bert");
    std::fs::write(dir3.join("config.json"), b"{ not json").unwrap();
    fails_with(&["info", s(&dir3)], &["config.json", "not valid JSON"]);
    let (_t4, dir4) = copy_fixture("bert");
    std::fs::write(dir4.join("tokenizer.json"), b"{}").unwrap();
    fails_with(
        &["predict", s(&dir4), "hello"],
        &["tokenizer.json", "cannot load tokenizer"],
    );
}

#[test]
fn tensor_name_and_shape_mismatches_are_named() {
    let (_t, dir) = copy_fixture("bert");
    edit_config(&dir, |v| v["num_hidden_layers"] = 4.into());
    fails_with(
        &["info", s(&dir)],
        &["bert.encoder.layer.3.attention.self.query.weight"],
    );
    let (_t2, dir2) = copy_fixture("bert");
    edit_config(&dir2, |v| v["intermediate_size"] = 65.into());
    fails_with(
        &["info", s(&dir2)],
        &[
            "shape mismatch",
            "bert.encoder.layer.0.intermediate.dense.weight",
        ],
    );
    let (_t3, dir3) = copy_fixture("vit");
    edit_config(&dir3, |v| v["model_type"] = "bert".into());
    fails_with(&["info", s(&dir3)], &["config.json"]);
}

#[test]
fn bad_images_and_wrong_modalities_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("broken.png");
    std::fs::write(&bad, b"not an image at all").unwrap();
    fails_with(
        &["predict", s(&fixture("vit")), "--image", s(&bad)],
        &["broken.png", "cannot decode"],
    );
    fails_with(
        &["predict", s(&fixture("vit")), "--image", "/no/such.png"],
        &["/no/such.png"],
    );
    fails_with(
        &["predict", s(&fixture("vit")), "some text"],
        &["image model"],
    );
    fails_with(
        &["predict", s(&fixture("bert")), "--image", s(&bad)],
        &["text model"],
    );
    fails_with(&["predict", s(&fixture("bert"))], &["nothing to classify"]);
    fails_with(&["predict", s(&fixture("bert")), "   "], &["empty"]);
}

#[test]
fn bare_encoder_refuses_to_predict() {
    let (_t, dir) = copy_fixture("bert");
    // Drop the head: keep only the `bert.` tensors.
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<(String, safetensors::tensor::TensorView)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| !n.starts_with("classifier"))
        .collect();
    safetensors::serialize_to_file(kept, None, &dir.join("model.safetensors")).unwrap();
    let o = calig(&["info", s(&dir)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("no classification head"));
    fails_with(
        &["predict", s(&dir), "hello"],
        &["no sequence-classification head"],
    );
}

#[test]
fn hub_ids_resolve_through_the_local_cache() {
    let cache = tempfile::tempdir().unwrap();
    let snapshot = cache
        .path()
        .join("models--some-org--tiny-bert/snapshots/0123abcd");
    std::fs::create_dir_all(&snapshot).unwrap();
    copy_fixture_files("bert", &snapshot);
    std::fs::create_dir_all(cache.path().join("models--some-org--tiny-bert/refs")).unwrap();
    std::fs::write(
        cache.path().join("models--some-org--tiny-bert/refs/main"),
        "0123abcd\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_calig"))
        .args(["predict", "some-org/tiny-bert", "it is bad ."])
        .env("HF_HUB_CACHE", cache.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("negative"));
    let o = Command::new(env!("CARGO_BIN_EXE_calig"))
        .args(["info", "some-org/other"])
        .env("HF_HUB_CACHE", cache.path())
        .output()
        .unwrap();
    assert!(
        stderr(&o).contains("some-org/other")
            && stderr(&o).contains(cache.path().to_str().unwrap())
    );
}

#[test]
fn a_closed_pipe_ends_quietly() {
    use std::process::Stdio;
    // The reader is gone before calig writes (as `| head` leaves it, deterministically):
    // calig must neither panic nor complain, and exit 0.
    let mut child = Command::new(env!("CARGO_BIN_EXE_calig"))
        .args(["explain", "--method", "gxi", "--format", "json", "--model"])
        .arg(fixture("bert"))
        .arg("a gorgeous , witty and moving film")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "stderr: {err}");
    assert!(!err.contains("panicked") && !err.contains("error"), "{err}");
}

fn calig_env(args: &[&str], env: &[(&str, &std::path::Path)]) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_calig"));
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(args).output().expect("run calig")
}

#[test]
fn models_install_into_calig_models_and_load_from_there() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("CALIG_MODELS", dir.path())];
    let o = calig_env(&["models", "install", "minilm-sst2"], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.path().join("minilm-sst2/model.safetensors").is_file());
    assert!(!dir.path().join(".minilm-sst2.installing").exists());
    let o = calig_env(
        &[
            "predict",
            "minilm-sst2",
            "a gorgeous movie",
            "--format",
            "json",
        ],
        &env,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["prediction"]["label"], "positive");
}

#[test]
fn a_failed_install_names_the_missing_base_and_leaves_nothing() {
    let src = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models-src/minilm-sst2");
    let to = src.path().join("minilm-sst2");
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(&from).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    std::fs::write(
        to.join("assembly.json"),
        r#"{"base": "no-such-base", "tensors": {}}"#,
    )
    .unwrap();
    let o = calig_env(
        &["models", "install", "minilm-sst2"],
        &[
            ("CALIG_MODELS_SRC", src.path()),
            ("CALIG_MODELS", models.path()),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("no-such-base") && err.contains("fetch-assets.sh"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(models.path())
        .unwrap()
        .flatten()
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// The header JSON and the data of a safetensors file.
fn split_safetensors(bytes: &[u8]) -> (serde_json::Value, Vec<u8>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (
        serde_json::from_slice(&bytes[8..8 + n]).unwrap(),
        bytes[8 + n..].to_vec(),
    )
}

fn join_safetensors(header: &serde_json::Value, data: &[u8]) -> Vec<u8> {
    let h = serde_json::to_vec(header).unwrap();
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out
}

#[test]
fn malformed_safetensors_are_named() {
    let original = std::fs::read(fixture("bert").join("model.safetensors")).unwrap();
    let (header, data) = split_safetensors(&original);
    let key = "bert.encoder.layer.0.attention.self.query.weight";
    let mut bad_length = original.clone();
    bad_length[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let mut out_of_range = header.clone();
    out_of_range[key]["data_offsets"] = serde_json::json!([0, data.len() + 4096]);
    let mut unknown_dtype = header.clone();
    unknown_dtype[key]["dtype"] = "Q7".into();
    let cases = [
        ("header length", bad_length),
        ("offsets", join_safetensors(&out_of_range, &data)),
        ("dtype", join_safetensors(&unknown_dtype, &data)),
        ("truncated", original[..original.len() / 2].to_vec()),
    ];
    for (what, bytes) in cases {
        let (_t, dir) = copy_fixture("bert");
        std::fs::write(dir.join("model.safetensors"), bytes).unwrap();
        let o = calig(&["predict", s(&dir), "hello"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        assert!(err.contains("model.safetensors"), "{what}: {err}");
    }
}

#[test]
fn nan_weights_are_named() {
    let (_t, dir) = copy_fixture("bert");
    let path = dir.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&path, &candle_core::Device::Cpu).unwrap();
    let key = "bert.encoder.layer.1.output.dense.weight";
    let t = &tensors[key];
    let poisoned = (t.ones_like().unwrap() * f64::NAN).unwrap();
    tensors.insert(key.into(), poisoned);
    candle_core::safetensors::save(&tensors, &path).unwrap();
    for cmd in ["predict", "explain"] {
        let args: Vec<&str> = if cmd == "predict" {
            vec!["predict", s(&dir), "hello"]
        } else {
            vec!["explain", "--model", s(&dir), "hello"]
        };
        fails_with(&args, &[key, "NaN or Inf"]);
    }
}

#[test]
fn unknown_methods_and_contradictory_options_are_refused() {
    let o = calig(&["explain", "--method", "shapley", "hi"]);
    assert_eq!(o.status.code(), Some(2), "clap's usage error");
    assert!(
        stderr(&o).contains("invalid value 'shapley'"),
        "{}",
        stderr(&o)
    );
    fails_with(
        &[
            "explain",
            "--model",
            s(&fixture("bert")),
            "--attention-mode",
            "path",
            "--attention-sign",
            "signed",
            "hi",
        ],
        &["attention_sign=signed", "attention_mode=input"],
    );
}

#[test]
fn a_missing_preprocessor_config_is_reported_and_defaults_are_used() {
    let (_t, dir) = copy_fixture("vit");
    std::fs::remove_file(dir.join("preprocessor_config.json")).unwrap();
    let o = calig(&[
        "predict",
        s(&dir),
        "--image",
        s(&fixture("vit").join("image.png")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("preprocessor_config.json is missing") && err.contains("defaults"),
        "{err}"
    );
}

#[test]
fn whitespace_only_text_is_refused_by_explain_too() {
    fails_with(
        &["explain", "--model", s(&fixture("bert")), " \t "],
        &["the text is empty"],
    );
}

#[test]
fn predict_takes_the_model_as_a_flag_or_first() {
    let m = s(&fixture("bert")).to_string();
    let flag = calig(&[
        "predict", "--model", &m, "a", "gorgeous", "movie", "--format", "json",
    ]);
    let first = calig(&["predict", &m, "a", "gorgeous", "movie", "--format", "json"]);
    assert!(flag.status.success(), "{}", stderr(&flag));
    assert_eq!(flag.stdout, first.stdout);
}

/// The error texts a newcomer met (issue 27): each names the problem once, in words that lead
/// somewhere.
#[test]
fn error_texts_name_the_problem_once_and_point_somewhere_useful() {
    let vit = fixture("vit");
    let bert = fixture("bert");
    // A missing image: the system's reason once, not twice.
    let o = calig(&["explain", "--model", s(&vit), "--image", "missing.png"]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    // A local path that does not exist is not a hub id to download.
    fails_with(
        &["explain", "--model", "/no/such/checkpoint", "x"],
        &["`/no/such/checkpoint`: no such directory"],
    );
    let o = calig(&["explain", "--model", "./no/such", "x"]);
    assert!(!stderr(&o).contains("huggingface-cli"), "{}", stderr(&o));
    // Negative numbers are refused as values, without clap's tip to pass them as text.
    for args in [["--top", "-1"], ["--steps", "-3"], ["--max-batch", "-2"]] {
        let o = calig(&["explain", "--model", s(&bert), args[0], args[1], "x"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&format!("`{}`", args[1])), "{args:?}: {err}");
        assert!(!err.contains("'-- "), "{args:?}: {err}");
    }
    // --top with a format that lists every word says it is ignored.
    let o = calig(&[
        "explain",
        "--model",
        s(&bert),
        "--top",
        "2",
        "--format",
        "json",
        "x",
    ]);
    assert!(o.status.success());
    assert!(stderr(&o).contains("--top is ignored by --format json"));
    // A checkpoint with only the slow tokenizer's vocabulary says how to make tokenizer.json.
    let (_tmp, dir) = copy_fixture("bert");
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    std::fs::write(dir.join("vocab.txt"), "[PAD]\n[UNK]\n").unwrap();
    fails_with(
        &["explain", "--model", s(&dir), "x"],
        &["only the slow tokenizer's vocab.txt", "save_pretrained"],
    );
}
