//! calig's pure-Rust speed benchmark: explanations per second, achieved GFLOP/s of the block
//! stack from a FLOP count, the GEMM rate this machine reaches, and peak RSS, per method and
//! input length. No Python; docs/performance.md has the side-by-side with Captum.
//!
//!     cargo run --release --example bench -- [MODEL] [TOKENS,..] [METHODS,..] [STEPS] [REPS] [DEVICE] [PRECISION]
//!
//! Defaults: minilm-sst2, 16,55,264,512 tokens, calig,ig, 50 steps, 3 repetitions, cpu, f32.
//! PRECISION: f32, tf32 (f32 with TF32 matrix products on CUDA), bf16 or f16. Texts
//! are a fixed English paragraph cut to each length; model loading is excluded from the
//! timings. MODEL `random-bert-base` builds a randomly initialised BERT-base-sized classifier
//! (12 layers, width 768, FFN 3072, 12 heads; the test fixture's tokenizer) in a temporary
//! directory: the speed issue's GPU yardstick (128 tokens, 50 steps), e.g.
//!
//!     cargo run --release --features cuda --example bench -- random-bert-base 128 calig,ig 50 3 cuda

use calig::attr::{Method, Params};
use calig::engine::gemm::{matmul, Mat};
use calig::explain::{explain_prepared, prepare, ExplainInput};
use calig::model::load_model;
use candle_core::{DType, Device};
use std::time::Instant;

const PARAGRAPH: &str = "the film is a charming , often funny and surprisingly moving portrait \
    of a family that learns to live with its own quirks and failures , and although the plot \
    wanders in the middle the actors keep it alive with warm , generous performances that make \
    every small scene feel honest . ";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.into());
    let model = arg(0, "minilm-sst2");
    let lengths: Vec<usize> = arg(1, "16,55,264,512")
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let methods: Vec<String> = arg(2, "calig,ig").split(',').map(String::from).collect();
    let steps: usize = arg(3, "50").parse()?;
    let reps: usize = arg(4, "3").parse()?;
    let device = match arg(5, "cpu").as_str() {
        "cpu" => Device::Cpu,
        "cuda" => Device::new_cuda(0)?,
        other => anyhow::bail!("device `{other}`: cpu or cuda"),
    };
    let precision = arg(6, "f32");
    let dtype = match precision.as_str() {
        "f32" | "tf32" => DType::F32,
        "bf16" => DType::BF16,
        "f16" => DType::F16,
        other => anyhow::bail!("precision `{other}`: f32, tf32, bf16 or f16"),
    };
    calig::runtime::set_tf32(precision == "tf32");
    let random_dir;
    let model_dir = if model == "random-bert-base" {
        random_dir = tempfile::tempdir()?;
        random_bert_base(random_dir.path())?;
        random_dir.path().to_str().unwrap_or_default().to_string()
    } else {
        model.clone()
    };
    let m = load_model(&model_dir, dtype, &device)?;
    let c = m.config.clone();
    let workers = m.runtime().workers;
    let peak = gemm_rate() * workers as f64;
    println!(
        "model {model} on {device:?} in {precision}: {} layers, width {}, ffn {}; {workers} \
         workers; GEMM rate of this machine's CPU {peak:.0} GFLOP/s ({:.0} per worker, 1024^3 f32)",
        c.num_layers,
        c.hidden_size,
        c.intermediate_size,
        peak / workers as f64
    );
    println!("| method | tokens | median s | explanations/s | GFLOP | GFLOP/s | of GEMM rate | peak RSS MiB |");
    println!("|---|---|---|---|---|---|---|---|");
    for &n in &lengths {
        let text = text_of_length(&m, n)?;
        let p = prepare(&m, &ExplainInput::Text(text), None)?;
        let s = p.tokens.len();
        for name in &methods {
            let method = Method::parse(name).map_err(|e| anyhow::anyhow!("method {e}"))?;
            let mut params = Params::defaults(true);
            params.steps = steps;
            reset_peak_rss();
            let mut times = Vec::new();
            for _ in 0..reps {
                let t = Instant::now();
                explain_prepared(&m, &p, method, &params)?;
                times.push(t.elapsed().as_secs_f64());
            }
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            let (full, readout) = block_passes(method, c.num_layers);
            let (d, di) = (c.hidden_size, c.intermediate_size);
            let flops = steps as f64
                * (full as f64 * pass_flops(s, d, di, false)
                    + readout as f64 * pass_flops(s, d, di, true));
            let rate = flops / median / 1e9;
            println!(
                "| {name} | {s} | {median:.3} | {:.2} | {:.1} | {rate:.1} | {:.0} % | {:.0} |",
                1.0 / median,
                flops / 1e9,
                100.0 * rate / peak,
                peak_rss_mib()
            );
        }
    }
    Ok(())
}

/// A BERT-base-sized sequence classifier with random weights (N(0, 0.02), LayerNorm 1 and 0)
/// and the BERT test fixture's tokenizer (from the current directory's tests/fixtures, else
/// the build's), written to `dir`.
fn random_bert_base(dir: &std::path::Path) -> anyhow::Result<()> {
    use candle_core::Tensor;
    let here = std::path::Path::new("tests/fixtures/bert");
    let fixture = if here.join("tokenizer.json").is_file() {
        here.to_path_buf()
    } else {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bert")
    };
    for f in [
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ] {
        std::fs::copy(fixture.join(f), dir.join(f))?;
    }
    let (d, di, layers, vocab, positions) = (768, 3072, 12, 400, 512);
    let config = serde_json::json!({
        "architectures": ["BertForSequenceClassification"], "model_type": "bert",
        "hidden_size": d, "intermediate_size": di, "num_hidden_layers": layers,
        "num_attention_heads": 12, "vocab_size": vocab, "max_position_embeddings": positions,
        "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
        "pad_token_id": 0, "id2label": {"0": "negative", "1": "positive"},
        "label2id": {"negative": 0, "positive": 1}
    });
    std::fs::write(dir.join("config.json"), config.to_string())?;
    let dev = Device::Cpu;
    let mut w = std::collections::HashMap::new();
    let mut add = |name: String, shape: &[usize]| -> anyhow::Result<()> {
        w.insert(name, (Tensor::randn(0f32, 0.02, shape, &dev))?);
        Ok(())
    };
    let norm =
        |w: &mut std::collections::HashMap<String, Tensor>, name: String| -> anyhow::Result<()> {
            w.insert(format!("{name}.weight"), Tensor::ones(d, DType::F32, &dev)?);
            w.insert(format!("{name}.bias"), Tensor::zeros(d, DType::F32, &dev)?);
            Ok(())
        };
    add("bert.embeddings.word_embeddings.weight".into(), &[vocab, d])?;
    add(
        "bert.embeddings.position_embeddings.weight".into(),
        &[positions, d],
    )?;
    add(
        "bert.embeddings.token_type_embeddings.weight".into(),
        &[2, d],
    )?;
    let mut linears = vec![
        ("bert.pooler.dense".to_string(), d, d),
        ("classifier".to_string(), 2, d),
    ];
    for l in 0..layers {
        let p = format!("bert.encoder.layer.{l}");
        for (name, out, inp) in [
            ("attention.self.query", d, d),
            ("attention.self.key", d, d),
            ("attention.self.value", d, d),
            ("attention.output.dense", d, d),
            ("intermediate.dense", di, d),
            ("output.dense", d, di),
        ] {
            linears.push((format!("{p}.{name}"), out, inp));
        }
    }
    for (name, out, inp) in linears {
        add(format!("{name}.weight"), &[out, inp])?;
        add(format!("{name}.bias"), &[out])?;
    }
    norm(&mut w, "bert.embeddings.LayerNorm".into())?;
    for l in 0..layers {
        norm(
            &mut w,
            format!("bert.encoder.layer.{l}.attention.output.LayerNorm"),
        )?;
        norm(&mut w, format!("bert.encoder.layer.{l}.output.LayerNorm"))?;
    }
    candle_core::safetensors::save(&w, dir.join("model.safetensors"))?;
    Ok(())
}

/// A prefix of the paragraph (repeated) that tokenises to `n` tokens or just over.
fn text_of_length(m: &calig::model::LoadedModel, n: usize) -> anyhow::Result<String> {
    let words: Vec<&str> = PARAGRAPH.split_whitespace().collect();
    let mut text = String::new();
    for w in words.iter().cycle() {
        text.push_str(w);
        text.push(' ');
        if m.prepare_text(text.trim_end())?.0.ids.len() >= n || text.len() > 20 * n {
            break;
        }
    }
    Ok(text.trim_end().into())
}

/// Block forward+backward passes per interpolation step, (full, readout): a path at h^(l)
/// runs blocks l+1..L, the last of them for the first token only (text heads, [CLS] pooling).
fn block_passes(method: Method, layers: usize) -> (usize, usize) {
    let paths: Vec<usize> = match method {
        Method::Ig => vec![0],
        Method::Lig => (0..=layers).collect(),
        Method::Calig => (1..=layers).collect(),
        _ => Vec::new(),
    };
    let runs: Vec<usize> = paths
        .iter()
        .map(|l| layers - l)
        .filter(|&n| n > 0)
        .collect();
    (runs.iter().map(|n| n - 1).sum(), runs.len())
}

/// FLOPs of one block's forward and input-gradient backward on an s-token sequence: the four
/// d×d projections and the two FFN matrices (forward, and again backward), QKᵀ and A·V
/// forward, their four products backward. The readout block projects keys and values for
/// every token but queries, output, FFN and attention rows for the first token only.
fn pass_flops(s: usize, d: usize, di: usize, readout: bool) -> f64 {
    let (s, d, di) = (s as f64, d as f64, di as f64);
    if readout {
        4.0 * (2.0 * s * d * d + 2.0 * d * d + 2.0 * d * di) + 12.0 * s * d
    } else {
        4.0 * s * (4.0 * d * d + 2.0 * d * di) + 12.0 * s * s * d
    }
}

/// Single-thread f32 GEMM rate (GFLOP/s) of a 1024³ product through the engine's GEMM.
fn gemm_rate() -> f64 {
    let n = 1024;
    let (a, b) = (vec![0.5f32; n * n], vec![0.25f32; n * n]);
    let mut c = vec![0f32; n * n];
    let dense = Mat::dense(n, n);
    matmul(&mut c, dense, &a, dense, &b, dense, 1.0, false);
    let t = Instant::now();
    let reps = 5;
    for _ in 0..reps {
        matmul(&mut c, dense, &a, dense, &b, dense, 1.0, false);
    }
    2.0 * (n * n * n * reps) as f64 / t.elapsed().as_secs_f64() / 1e9
}

/// Linux: resets the peak-RSS counter (VmHWM) of this process.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}
