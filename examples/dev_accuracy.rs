//! Accuracy and macro-F1 of a model on a labelled file, with calig's own forward pass.
//!
//!     cargo run --release --example dev_accuracy -- MODEL FORMAT PATH [--ids FILE] [--json OUT]
//!
//! FORMAT: `sst2` (sentence TSV), `movies` (ERASER jsonl; docs/ beside it), `bbc` (jsonl with
//! label_id; `--ids` keeps the listed ids, e.g. models-src/minilm-bbc/dev_ids.txt), `amharic`
//! (`__label__NAME<TAB>text`, names = the model's labels), `images` (a labels.tsv of
//! `FILE<TAB>label index` lines; images beside it). `--json` writes the predictions and
//! logits, to compare with Python transformers (tools/train/check_transformers.py).

use anyhow::{bail, Context, Result};
use calig::data;
use calig::explain::argmax;
use calig::model::{load_model, text, ModelInput};
use candle_core::{DType, Device};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        bail!("usage: dev_accuracy MODEL FORMAT PATH [--ids FILE] [--json OUT]");
    }
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(PathBuf::from)
    };
    let m = load_model(&args[0], DType::F32, &Device::Cpu)?;
    let path = PathBuf::from(&args[2]);
    let mut examples = match args[1].as_str() {
        "sst2" => data::read_sentence_tsv(&path)?,
        "movies" => {
            data::read_eraser_movies(&path, &path.parent().context("no parent")?.join("docs"))?
        }
        "bbc" => data::read_jsonl(&path, "text", "label_id")?,
        "amharic" => data::read_fasttext_tsv(&path, &m.config.labels)?,
        "images" => Vec::new(),
        other => bail!("unknown format `{other}`"),
    };
    if let Some(ids) = flag("--ids") {
        let keep: std::collections::HashSet<String> = std::fs::read_to_string(&ids)?
            .lines()
            .map(|l| l.trim().to_string())
            .collect();
        examples.retain(|e| keep.contains(&e.id));
    }
    let start = Instant::now();
    let (mut preds, mut logits_all) = (Vec::new(), Vec::new());
    if args[1] == "images" {
        let dir = path.parent().context("no parent")?;
        let mut examples = Vec::new();
        for line in std::fs::read_to_string(&path)?
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let (file, label) = line.split_once('\t').context("labels.tsv: no tab")?;
            examples.push((file.to_string(), label.trim().parse::<usize>()?));
        }
        for (file, _) in &examples {
            let (input, _) = m.prepare_image(&dir.join(file))?;
            let l = m.logits(&input)?;
            preds.push(argmax(&l));
            logits_all.push(l);
        }
        let gold: Vec<usize> = examples.iter().map(|e| e.1).collect();
        let ids: Vec<&str> = examples.iter().map(|e| e.0.as_str()).collect();
        return report(
            &args[0],
            &path,
            &ids,
            &preds,
            &gold,
            &logits_all,
            m.config.labels.len(),
            start,
            flag("--json"),
        );
    }
    let tok = m.tokenizer.as_ref().context("not a text model")?;
    for chunk in examples.chunks(16) {
        let encs = chunk
            .iter()
            .map(|e| tok.encode(&e.text))
            .collect::<calig::Result<Vec<_>>>()?;
        let ids: Vec<Vec<u32>> = encs.iter().map(|e| e.ids.clone()).collect();
        let types: Vec<Vec<u32>> = encs.iter().map(|e| e.type_ids.clone()).collect();
        let input = ModelInput::Text(text::batch(&m.config, &ids, &types, &Device::Cpu)?);
        let logits: Vec<Vec<f64>> = m
            .model
            .forward(&input)?
            .logits
            .to_dtype(DType::F64)?
            .to_vec2()?;
        for l in logits {
            preds.push(argmax(&l));
            logits_all.push(l);
        }
    }
    let gold: Vec<usize> = examples.iter().map(|e| e.label).collect();
    let ids: Vec<&str> = examples.iter().map(|e| e.id.as_str()).collect();
    report(
        &args[0],
        &path,
        &ids,
        &preds,
        &gold,
        &logits_all,
        m.config.labels.len(),
        start,
        flag("--json"),
    )
}

#[allow(clippy::too_many_arguments)]
fn report(
    model: &str,
    path: &std::path::Path,
    ids: &[&str],
    preds: &[usize],
    gold: &[usize],
    logits: &[Vec<f64>],
    classes: usize,
    start: Instant,
    json: Option<PathBuf>,
) -> Result<()> {
    let (acc, f1) = data::accuracy_and_macro_f1(preds, gold, classes);
    println!(
        "{model} on {} ({} examples): accuracy {acc:.4}, macro-F1 {f1:.4}, {:.1} s",
        path.display(),
        preds.len(),
        start.elapsed().as_secs_f64()
    );
    if let Some(out) = json {
        let v = serde_json::json!({"ids": ids, "pred": preds, "logits": logits, "accuracy": acc, "macro_f1": f1});
        std::fs::write(out, serde_json::to_string(&v)?)?;
    }
    Ok(())
}
