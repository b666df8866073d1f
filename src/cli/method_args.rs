//! The method and its parameters, as `calig explain` and `calig batch` take them.

use anyhow::{bail, Result};
use calig::attr::baseline::Baseline;
use calig::attr::quadrature::Quadrature;
use calig::attr::{
    Aggregation, AttentionMode, AttentionSign, Cls, Fusion, Heads, LayerRelevance, Layers, Method,
    Params, Propagation, Specials,
};

/// Whether a method reads an option.
type UsedBy = fn(Method) -> bool;

#[derive(clap::Args, Debug, Clone)]
pub struct MethodArgs {
    /// The method; `calig explain` takes several separated by commas (`--method calig,ig,gae`)
    /// and reports them side by side.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "calig")]
    pub method: Vec<Method>,
    /// Interpolation steps of the path methods, or `auto`: from 8, raised per path until its
    /// completeness delta is within --tolerance of its logit difference.
    #[arg(long, default_value = "50", value_parser = parse_steps)]
    steps: Steps,
    /// With `--steps auto`: the largest |delta| / |y_c(x) − y_c(x′)| accepted.
    #[arg(long)]
    tolerance: Option<f64>,
    #[arg(long, value_enum, default_value = "gausslegendre")]
    quadrature: Quadrature,
    /// Reference input (default: pad for text, black for images).
    #[arg(long, value_enum)]
    baseline: Option<Baseline>,
    /// Layers of `lig` and `attnlrp`: `all` or a comma-separated list of indices 0..=L.
    #[arg(long, default_value = "all", value_parser = Layers::parse)]
    layers: Layers,
    /// Interpolation points per forward/backward chunk (default: sized by --memory-mib).
    #[arg(long)]
    max_batch: Option<usize>,
    /// Activation-memory budget in MiB that sizes the chunks when --max-batch is not given.
    #[arg(long, default_value_t = 2048)]
    memory_mib: usize,
    /// CA-LIG fusion weight λ in [0, 1].
    #[arg(long, default_value_t = 0.5)]
    lambda: f64,
    /// CA-LIG attention gradients: at the input or integrated along the path.
    #[arg(long, value_enum, default_value = "input")]
    attention_mode: AttentionMode,
    /// CA-LIG aggregation across layers.
    #[arg(long, value_enum, default_value = "rollout")]
    aggregation: Aggregation,
    /// CA-LIG: the map that rollout/backward aggregation propagates through.
    #[arg(long, value_enum, default_value = "gae")]
    propagation: Propagation,
    /// CA-LIG: keep GAE's ReLU in the attention relevance (positive) or not (signed).
    #[arg(long, value_enum, default_value = "positive")]
    attention_sign: AttentionSign,
    /// CA-LIG: how r and â are fused.
    #[arg(long, value_enum, default_value = "scale")]
    fusion: Fusion,
    /// CA-LIG: whether special tokens take part in normalising â and in propagation.
    #[arg(long, value_enum, default_value = "keep")]
    specials: Specials,
    /// CA-LIG: a^(l) as the mean over heads or weighted by each head's gradient relevance.
    #[arg(long, value_enum, default_value = "mean")]
    heads: Heads,
    /// CA-LIG: r^(l) by layer IG (the paper) or by AttnLRP relevance at h^(l).
    #[arg(long, value_enum, default_value = "lig")]
    layer_relevance: LayerRelevance,
    /// CA-LIG: keep [CLS]'s r^(l) or spread it over the tokens [CLS] attends to (by a^(l)).
    #[arg(long, value_enum, default_value = "keep")]
    cls: Cls,
    /// chefer2021: the first block of the rollout, 1..=L (1: every block; L: the last block
    /// only, as Chefer et al.'s BERT code).
    #[arg(long, default_value_t = 1)]
    start_layer: usize,
}

/// `--steps N` or `--steps auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steps {
    Fixed(usize),
    Auto,
}

fn parse_steps(s: &str) -> std::result::Result<Steps, String> {
    if s == "auto" {
        return Ok(Steps::Auto);
    }
    s.parse()
        .map(Steps::Fixed)
        .map_err(|_| format!("`{s}` is neither a number of steps nor `auto`"))
}

/// The tolerance of `--steps auto` when --tolerance is not given: 1 % of the logit difference.
const DEFAULT_TOLERANCE: f64 = 0.01;

impl MethodArgs {
    /// The options given away from their defaults (`Params::defaults`) that none of the
    /// chosen methods reads.
    pub fn ignored(&self, is_text: bool) -> Vec<&'static str> {
        use Method::*;
        let d = Params::defaults(is_text);
        let path: UsedBy = |m| matches!(m, Calig | Lig | Ig);
        let calig: UsedBy = |m| m == Calig;
        // --tolerance is read by the path methods under --steps auto only.
        let tolerance: UsedBy = if self.steps == Steps::Auto {
            path
        } else {
            |_| false
        };
        let checks: [(&str, bool, UsedBy); 18] = [
            ("--steps", self.steps != Steps::Fixed(d.steps), path),
            ("--tolerance", self.tolerance.is_some(), tolerance),
            ("--quadrature", self.quadrature != d.quadrature, path),
            ("--baseline", self.baseline.is_some(), |m| {
                matches!(m, Calig | Lig | Ig | Occlusion)
            }),
            ("--layers", self.layers != d.layers, |m| {
                matches!(m, Lig | Attnlrp)
            }),
            ("--max-batch", self.max_batch.is_some(), path),
            ("--memory-mib", self.memory_mib != d.memory_mib, path),
            ("--lambda", self.lambda != d.lambda, calig),
            (
                "--attention-mode",
                self.attention_mode != d.attention_mode,
                calig,
            ),
            ("--aggregation", self.aggregation != d.aggregation, calig),
            ("--propagation", self.propagation != d.propagation, calig),
            (
                "--attention-sign",
                self.attention_sign != d.attention_sign,
                calig,
            ),
            ("--fusion", self.fusion != d.fusion, calig),
            ("--specials", self.specials != d.specials, calig),
            ("--heads", self.heads != d.heads, calig),
            (
                "--layer-relevance",
                self.layer_relevance != d.layer_relevance,
                calig,
            ),
            ("--cls", self.cls != d.cls, calig),
            ("--start-layer", self.start_layer != d.start_layer, |m| {
                m == Chefer2021
            }),
        ];
        checks
            .iter()
            .filter(|(_, changed, used)| *changed && !self.method.iter().any(|&m| used(m)))
            .map(|(name, _, _)| *name)
            .collect()
    }

    /// The methods' names as the user wrote them (`calig,ig`).
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.method.iter().map(|m| m.name()).collect();
        names.join(",")
    }

    /// Says on stderr which given options the methods ignore.
    pub fn warn_ignored(&self, is_text: bool) {
        for flag in self.ignored(is_text) {
            eprintln!("warning: {flag} is ignored by --method {}", self.names());
        }
    }

    /// The one method of a command that takes one (`calig batch`).
    pub fn single(&self, command: &str) -> Result<Method> {
        match self.method.as_slice() {
            [m] => Ok(*m),
            _ => bail!(
                "{command} takes one --method (given: {}); run it once per method",
                self.names()
            ),
        }
    }

    pub fn params(&self, is_text: bool) -> Result<Params> {
        let (steps, tolerance) = match self.steps {
            Steps::Fixed(n) => (n, None),
            Steps::Auto => {
                let t = self.tolerance.unwrap_or(DEFAULT_TOLERANCE);
                if !(t.is_finite() && t > 0.0) {
                    bail!("--tolerance must be a positive number, not {t}");
                }
                (calig::attr::path::auto::FIRST_STEPS, Some(t))
            }
        };
        Ok(Params {
            steps,
            tolerance,
            quadrature: self.quadrature,
            baseline: self.baseline.unwrap_or(Baseline::default_for(is_text)),
            layers: self.layers.clone(),
            max_batch: match self.max_batch {
                Some(0) => bail!("--max-batch must be at least 1"),
                Some(n) => n,
                None => 0,
            },
            memory_mib: self.memory_mib,
            lambda: self.lambda,
            attention_mode: self.attention_mode,
            aggregation: self.aggregation,
            propagation: self.propagation,
            attention_sign: self.attention_sign,
            fusion: self.fusion,
            specials: self.specials,
            heads: self.heads,
            layer_relevance: self.layer_relevance,
            cls: self.cls,
            start_layer: self.start_layer,
        })
    }
}
