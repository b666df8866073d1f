//! calig's pure-Rust speed benchmark: explanations per second, achieved GFLOP/s of the block
//! stack from a FLOP count, the GEMM rate this machine reaches, and peak RSS, per method and
//! input length. No Python; docs/performance.md has the side-by-side with Captum.
//!
//!     cargo run --release --example bench -- [MODEL] [TOKENS,..] [METHODS,..] [STEPS] [REPS]
//!
//! Defaults: minilm-sst2, 16,55,264,512 tokens, calig,ig, 50 steps, 3 repetitions. Texts are a
//! fixed English paragraph cut to each length; model loading is excluded from the timings.

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
    let m = load_model(&model, DType::F32, &Device::Cpu)?;
    let c = m.config.clone();
    let workers = calig::attr::batching::workers();
    let peak = gemm_rate() * workers as f64;
    println!(
        "model {model}: {} layers, width {}, ffn {}; {workers} workers; GEMM rate of this \
         machine {peak:.0} GFLOP/s ({:.0} per worker, 1024^3 f32)",
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
            let method: Method = clap::ValueEnum::from_str(name, true)
                .map_err(|e| anyhow::anyhow!("method {name}: {e}"))?;
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
