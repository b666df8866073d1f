//! The metric names `calig eval` reports, their groups and which direction is better.

use clap::ValueEnum;

/// What `--metrics` accepts: single metrics or the groups that compute them together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
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
}

impl MetricChoice {
    pub fn needs_rationales(&self) -> bool {
        matches!(self, Self::TokenF1 | Self::IouF1 | Self::Auprc)
    }

    /// Every metric that makes sense for a data set with (or without) rationales.
    pub fn all(rationales: bool) -> Vec<Self> {
        Self::value_variants()
            .iter()
            .copied()
            .filter(|m| rationales || !m.needs_rationales())
            .collect()
    }
}

/// Whether larger values of a reported metric are better.
pub fn higher_is_better(metric: &str) -> bool {
    !(metric.starts_with("sufficiency")
        || metric.starts_with("log_odds")
        || metric == "deletion_auc"
        || metric == "perturbation_positive_auc")
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
        assert_eq!(MetricChoice::all(false).len(), 6);
    }
}
