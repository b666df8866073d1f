//! What an evaluation is asked to do ([`EvalOptions`]): the method entries, the metrics, how
//! units are removed, the seed, the cache, and what follows from them (the key of an
//! example's cached metric values, the requests the model or data set cannot serve).

use super::cache::example_key;
use super::image_removal::ImageRemoval;
use super::metrics::MetricChoice;
use super::removal::Removal;
use super::spec::MethodSpec;
use crate::choice::Choice;
use crate::data::{Example, WordScores};
use crate::error::{CaligError, Result};
use crate::model::LoadedModel;
use std::path::PathBuf;

pub struct EvalOptions {
    pub methods: Vec<MethodSpec>,
    pub metrics: Vec<MetricChoice>,
    pub removal: Removal,
    pub image_removal: ImageRemoval,
    pub seed: u64,
    pub cache_dir: PathBuf,
    /// Data sets with human rationales (ERASER): units are its whitespace tokens.
    pub rationales: bool,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Attributions made elsewhere: per file, example id → one score per whitespace word.
    pub external: Vec<WordScores>,
}

impl EvalOptions {
    pub(super) fn wants(&self, metric: MetricChoice) -> bool {
        self.metrics.contains(&metric)
    }

    pub(super) fn ferret_wanted(&self) -> bool {
        self.metrics.iter().any(MetricChoice::is_ferret)
    }

    /// calig's rationale metrics and ERASER export, unless only ferret's metrics were asked for.
    pub(super) fn calig_rationales(&self) -> bool {
        self.rationales && !self.metrics.iter().all(MetricChoice::is_ferret)
    }

    /// Refuses metrics the model or the data set cannot have.
    pub(super) fn check(&self, m: &LoadedModel) -> Result<()> {
        if self.ferret_wanted() && !m.config.family.is_text() {
            return Err(CaligError::InvalidInput(
                "ferret's metrics (aopc-compr, aopc-suff, taucorr-loo, *-plau) apply to text \
                 models"
                    .into(),
            ));
        }
        if self.metrics.iter().any(|c| c.needs_rationales()) && !self.rationales {
            return Err(CaligError::InvalidInput(
                "token-f1, iou-f1 and auprc need a data set with human rationales (an ERASER \
                 directory)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The key of an example's cached metric values: its text, the removal and the metrics.
    pub(super) fn metric_key(&self, ex: &Example, is_text: bool) -> String {
        // ferret's metrics name their own removal (re-tokenised, equal texts run once).
        format!(
            "{}|{}{}|{:?}",
            example_key(&ex.key_text(), 0),
            if is_text {
                self.removal.name()
            } else {
                self.image_removal.name()
            },
            if self.ferret_wanted() {
                "+ferret-retokenised-f32"
            } else {
                ""
            },
            self.metrics
        )
    }
}
