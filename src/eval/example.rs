//! One example set up for evaluation: tokenised (or decoded) once, its prediction, the removal
//! that its metrics run (a [`Predictor`] over words, ERASER tokens or patches), ferret's view of
//! it, and what the rationale metrics keep of it until the end of the run.

use super::faithfulness::Predictor;
use super::image_removal::ImagePredictor;
use super::measure::FerretInput;
use super::options::EvalOptions;
use super::outcome::ExampleInfo;
use super::rationales::RationaleCase;
use super::removal::{Retokenized, TextPredictor};
use super::units::Units;
use crate::data::Example;
use crate::error::{CaligError, Result};
use crate::explain::{argmax, prepare, softmax, Prepared};
use crate::model::{LoadedModel, ModelInput};
use std::collections::BTreeSet;

/// The prepared input and what its metrics need.
pub(super) struct ExampleContext<'a> {
    pub(super) prepared: Prepared<'a>,
    pub(super) removal: Removal<'a>,
    pub(super) probs: Vec<f64>,
    pub(super) predicted: usize,
    pub(super) info: ExampleInfo,
}

/// How the example's units are removed, and the units.
pub(super) struct Removal<'a> {
    pub(super) predictor: Box<dyn Predictor + 'a>,
    /// Text: the whitespace tokens (ERASER's units, and the units of external word scores);
    /// images: the patches.
    pub(super) whitespace: Units,
    /// Text without rationales: calig's words, the units of the removal metrics.
    pub(super) words: Option<Units>,
    pub(super) ferret: Option<FerretInput<'a>>,
}

impl Removal<'_> {
    /// The units a method's scores are ranked by.
    pub(super) fn units(&self) -> &Units {
        self.words.as_ref().unwrap_or(&self.whitespace)
    }
}

/// Prefixes an error with the example it is about.
pub(super) fn at(ex: &Example) -> impl Fn(CaligError) -> CaligError + '_ {
    move |e| CaligError::InvalidInput(format!("example `{}` (line {}): {e}", ex.id, ex.line))
}

impl<'a> ExampleContext<'a> {
    pub(super) fn new(
        m: &'a LoadedModel,
        ex: &Example,
        opts: &EvalOptions,
        ferret_wanted: bool,
    ) -> Result<Self> {
        let prepared = prepare(m, &ex.input(), None).map_err(at(ex))?;
        let probs = softmax(&prepared.subject.logits);
        let predicted = argmax(&prepared.subject.logits);
        if ex.label >= probs.len() {
            return Err(at(ex)(CaligError::InvalidInput(format!(
                "label {} is not one of the model's {} classes",
                ex.label,
                probs.len()
            ))));
        }
        let removal = removal_of(m, ex, &prepared, opts, ferret_wanted)?;
        let info = ExampleInfo {
            id: ex.id.clone(),
            line: ex.line,
            label: ex.label,
            predicted,
            tokens: removal.predictor.len(),
            truncated_from: prepared.info.truncated_from,
        };
        Ok(Self {
            prepared,
            removal,
            probs,
            predicted,
            info,
        })
    }

    /// What the rationale metrics keep of an example with human rationales (`ei`: its index).
    pub(super) fn rationale_case(&self, ei: usize, ex: &Example) -> RationaleCase {
        let (whitespace, positions) = (&self.removal.whitespace, self.info.tokens);
        let visible = self.removal.units().visible;
        let mut gold = BTreeSet::new();
        let mut gold_spans = Vec::new();
        for &(s, e) in &ex.evidence {
            let e = e.min(visible);
            if s < e {
                gold.extend(s..e);
                gold_spans.push((s, e));
            }
        }
        gold_spans.sort_unstable();
        gold_spans.dedup();
        RationaleCase {
            example: ei,
            gold_spans,
            visible,
            doc_tokens: ex.text.split(' ').count(),
            scores: Vec::new(),
            // Sub-word tokens of the gold whitespace tokens, as indices among the tokens
            // between the first and the last.
            ferret_gold: gold
                .iter()
                .flat_map(|&u| whitespace.positions[u].iter())
                .filter(|&&t| t >= 1 && t + 1 < positions)
                .map(|&t| t - 1)
                .collect(),
            ferret_scored: self.predicted == ex.label,
            ferret_scores: Vec::new(),
            gold,
        }
    }
}

/// Text: words (or ERASER's whitespace tokens) over sub-tokens; images: patches.
fn removal_of<'a>(
    m: &'a LoadedModel,
    ex: &Example,
    p: &Prepared,
    opts: &EvalOptions,
    ferret_wanted: bool,
) -> Result<Removal<'a>> {
    match &p.subject.input {
        ModelInput::Text(text) => {
            let ids: Vec<u32> = text.input_ids.flatten_all()?.to_vec1()?;
            let ferret = match &m.tokenizer {
                Some(tokenizer) if ferret_wanted => Some(FerretInput {
                    predictor: Retokenized::new(m.model.as_ref(), &m.config, tokenizer, &ids),
                    loo: Default::default(),
                }),
                _ => None,
            };
            Ok(Removal {
                predictor: Box::new(TextPredictor {
                    model: m.model.as_ref(),
                    config: &m.config,
                    ids,
                    type_ids: text.token_type_ids.flatten_all()?.to_vec1()?,
                    special: p.subject.special.clone(),
                    removal: opts.removal,
                }),
                whitespace: Units::whitespace_tokens_of(
                    &[Some(ex.text.as_str()), ex.text_pair.as_deref()],
                    &p.words,
                ),
                words: (!opts.rationales).then(|| Units::words(&p.words)),
                ferret,
            })
        }
        ModelInput::Image(image) => {
            let fill = p
                .subject
                .baseline(opts.image_removal.baseline())?
                .input_embeddings;
            let predictor = ImagePredictor::new(
                m.model.as_ref(),
                image.pixel_values.clone(),
                fill,
                p.subject.patch_size,
            )?;
            let n = predictor.len();
            Ok(Removal {
                predictor: Box::new(predictor),
                whitespace: Units::patches(n),
                words: None,
                ferret: None,
            })
        }
    }
}
