//! The metric names `calig eval` reports, their groups, which direction is better, and the
//! presets of published protocols.

use strum::{EnumMessage, IntoStaticStr, VariantArray};

/// What `--metrics` accepts: single metrics or the groups that compute them together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[derive(VariantArray, IntoStaticStr, EnumMessage)]
#[strum(serialize_all = "kebab-case")]
pub enum MetricChoice {
    /// ERASER comprehensiveness AOPC and per threshold.
    Comprehensiveness,
    /// ERASER sufficiency AOPC and per threshold.
    Sufficiency,
    /// Log-odds of the explained class after removing the top 20 %.
    LogOdds,
    /// Deletion curve of p_ŷ and its AUC.
    Deletion,
    /// Insertion curve of p_ŷ and its AUC.
    Insertion,
    /// "Beyond Intuition" positive/negative perturbation accuracy curves and AUCs.
    Perturbation,
    /// Token-F1@k (k = 5..80) and ERASER hard token F1 against human rationales.
    TokenF1,
    /// ERASER IOU-F1 at 0.5.
    IouF1,
    /// Area under the precision–recall curve of the soft scores.
    Auprc,
    /// M⁴'s MoRF, LeRF and ABPC = LeRF − MoRF: means of p_ŷ over percentile removal steps
    /// (text: 100, images: 20; src/eval/m4.rs).
    M4,
    /// ferret's AOPC comprehensiveness: sub-word tokens, bins 0.1…1.0, positive scores only,
    /// removed tokens deleted and the text re-tokenised.
    AopcCompr,
    /// ferret's AOPC sufficiency.
    AopcSuff,
    /// ferret's Kendall τ between the scores and leave-one-out importances.
    TaucorrLoo,
    /// ferret's AUPRC of the positive scores against the rationale's sub-word tokens.
    AuprcPlau,
    /// ferret's token F1 of the top-k positive sub-word tokens (k = the mean rationale size).
    TokenF1Plau,
    /// ferret's token IOU of the top-k positive sub-word tokens.
    TokenIouPlau,
}

impl MetricChoice {
    pub fn needs_rationales(&self) -> bool {
        matches!(
            self,
            Self::TokenF1
                | Self::IouF1
                | Self::Auprc
                | Self::AuprcPlau
                | Self::TokenF1Plau
                | Self::TokenIouPlau
        )
    }

    /// ferret's metrics (`--preset ferret`), computed on sub-word tokens with its own removal.
    pub fn is_ferret(&self) -> bool {
        matches!(
            self,
            Self::AopcCompr
                | Self::AopcSuff
                | Self::TaucorrLoo
                | Self::AuprcPlau
                | Self::TokenF1Plau
                | Self::TokenIouPlau
        )
    }

    /// Every calig metric that makes sense for a data set with (or without) rationales
    /// (ferret's come with its preset or by name).
    pub fn all(rationales: bool) -> Vec<Self> {
        <Self as strum::VariantArray>::VARIANTS
            .iter()
            .copied()
            .filter(|m| !m.is_ferret() && (rationales || !m.needs_rationales()))
            .collect()
    }

    /// ferret's metrics for a data set with (or without) rationales.
    pub fn ferret(rationales: bool) -> Vec<Self> {
        <Self as strum::VariantArray>::VARIANTS
            .iter()
            .copied()
            .filter(|m| m.is_ferret() && (rationales || !m.needs_rationales()))
            .collect()
    }
}

/// Whether larger values of a reported metric are better.
pub fn higher_is_better(metric: &str) -> bool {
    !(metric.starts_with("sufficiency")
        || metric.starts_with("log_odds")
        || metric == "deletion_auc"
        || metric == "perturbation_positive_auc"
        || metric == "aopc_suff"
        || metric == "morf")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions() {
        assert!(higher_is_better("comprehensiveness_aopc"));
        assert!(!higher_is_better("sufficiency@0.2"));
        assert!(!higher_is_better("perturbation_positive_auc"));
        assert!(higher_is_better("perturbation_negative_auc"));
        assert!(higher_is_better("token_f1@5"));
        assert!(!higher_is_better("aopc_suff") && higher_is_better("aopc_compr"));
        assert!(!higher_is_better("morf") && higher_is_better("lerf") && higher_is_better("abpc"));
        assert_eq!(MetricChoice::all(false).len(), 7);
        assert_eq!(MetricChoice::all(true).len(), 10);
        assert_eq!(MetricChoice::ferret(false).len(), 3);
        assert_eq!(MetricChoice::ferret(true).len(), 6);
    }
}

/// Protocol presets that fix the metrics and the removal of a published set-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[derive(VariantArray, IntoStaticStr, EnumMessage)]
#[strum(serialize_all = "kebab-case")]
pub enum Preset {
    /// DeYoung et al. 2020: comprehensiveness, sufficiency (AOPC), log-odds; token F1, IOU-F1
    /// and AUPRC with rationales; tokens deleted.
    Eraser,
    /// Chefer et al. 2021: the perturbation test (and token-F1@k with rationales); \[PAD\] with
    /// attention mask 0.
    Chefer,
    /// Chen et al. 2023: the positive/negative perturbation test; \[PAD\] with attention mask 0.
    BeyondIntuition,
    /// ferret (Attanasio et al. 2023): AOPC comprehensiveness/sufficiency over 10 bins and τ-LOO
    /// (token F1, IOU and AUPRC with rationales) on sub-word tokens, positive scores only;
    /// removed tokens deleted and the text re-tokenised.
    Ferret,
    /// M⁴ (Li et al. 2023, InterpretDL's evaluators): MoRF, LeRF and ABPC over percentile
    /// steps; text tokens set to \[PAD\] with attention mask 0, image patches grey; without
    /// --methods, IG under sum/abs/sq and a start_layer sweep of gae, chefer2021 and rollout.
    M4,
}
