//! Accuracy and macro-F1 of a model on a labelled file, with calig's own forward pass.
//!
//!     cargo run --release --example dev_accuracy -- MODEL FORMAT PATH [--ids FILE] [--json OUT]
//!
//! FORMAT: `sst2` (sentence TSV), `movies` (ERASER jsonl; docs/ beside it), `bbc` (jsonl with
//! label_id; `--ids` keeps the listed ids, e.g. models-src/minilm-bbc/dev_ids.txt), `amharic`
//! (`__label__NAME<TAB>text`, names = the model's labels). `--json` writes the predictions and
//! logits, to compare with Python transformers (tools/train/check_transformers.py).

use anyhow::{bail, Context, Result};
use calig::data;
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
        other => bail!("unknown format `{other}`"),
    };
    if let Some(ids) = flag("--ids") {
        let keep: std::collections::HashSet<String> = std::fs::read_to_string(&ids)?
            .lines()
            .map(|l| l.trim().to_string())
            .collect();
        examples.retain(|e| keep.contains(&e.id));
    }
    let tok = m.tokenizer.as_ref().context("not a text model")?;
    let start = Instant::now();
    let (mut preds, mut logits_all) = (Vec::new(), Vec::new());
    for chunk in examples.chunks(16) {
        let encs = chunk
            .iter()
            .map(|e| tok.encode(&e.text))
            .collect::<calig::Result<Vec<_>>>()?;
        let ids: Vec<Vec<u32>> = encs.iter().map(|e| e.ids.clone()).collect();
        let types: Vec<Vec<u32>> = encs.iter().map(|e| e.type_ids.clone()).collect();
        let input = ModelInput::Text(text::batch(&m.config, &ids, &types, &Device::Cpu)?);
        let logits: Vec<Vec<f32>> = m.model.forward(&input)?.logits.to_vec2()?;
        for l in logits {
            let p = l
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i)
                .unwrap_or(0);
            preds.push(p);
            logits_all.push(l);
        }
    }
    let gold: Vec<usize> = examples.iter().map(|e| e.label).collect();
    let (acc, f1) = data::accuracy_and_macro_f1(&preds, &gold, m.config.labels.len());
    println!(
        "{} on {} ({} examples): accuracy {:.4}, macro-F1 {:.4}, {:.1} s",
        args[0],
        path.display(),
        examples.len(),
        acc,
        f1,
        start.elapsed().as_secs_f64()
    );
    if let Some(out) = flag("--json") {
        let ids: Vec<&str> = examples.iter().map(|e| e.id.as_str()).collect();
        std::fs::write(
            out,
            serde_json::to_string(
                &serde_json::json!({"ids": ids, "pred": preds, "logits": logits_all, "accuracy": acc, "macro_f1": f1}),
            )?,
        )?;
    }
    Ok(())
}
