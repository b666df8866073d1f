//! The settings of the methods: every knob of every method in one [`Params`] value (each method
//! reads the ones it needs), the option enums of CA-LIG and the layer selection.

use super::baseline::{Baseline, BaselineSpec};
use super::quadrature::{self, Quadrature};
use crate::error::{CaligError, Result};
use serde::Serialize;
use strum::{EnumMessage, IntoStaticStr, VariantArray};

/// How CA-LIG reads the attention-gradient relevance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[derive(VariantArray, IntoStaticStr, EnumMessage)]
#[strum(serialize_all = "lowercase")]
pub enum AttentionMode {
    /// At the real input (one extra forward/backward).
    #[default]
    Input,
    /// Integrated along the interpolation path entering each block.
    Path,
}

/// How CA-LIG combines the per-layer fused maps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[derive(VariantArray, IntoStaticStr, EnumMessage)]
#[strum(serialize_all = "lowercase")]
pub enum Aggregation {
    /// Propagate each layer's signed vector through the later blocks' (I + Ā) maps, then sum.
    #[default]
    Rollout,
    /// Sum the layers' fused maps.
    Sum,
    /// Carry each layer's vector back to the input positions through the earlier blocks'
    /// maps transposed (relevance at position i of block k flows to the positions i attends
    /// to), then sum; conserves each layer's total with `propagation=rownorm`.
    Backward,
}

/// The attention map that CA-LIG's rollout and backward aggregation propagate through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[derive(VariantArray, IntoStaticStr, EnumMessage)]
#[strum(serialize_all = "lowercase")]
pub enum Propagation {
    /// GAE's Ā (v ← v + Ā v forward; v ← v + Āᵀ v backward).
    #[default]
    Gae,
    /// 0.5·I + 0.5·rownorm(Ā), rows summing to 1, as attention rollout normalises.
    Rownorm,
}

/// Whether CA-LIG's attention relevance a^(l) keeps GAE's ReLU.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[derive(VariantArray, IntoStaticStr, EnumMessage)]
#[strum(serialize_all = "lowercase")]
pub enum AttentionSign {
    /// mean_k (∇A ⊙ A)^+, â = a / max a in [0, 1].
    #[default]
    Positive,
    /// mean_k (∇A ⊙ A) without the ReLU, â = a / max |a| in [−1, 1].
    Signed,
}

/// How CA-LIG fuses r^(l) with â^(l).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[derive(VariantArray, IntoStaticStr, EnumMessage)]
#[strum(serialize_all = "lowercase")]
pub enum Fusion {
    /// s = r · (λ + (1 − λ) â).
    #[default]
    Scale,
    /// s = λ · r̂ + (1 − λ) · â · sign(r), r̂ = r / max |r|.
    Mixed,
}

/// How CA-LIG's attention relevance a^(l) combines the heads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[derive(VariantArray, IntoStaticStr, EnumMessage)]
#[strum(serialize_all = "lowercase")]
pub enum Heads {
    /// The mean over heads, as GAE.
    #[default]
    Mean,
    /// Each head weighted by its share of the block's positive gradient relevance.
    Weighted,
}

/// What CA-LIG's per-layer relevance r^(l) is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[derive(VariantArray, IntoStaticStr, EnumMessage)]
#[strum(serialize_all = "lowercase")]
pub enum LayerRelevance {
    /// Layer Integrated Gradients at h^(l) (the paper's definition).
    #[default]
    Lig,
    /// AttnLRP relevance at h^(l), from one backward pass under AttnLRP's rules.
    Attnlrp,
}

/// Whether special tokens (\[CLS\], \[SEP\]) take part in normalising â and in propagation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[derive(VariantArray, IntoStaticStr, EnumMessage)]
#[strum(serialize_all = "lowercase")]
pub enum Specials {
    /// Special tokens are treated as every other token.
    #[default]
    Keep,
    /// a^(l) of special tokens set to 0 before normalising (GAE's \[CLS\] self-relevance
    /// otherwise sets the maximum); their columns zeroed in the propagation maps.
    Drop,
}

/// What CA-LIG does with the relevance r^(l) that sits on the readout token (\[CLS\], `<s>`;
/// position 0), which the map of the input tokens or patches never shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[derive(VariantArray, IntoStaticStr, EnumMessage)]
#[strum(serialize_all = "lowercase")]
pub enum Cls {
    /// r^(l) as it is.
    #[default]
    Keep,
    /// \[CLS\]'s r^(l) handed to the other tokens in proportion to a^(l), the class-specific
    /// attention relevance of \[CLS\]'s row in block l (what \[CLS\] drew its content from).
    Spread,
}

/// How `ig` turns its attributions over the embedding dimensions (channels for images) into one
/// score per token (M⁴'s three IG entries; DESIGN §3's score is `sum`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[derive(VariantArray, IntoStaticStr, EnumMessage)]
#[strum(serialize_all = "lowercase")]
pub enum Reduce {
    /// Σ_d a_d: signed, completeness holds for the token scores.
    #[default]
    Sum,
    /// Σ_d |a_d|: unsigned.
    Abs,
    /// Σ_d a_d²: unsigned.
    Sq,
}

/// Which hidden states the layer methods cover.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Layers {
    #[default]
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
    /// `all`, or indices and ranges separated by `,` or `+` (`1,3`, `1+3`, `1-3`, `0,2-4`).
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        if s.trim() == "all" {
            return Ok(Self::All);
        }
        let index = |p: &str| {
            p.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{}` is not a layer index", p.trim()))
        };
        let mut v = Vec::new();
        for part in s.split([',', '+']) {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (index(a)?, index(b)?);
                    if a > b {
                        return Err(format!("empty layer range {a}-{b}"));
                    }
                    v.extend(a..=b);
                }
                None => v.push(index(part)?),
            }
        }
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

/// Every setting of every method; each method reads the ones it needs. [`Params::defaults`]
/// and [`Params::apply`] read the settings table (settings.rs): a new setting is a field here
/// plus a row there. Serialised (`calig eval`'s cache keys, results.json) with the later
/// settings left out at their defaults, so that older caches stay valid.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Params {
    pub steps: usize,
    pub quadrature: Quadrature,
    pub baseline: Baseline,
    /// `baseline=expected:N`: N, the references drawn (0 otherwise). Left out of the
    /// serialised form when 0, as the settings below at their defaults (cache keys).
    #[serde(skip_serializing_if = "is_zero")]
    pub expected_samples: usize,
    /// `baseline=blur:σ`: σ in pixels (None: one patch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blur_sigma: Option<f64>,
    /// `expected:N`: the reference set (attr/expected.rs reads it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_data: Option<String>,
    /// `expected:N`: the seed of the draw.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub seed: u64,
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
    /// CA-LIG's \[CLS\] relevance. Left out of the serialised form at its default (cache keys).
    #[serde(skip_serializing_if = "is_keep")]
    pub cls: Cls,
    /// chefer2021: the first block (1..=L) of the rollout. Left out of the serialised form at
    /// its default, so that `calig eval` caches keyed by the parameters stay valid.
    #[serde(skip_serializing_if = "is_first_block")]
    pub start_layer: usize,
    /// ig: how the embedding dimensions are reduced to a token score. Left out of the
    /// serialised form at its default (cache keys).
    #[serde(skip_serializing_if = "is_sum")]
    pub reduce: Reduce,
    /// `--steps auto`: the path methods raise their steps (path/auto.rs) until every
    /// completeness delta is within this share of its logit difference (`steps` is then unused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
    /// Refuse a text longer than the model's maximum instead of truncating it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_truncate: bool,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
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

fn is_sum(r: &Reduce) -> bool {
    *r == Reduce::Sum
}

fn is_first_block(start_layer: &usize) -> bool {
    *start_layer == 1
}

impl Params {
    /// The `baseline` value with its argument (`expected:8`, `blur:2.5`).
    pub fn baseline_spec(&self) -> BaselineSpec {
        BaselineSpec {
            baseline: self.baseline,
            samples: self.expected_samples,
            sigma: self.blur_sigma,
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.baseline == Baseline::Expected && self.reference_data.is_none() {
            return Err(CaligError::InvalidInput(format!(
                "baseline {} draws its references from a reference set: give one with \
                 reference_data (--reference-data FILE: texts, one per line, or a .jsonl, .tsv \
                 or .csv with a `text` or `sentence` column; images: a folder of images or a \
                 file listing them)",
                self.baseline_spec().name()
            )));
        }
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
