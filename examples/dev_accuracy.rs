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
    // Labels by index (SST-2, BBC's label_id) or by ERASER's names.
    let index = |s: &str| s.parse::<usize>().ok();
    let table = |text: &'static [&'static str], label| data::Table {
        text_columns: text,
        label_column: label,
        id_column: None,
        pair_column: None,
    };
    let mut examples = match args[1].as_str() {
        "sst2" => data::read_table(&path, &table(&["sentence"], "label"), &index)?,
        "movies" => {
            let docs = path.parent().context("no parent")?.join("docs");
            data::read_eraser(&path, &docs, &|c| {
                ["NEG", "POS"].iter().position(|x| *x == c)
            })?
        }
        "bbc" => data::read_table(&path, &table(&["text"], "label_id"), &index)?,
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
    let (acc, f1) = accuracy_and_macro_f1(preds, gold, classes);
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

/// Accuracy and macro-F1 of predictions against labels over `classes` classes.
fn accuracy_and_macro_f1(pred: &[usize], gold: &[usize], classes: usize) -> (f64, f64) {
    let n = pred.len().max(1) as f64;
    let acc = pred.iter().zip(gold).filter(|(p, g)| p == g).count() as f64 / n;
    let mut f1s = Vec::new();
    for c in 0..classes {
        let tp = pred
            .iter()
            .zip(gold)
            .filter(|(p, g)| **p == c && **g == c)
            .count() as f64;
        let fp = pred
            .iter()
            .zip(gold)
            .filter(|(p, g)| **p == c && **g != c)
            .count() as f64;
        let fn_ = pred
            .iter()
            .zip(gold)
            .filter(|(p, g)| **p != c && **g == c)
            .count() as f64;
        let f1 = if tp == 0.0 {
            0.0
        } else {
            2.0 * tp / (2.0 * tp + fp + fn_)
        };
        f1s.push(f1);
    }
    (acc, f1s.iter().sum::<f64>() / classes.max(1) as f64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn accuracy_and_macro_f1_by_hand() {
        let (acc, f1) = super::accuracy_and_macro_f1(&[0, 1, 1, 2], &[0, 1, 2, 2], 3);
        assert_eq!(acc, 0.75);
        assert!((f1 - (1.0 + 2.0 / 3.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
    }
}
