//! Attribution methods, one per file, over a small shared core: the prepared [`Subject`]
//! (model, input, target, baseline ingredients), the path-integration engine ([`path`]),
//! gradients at the input ([`grads`]), quadrature and batching.

pub mod attention;
pub mod attnlrp;
pub mod auto_steps;
pub mod baseline;
pub mod batching;
pub mod calig;
pub mod chefer2021;
pub mod gae;
pub mod grads;
pub mod gxi;
pub mod ig;
pub mod layer_ig;
pub mod occlusion;
pub mod path;
mod path_explicit;
pub mod quadrature;
pub mod rollout;
pub mod saliency;

use crate::error::{CaligError, Result};
use crate::model::{Encoder, ModelInput};
use baseline::{Baseline, SpecialIds};
use candle_core::Tensor;
use quadrature::Quadrature;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Context-Aware Layer-wise Integrated Gradients (docs/calig.md).
    Calig,
    /// Layer Integrated Gradients in the space of every (selected) h^(l).
    Lig,
    /// Integrated Gradients w.r.t. the word embeddings (pixels for images).
    Ig,
    /// Gradient × input at the word embeddings.
    Gxi,
    /// L2 norm of the gradient at the word embeddings.
    Saliency,
    /// Last-layer attention, head mean, [CLS] row.
    Attention,
    /// Attention rollout (Abnar & Zuidema 2020).
    Rollout,
    /// Generic Attention-model Explainability (Chefer et al., ICCV 2021).
    Gae,
    /// Leave-one-token-out (text) or patch occlusion (images).
    Occlusion,
    /// AttnLRP (Achtibat et al., ICML 2024): LRP relevance in one backward pass.
    Attnlrp,
    /// Chefer, Gur & Wolf (CVPR 2021): LRP attention relevance × gradient, rolled out.
    Chefer2021,
}

impl Method {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Calig => "calig",
            Self::Lig => "lig",
            Self::Ig => "ig",
            Self::Gxi => "gxi",
            Self::Saliency => "saliency",
            Self::Attention => "attention",
            Self::Rollout => "rollout",
            Self::Gae => "gae",
            Self::Occlusion => "occlusion",
            Self::Attnlrp => "attnlrp",
            Self::Chefer2021 => "chefer2021",
        }
    }
}

/// How CA-LIG reads the attention-gradient relevance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AttentionMode {
    /// At the real input (one extra forward/backward).
    Input,
    /// Integrated along the interpolation path entering each block.
    Path,
}

/// How CA-LIG combines the per-layer fused maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    /// Propagate each layer's signed vector through the later blocks' (I + Ā) maps, then sum.
    Rollout,
    /// Sum the layers' fused maps.
    Sum,
    /// Carry each layer's vector back to the input positions through the earlier blocks'
    /// maps transposed (relevance at position i of block k flows to the positions i attends
    /// to), then sum; conserves each layer's total with `propagation=rownorm`.
    Backward,
}

/// The attention map that CA-LIG's rollout and backward aggregation propagate through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    /// GAE's Ā (v ← v + Ā v forward; v ← v + Āᵀ v backward).
    Gae,
    /// 0.5·I + 0.5·rownorm(Ā), rows summing to 1, as attention rollout normalises.
    Rownorm,
}

/// Whether CA-LIG's attention relevance a^(l) keeps GAE's ReLU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AttentionSign {
    /// mean_k (∇A ⊙ A)^+, â = a / max a in [0, 1].
    Positive,
    /// mean_k (∇A ⊙ A) without the ReLU, â = a / max |a| in [−1, 1].
    Signed,
}

/// How CA-LIG fuses r^(l) with â^(l).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Fusion {
    /// s = r · (λ + (1 − λ) â).
    Scale,
    /// s = λ · r̂ + (1 − λ) · â · sign(r), r̂ = r / max |r|.
    Mixed,
}

/// How CA-LIG's attention relevance a^(l) combines the heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Heads {
    /// The mean over heads, as GAE.
    Mean,
    /// Each head weighted by its share of the block's positive gradient relevance.
    Weighted,
}

/// What CA-LIG's per-layer relevance r^(l) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LayerRelevance {
    /// Layer Integrated Gradients at h^(l) (the paper's definition).
    Lig,
    /// AttnLRP relevance at h^(l), from one backward pass under AttnLRP's rules.
    Attnlrp,
}

/// Whether special tokens ([CLS], [SEP]) take part in normalising â and in propagation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Specials {
    Keep,
    /// a^(l) of special tokens set to 0 before normalising (GAE's [CLS] self-relevance
    /// otherwise sets the maximum); their columns zeroed in the propagation maps.
    Drop,
}

/// What CA-LIG does with the relevance r^(l) that sits on the readout token ([CLS], <s>;
/// position 0), which the map of the input tokens or patches never shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Cls {
    /// r^(l) as it is.
    Keep,
    /// [CLS]'s r^(l) handed to the other tokens in proportion to a^(l), the class-specific
    /// attention relevance of [CLS]'s row in block l (what [CLS] drew its content from).
    Spread,
}

/// Which hidden states the layer methods cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layers {
    All,
    List(Vec<usize>),
}

/// `"all"` or the list of indices.
impl Serialize for Layers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Self::All => s.serialize_str("all"),
            Self::List(v) => v.serialize(s),
        }
    }
}

impl Layers {
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        if s == "all" {
            return Ok(Self::All);
        }
        let mut v = s
            .split(',')
            .map(|p| {
                p.trim()
                    .parse::<usize>()
                    .map_err(|_| format!("`{p}` is not a layer index"))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        v.sort_unstable();
        v.dedup();
        Ok(Self::List(v))
    }

    /// The sorted, distinct layers in 0..=num_layers; an error names an index out of range.
    pub fn resolve(&self, num_layers: usize) -> Result<Vec<usize>> {
        match self {
            Self::All => Ok((0..=num_layers).collect()),
            Self::List(v) => {
                if let Some(bad) = v.iter().find(|&&l| l > num_layers) {
                    return Err(CaligError::InvalidInput(format!(
                        "layer {bad} does not exist: the model has layers 0..={num_layers}"
                    )));
                }
                let mut v = v.clone();
                v.sort_unstable();
                v.dedup();
                if v.is_empty() {
                    return Err(CaligError::InvalidInput("no layers selected".into()));
                }
                Ok(v)
            }
        }
    }
}

/// Every knob of every method; each method reads the ones it needs.
#[derive(Debug, Clone, Serialize)]
pub struct Params {
    pub steps: usize,
    pub quadrature: Quadrature,
    pub baseline: Baseline,
    pub layers: Layers,
    /// Interpolation points per forward/backward chunk; 0 chooses it from `memory_mib`.
    pub max_batch: usize,
    /// Activation-memory budget (MiB) that sizes chunks when `max_batch` is 0.
    pub memory_mib: usize,
    /// CA-LIG fusion weight λ in [0, 1]: s = r·(λ + (1 − λ)·â).
    pub lambda: f64,
    pub attention_mode: AttentionMode,
    pub aggregation: Aggregation,
    pub propagation: Propagation,
    pub attention_sign: AttentionSign,
    pub fusion: Fusion,
    pub specials: Specials,
    /// CA-LIG's head combination in a^(l). Left out of the serialised form at its default.
    #[serde(skip_serializing_if = "is_mean")]
    pub heads: Heads,
    /// CA-LIG's r^(l). Left out of the serialised form at its default (cache keys).
    #[serde(skip_serializing_if = "is_lig")]
    pub layer_relevance: LayerRelevance,
    /// CA-LIG's [CLS] relevance. Left out of the serialised form at its default (cache keys).
    #[serde(skip_serializing_if = "is_keep")]
    pub cls: Cls,
    /// chefer2021: the first block (1..=L) of the rollout. Left out of the serialised form at
    /// its default, so that `calig eval` caches keyed by the parameters stay valid.
    #[serde(skip_serializing_if = "is_first_block")]
    pub start_layer: usize,
    /// `--steps auto`: the path methods raise their steps (auto_steps.rs) until every
    /// completeness delta is within this share of its logit difference (`steps` is then unused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
}

fn is_mean(h: &Heads) -> bool {
    *h == Heads::Mean
}

fn is_lig(r: &LayerRelevance) -> bool {
    *r == LayerRelevance::Lig
}

fn is_keep(c: &Cls) -> bool {
    *c == Cls::Keep
}

fn is_first_block(start_layer: &usize) -> bool {
    *start_layer == 1
}

impl Params {
    pub fn defaults(is_text: bool) -> Self {
        Self {
            steps: 50,
            quadrature: Quadrature::GaussLegendre,
            baseline: Baseline::default_for(is_text),
            layers: Layers::All,
            max_batch: 0,
            memory_mib: 2048,
            lambda: 0.5,
            attention_mode: AttentionMode::Input,
            aggregation: Aggregation::Rollout,
            propagation: Propagation::Gae,
            attention_sign: AttentionSign::Positive,
            fusion: Fusion::Scale,
            specials: Specials::Keep,
            heads: Heads::Mean,
            layer_relevance: LayerRelevance::Lig,
            cls: Cls::Keep,
            start_layer: 1,
            tolerance: None,
        }
    }

    pub fn validate(&self) -> Result<()> {
        if let Some(t) = self.tolerance {
            if !(t.is_finite() && t > 0.0) {
                return Err(CaligError::InvalidInput(format!(
                    "the --steps auto tolerance must be a positive number, not {t}"
                )));
            }
        }
        if !(0.0..=1.0).contains(&self.lambda) {
            return Err(CaligError::InvalidInput(format!(
                "lambda {} is outside [0, 1]",
                self.lambda
            )));
        }
        if self.heads == Heads::Weighted
            && (self.attention_mode == AttentionMode::Path
                || self.attention_sign == AttentionSign::Signed)
        {
            return Err(CaligError::InvalidInput(
                "heads=weighted weighs the positive attention relevance at the input: use \
                 attention_mode=input and attention_sign=positive"
                    .into(),
            ));
        }
        if self.attention_mode == AttentionMode::Path
            && self.layer_relevance == LayerRelevance::Attnlrp
        {
            return Err(CaligError::InvalidInput(
                "layer_relevance=attnlrp has no integration path: use attention_mode=input".into(),
            ));
        }
        if self.attention_mode == AttentionMode::Path
            && self.attention_sign == AttentionSign::Signed
        {
            return Err(CaligError::InvalidInput(
                "attention_sign=signed reads the attention at the input: use attention_mode=input"
                    .into(),
            ));
        }
        if self.steps > quadrature::MAX_STEPS {
            return Err(CaligError::InvalidInput(format!(
                "steps {} is above calig's limit of {}: every step is a forward and backward \
                 pass per path; 50 Gauss–Legendre steps usually keep the convergence delta \
                 under 1 % of the logit difference",
                self.steps,
                quadrature::MAX_STEPS
            )));
        }
        self.quadrature
            .rule(self.steps)
            .map_err(CaligError::InvalidInput)?;
        if self.max_batch == 0 && self.memory_mib == 0 {
            return Err(CaligError::InvalidInput(
                "memory-mib must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

impl Params {
    /// Rows (interpolation points) per chunk: `max_batch` when set, else as many as the memory
    /// budget allows for a full-depth pass, between 1 and 25 (the fastest of 12/16/25/32 on MiniLM, measured). The estimate of the activations
    /// one row keeps for the backward pass, per block, is 24·s·d + 8·heads·s² + 6·s·ffn values
    /// (calibrated on MiniLM: ~0.8 GB per row at 512 tokens, measured).
    pub fn chunk_rows(&self, subject: &Subject) -> usize {
        if self.max_batch > 0 {
            return self.max_batch;
        }
        let c = subject.model.config();
        let s = subject.seq_len() as f64;
        let per_block = 24.0 * s * c.hidden_size as f64
            + 8.0 * c.num_heads as f64 * s * s
            + 6.0 * s * c.intermediate_size as f64;
        let bytes =
            per_block * c.num_layers.max(1) as f64 * subject.model.dtype().size_in_bytes() as f64;
        // Chunks run on parallel workers: each gets its share of the budget.
        let workers = subject.model.runtime().workers;
        let budget = self.memory_mib as f64 * 1024.0 * 1024.0 / workers as f64;
        ((budget / bytes).floor() as usize).clamp(1, 25)
    }
}

/// An input prepared for attribution: a batch of one, its target class, and what baselines need.
pub struct Subject<'a> {
    pub model: &'a dyn Encoder,
    pub input: ModelInput,
    pub mask_bias: Option<Tensor>,
    pub target: usize,
    /// Text: which tokens are special ([CLS], [SEP], <s>, </s>); images: empty.
    pub special: Vec<bool>,
    pub special_ids: Option<SpecialIds>,
    /// Images: the normalised value of black per channel, and the patch size (blur σ).
    pub black: Vec<f64>,
    pub patch_size: usize,
    /// Logits at the real input (computed once, when the subject is prepared).
    pub logits: Vec<f64>,
}

impl Subject<'_> {
    pub fn is_text(&self) -> bool {
        matches!(self.input, ModelInput::Text(_))
    }

    pub fn baseline(&self, baseline: Baseline) -> Result<baseline::ResolvedBaseline> {
        baseline::resolve(
            self.model,
            &self.input,
            baseline,
            &self.special,
            self.special_ids,
            &self.black,
            self.patch_size as f64,
        )
    }

    /// Tokens the blocks see (ViT: patches + [CLS]).
    pub fn seq_len(&self) -> usize {
        match &self.input {
            ModelInput::Text(t) => t.input_ids.dims().get(1).copied().unwrap_or(0),
            ModelInput::Image(_) => self
                .model
                .config()
                .image
                .as_ref()
                .map_or(1, |i| i.grid() * i.grid() + 1),
        }
    }

    /// One forward/backward pass at the real input (grads.rs).
    pub fn input_gradients(&self) -> Result<grads::InputGradients> {
        grads::at_input(
            self.model,
            &self.input,
            self.mask_bias.as_ref(),
            self.target,
        )
    }

    /// y_c at the real input.
    pub fn logit(&self) -> Result<f64> {
        self.logits.get(self.target).copied().ok_or_else(|| {
            CaligError::InvalidInput(format!(
                "target {} is not one of the {} classes",
                self.target,
                self.logits.len()
            ))
        })
    }
}

/// What positions a score vector covers.
#[derive(Debug, Clone, PartialEq)]
pub enum Scores {
    /// One score per token ([CLS] first for ViT).
    Tokens(Vec<f64>),
    /// One score per image patch (row-major grid).
    Patches(Vec<f64>),
}

/// Completeness: Σ attributions − (y_c(input) − y_c(baseline)).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Delta {
    None,
    Scalar(f64),
    /// Index = layer.
    PerLayer(Vec<Option<f64>>),
}

/// Share of |y_c(input) − y_c(baseline)| above which a convergence delta is reported.
pub const DELTA_WARNING_SHARE: f64 = 0.05;

/// A warning when the worst (delta, logit difference) pair misses completeness by more than
/// [`DELTA_WARNING_SHARE`] of the difference (and by more than 1e-3 in absolute terms).
pub(crate) fn delta_warning(pairs: &[(f64, f64)], params: &Params) -> Option<String> {
    let (delta, diff) = pairs
        .iter()
        .copied()
        .max_by(|a, b| auto_steps::share(a.0, a.1).total_cmp(&auto_steps::share(b.0, b.1)))?;
    if delta.abs() <= 1e-3 || delta.abs() <= DELTA_WARNING_SHARE * diff.abs() {
        return None;
    }
    Some(format!(
        "convergence delta {delta:+.3e} is {:.0} % of the logit difference {diff:+.3e}: the \
         integral is inaccurate; use more steps (now {}) or the gausslegendre quadrature",
        100.0 * delta.abs() / diff.abs().max(1e-12),
        params.steps
    ))
}

/// A method's result before it is dressed as an [`crate::explanation::Explanation`].
#[derive(Debug, Clone)]
pub struct Attribution {
    pub scores: Scores,
    /// Per-layer token scores, index = layer (None where a method has no value for a layer).
    pub layers: Option<Vec<Option<Vec<f64>>>>,
    pub delta: Delta,
    /// Method-specific extras (CA-LIG's r, a, s parts).
    pub details: Option<serde_json::Value>,
    /// What the user should know about this result (an inaccurate integral).
    pub warnings: Vec<String>,
    /// Path methods: (completeness delta, y_c(x) − y_c(x′)) of every path.
    pub completeness: Vec<(f64, f64)>,
    /// Path methods: the steps each path used (they differ under `--steps auto`).
    pub steps: Vec<usize>,
}

impl Attribution {
    /// A single map, without layers, delta or details.
    pub fn scores_only(scores: Scores) -> Self {
        Self {
            scores,
            layers: None,
            delta: Delta::None,
            details: None,
            warnings: Vec::new(),
            completeness: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// The largest |delta| / |y_c(x) − y_c(x′)| over the paths (0 without paths).
    pub fn worst_delta_share(&self) -> f64 {
        auto_steps::worst_share(&self.completeness)
    }
}

pub fn run(method: Method, subject: &Subject, params: &Params) -> Result<Attribution> {
    params.validate()?;
    match params.tolerance {
        // ig has a single path: double its steps; lig and calig adapt per path (layer_ig.rs).
        Some(tolerance) if method == Method::Ig => ig_auto_steps(subject, params, tolerance),
        _ => run_fixed(method, subject, params),
    }
}

/// ig under `--steps auto`: tries step counts (auto_steps.rs) until the completeness delta
/// is within `tolerance` of the logit difference.
fn ig_auto_steps(subject: &Subject, params: &Params, tolerance: f64) -> Result<Attribution> {
    let mut p = params.clone();
    p.tolerance = None;
    p.steps = auto_steps::FIRST_STEPS;
    let mut tries = Vec::new();
    loop {
        let mut a = ig::run(subject, &p)?;
        tries.push(auto_steps::Try {
            steps: p.steps,
            share: a.worst_delta_share(),
        });
        match auto_steps::next_steps(&tries, tolerance) {
            Some(n) => p.steps = n,
            None => {
                a.warnings
                    .extend(auto_steps_warning(&a.completeness, tolerance));
                return Ok(a);
            }
        }
    }
}

/// Said when `--steps auto` ended above the tolerance (at the cap or the rounding floor).
pub(crate) fn auto_steps_warning(pairs: &[(f64, f64)], tolerance: f64) -> Option<String> {
    let share = auto_steps::worst_share(pairs);
    (share > tolerance).then(|| {
        format!(
            "--steps auto ended with a completeness delta of {:.2e} of the logit difference, \
             above the tolerance of {tolerance:.2e} (at {} steps, or where more steps no \
             longer lower it: f32 rounding)",
            share,
            auto_steps::MAX_STEPS
        )
    })
}

fn run_fixed(method: Method, subject: &Subject, params: &Params) -> Result<Attribution> {
    match method {
        Method::Calig => calig::run(subject, params),
        Method::Lig => layer_ig::run(subject, params),
        Method::Ig => ig::run(subject, params),
        Method::Gxi => gxi::run(subject),
        Method::Saliency => saliency::run(subject),
        Method::Attention => attention::run(subject),
        Method::Rollout => rollout::run(subject),
        Method::Gae => gae::run(subject),
        Method::Occlusion => occlusion::run(subject, params),
        Method::Attnlrp => attnlrp::run(subject, params),
        Method::Chefer2021 => chefer2021::run(subject, params),
    }
}

/// Flattens a tensor to f64 values.
pub(crate) fn to_vec(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.to_dtype(candle_core::DType::F64)?
        .flatten_all()?
        .to_vec1()?)
}

/// Token scores of a (1, s, d) attribution: the sum over the hidden dimension.
pub(crate) fn token_sums(attr: &Tensor) -> Result<Vec<f64>> {
    to_vec(&attr.squeeze(0)?.sum(1)?)
}

/// Patch scores of a per-pixel map (h, w): sums over each patch, row-major.
pub(crate) fn patch_sums(pixel_map: &Tensor, patch: usize) -> Result<Vec<f64>> {
    let (h, w) = pixel_map.dims2()?;
    let values = to_vec(pixel_map)?;
    let (gh, gw) = (h / patch, w / patch);
    let mut out = vec![0.0; gh * gw];
    for y in 0..h {
        for x in 0..w {
            out[(y / patch) * gw + x / patch] += values[y * w + x];
        }
    }
    Ok(out)
}
