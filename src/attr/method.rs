//! The attribution methods calig offers, by name.

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
