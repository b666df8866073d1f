//! The evaluation loop: the model is loaded once (by the caller); each example is tokenised
//! once; each method's attributions come from the cache or are computed and cached; its
//! per-example metrics ([`super::measure`]) run batched forward passes; the rationale metrics
//! ([`super::rationales`]) run at the end, when the data set's mean rationale length (the
//! hard-rationale k) is known.

use super::cache::{example_key, model_hash, Cached, MethodCache};
use super::distinct_inputs::Memoized;
use super::faithfulness::{Predictor, FRACTIONS};
use super::image_removal::{ImagePredictor, ImageRemoval};
use super::measure::{measure, FerretInput, Measure};
use super::metrics::MetricChoice;
use super::rationales::{self, FaithRecord, RationaleCase};
use super::removal::{Removal, Retokenized, TextPredictor};
use super::spec::{Kind, MethodSpec};
use super::units::Units;
use crate::attr::{calig, Method, Params};
use crate::choice::Choice;
use crate::data::Example;
use crate::error::{CaligError, Result};
use crate::explain::{argmax, explain_prepared, headline_scores, prepare, softmax};
use crate::model::{LoadedModel, ModelInput};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Instant;

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
    pub external: Vec<HashMap<String, Vec<f64>>>,
}

/// Token scores from external word scores: each whitespace word's score split evenly over its
/// sub-tokens, so that every unit sum is the word's score.
fn spread_word_scores(words: &Units, scores: &[f64], tokens: usize, id: &str) -> Result<Vec<f64>> {
    if scores.len() < words.positions.len() {
        return Err(CaligError::InvalidInput(format!(
            "the attributions for example `{id}` give {} word scores; its text has {} \
             whitespace-separated words (within the model's window)",
            scores.len(),
            words.positions.len()
        )));
    }
    let mut out = vec![0.0; tokens];
    for (p, &s) in words.positions.iter().zip(scores) {
        for &t in p {
            out[t] = s / p.len() as f64;
        }
    }
    Ok(out)
}

/// Per-example facts that tables and exports report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExampleInfo {
    pub id: String,
    pub line: usize,
    pub label: usize,
    pub predicted: usize,
    pub tokens: usize,
    pub truncated_from: Option<usize>,
}

/// Per-instance values of one metric: the examples it covers and one value per method each.
#[derive(Debug, Clone, Default)]
pub struct MetricValues {
    pub examples: Vec<usize>,
    /// [method][i] for examples[i].
    pub values: Vec<Vec<f64>>,
}

/// Per-instance curves of one kind: x values and [method][example][point].
#[derive(Debug, Clone, Default)]
pub struct CurveValues {
    pub xs: Vec<f64>,
    pub values: Vec<Vec<Vec<f64>>>,
}

pub struct Outcome {
    pub model_hash: String,
    pub examples: Vec<ExampleInfo>,
    pub metrics: BTreeMap<String, MetricValues>,
    pub curves: BTreeMap<String, CurveValues>,
    /// IOU-F1 over the corpus (F1 of macro P and R), per method.
    pub corpus_iou_f1: Option<Vec<f64>>,
    /// The hard-rationale length used for token F1 and IOU-F1.
    pub rationale_k: Option<usize>,
    /// ferret's top-k for its token F1 and IOU (the mean rationale size in sub-word tokens).
    pub ferret_k: Option<usize>,
    /// Attribution time per method (ms, summed over the examples computed in this run) and how
    /// many came from the cache.
    pub computed_ms: Vec<f64>,
    pub computed: Vec<usize>,
    pub cached: Vec<usize>,
    pub max_abs_delta: Vec<f64>,
    /// ERASER-format records per method (rationale data sets only).
    pub eraser: Vec<Vec<serde_json::Value>>,
    /// ferret's explanation records per method (ferret metrics only): text, tokens, the
    /// predicted class's token scores and the rationale per token, for its evaluators.
    pub ferret: Vec<Vec<serde_json::Value>>,
}

pub(super) struct Collector {
    methods: usize,
    metrics: BTreeMap<String, BTreeMap<usize, Vec<f64>>>, // metric → example → per method
    curves: BTreeMap<String, CurveValues>,
}

impl Collector {
    pub(super) fn value(&mut self, metric: &str, example: usize, method: usize, v: f64) {
        let n = self.methods;
        let row = self
            .metrics
            .entry(metric.to_string())
            .or_default()
            .entry(example)
            .or_insert_with(|| vec![f64::NAN; n]);
        row[method] = v;
    }

    pub(super) fn curve(&mut self, name: &str, xs: &[f64], method: usize, values: Vec<f64>) {
        let n = self.methods;
        let e = self
            .curves
            .entry(name.to_string())
            .or_insert_with(|| CurveValues {
                xs: xs.to_vec(),
                values: vec![Vec::new(); n],
            });
        e.values[method].push(values);
    }

    fn finish(
        self,
    ) -> (
        BTreeMap<String, MetricValues>,
        BTreeMap<String, CurveValues>,
    ) {
        let metrics = self
            .metrics
            .into_iter()
            .map(|(name, rows)| {
                let examples: Vec<usize> = rows.keys().copied().collect();
                let values = (0..self.methods)
                    .map(|m| rows.values().map(|r| r[m]).collect())
                    .collect();
                (name, MetricValues { examples, values })
            })
            .collect();
        (metrics, self.curves)
    }
}

fn random_scores(seed: u64, key: &str, special: &[bool]) -> Vec<f64> {
    let h = super::fnv1a(seed ^ 0x9e37_79b9_7f4a_7c15, key.bytes());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(h);
    special
        .iter()
        .map(|&s| if s { 0.0 } else { rng.random::<f64>() })
        .collect()
}

/// The parameters that CA-LIG's shared components depend on.
fn components_key(p: &Params) -> String {
    format!(
        "{}|{:?}|{:?}|{}|{}|{:?}|{:?}",
        p.steps,
        p.quadrature,
        p.baseline,
        p.max_batch,
        p.memory_mib,
        p.attention_mode,
        p.layer_relevance
    )
}

fn max_abs_delta(d: &crate::attr::Delta) -> Option<f64> {
    match d {
        crate::attr::Delta::None => None,
        crate::attr::Delta::Scalar(x) => Some(x.abs()),
        crate::attr::Delta::PerLayer(v) => v.iter().flatten().map(|x| x.abs()).reduce(f64::max),
    }
}

/// Evaluates `opts.methods` on `examples` with the metrics asked for.
pub fn evaluate(m: &LoadedModel, examples: &[Example], opts: &EvalOptions) -> Result<Outcome> {
    let want = |c: MetricChoice| opts.metrics.contains(&c);
    let plaus_wanted = opts.metrics.iter().any(|c| c.needs_rationales());
    let ferret_wanted = opts.metrics.iter().any(MetricChoice::is_ferret);
    // calig's rationale metrics and ERASER export, unless only ferret's metrics were asked for.
    let calig_rationales = opts.rationales && !opts.metrics.iter().all(MetricChoice::is_ferret);
    if ferret_wanted && !m.config.family.is_text() {
        return Err(CaligError::InvalidInput(
            "ferret's metrics (aopc-compr, aopc-suff, taucorr-loo, *-plau) apply to text models"
                .into(),
        ));
    }
    if plaus_wanted && !opts.rationales {
        return Err(CaligError::InvalidInput(
            "token-f1, iou-f1 and auprc need a data set with human rationales (an ERASER directory)"
                .into(),
        ));
    }
    let hash = model_hash(m)?;
    let mut caches: Vec<MethodCache> = opts
        .methods
        .iter()
        .map(|s| MethodCache::open(&opts.cache_dir, &hash, s))
        .collect::<Result<_>>()?;
    let n_methods = opts.methods.len();
    let mut col = Collector {
        methods: n_methods,
        metrics: BTreeMap::new(),
        curves: BTreeMap::new(),
    };
    let mut infos = Vec::new();
    let mut cases: Vec<RationaleCase> = Vec::new();
    let mut faith: Vec<Vec<Option<FaithRecord>>> = Vec::new(); // [example][method]
    let mut computed_ms = vec![0.0; n_methods];
    let mut cached = vec![0usize; n_methods];
    let mut computed = vec![0usize; n_methods];
    let mut deltas = vec![0.0f64; n_methods];
    let mut ferret_out: Vec<Vec<serde_json::Value>> = Vec::new();
    let bar = if opts.progress {
        ProgressBar::new((examples.len() * n_methods) as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} attributions, {per_sec}, ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix("eval");
    for (ei, ex) in examples.iter().enumerate() {
        let at = |e: CaligError| {
            CaligError::InvalidInput(format!("example `{}` (line {}): {e}", ex.id, ex.line))
        };
        let mut p = prepare(m, &ex.input(), None).map_err(at)?;
        let probs = softmax(&p.subject.logits);
        let predicted = argmax(&p.subject.logits);
        if ex.label >= probs.len() {
            return Err(at(CaligError::InvalidInput(format!(
                "label {} is not one of the model's {} classes",
                ex.label,
                probs.len()
            ))));
        }
        let is_text = p.subject.is_text();
        // Text: words (or ERASER's whitespace tokens) over sub-tokens; images: patches.
        let (predictor, whitespace, words): (Box<dyn Predictor + '_>, Units, Option<Units>) =
            match &p.subject.input {
                ModelInput::Text(text) => (
                    Box::new(TextPredictor {
                        model: m.model.as_ref(),
                        config: &m.config,
                        ids: text.input_ids.flatten_all()?.to_vec1()?,
                        type_ids: text.token_type_ids.flatten_all()?.to_vec1()?,
                        special: p.subject.special.clone(),
                        removal: opts.removal,
                    }),
                    Units::whitespace_tokens(&ex.text, &p.words),
                    (!opts.rationales).then(|| Units::words(&p.words)),
                ),
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
                    (Box::new(predictor), Units::patches(n), None)
                }
            };
        let units = words.as_ref().unwrap_or(&whitespace);
        let ferret_input = match (&p.subject.input, &m.tokenizer) {
            (ModelInput::Text(text), Some(tokenizer)) if ferret_wanted => Some(FerretInput {
                predictor: Retokenized::new(
                    m.model.as_ref(),
                    &m.config,
                    tokenizer,
                    &text.input_ids.flatten_all()?.to_vec1()?,
                ),
                loo: Default::default(),
            }),
            _ => None,
        };
        let positions = predictor.len();
        infos.push(ExampleInfo {
            id: ex.id.clone(),
            line: ex.line,
            label: ex.label,
            predicted,
            tokens: positions,
            truncated_from: p.info.truncated_from,
        });
        let mut case = opts.rationales.then(|| {
            let visible = units.visible;
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
                ferret_scored: predicted == ex.label,
                ferret_scores: Vec::new(),
                gold,
            }
        });
        let mut faith_row = Vec::new();
        let mut memo: HashMap<String, calig::Components> = HashMap::new();
        for (mi, spec) in opts.methods.iter().enumerate() {
            bar.set_message(spec.name.clone());
            // ferret's metrics name their own removal (re-tokenised, equal texts run once).
            let metric_key = format!(
                "{}|{}{}|{:?}",
                example_key(&ex.text, 0),
                if is_text {
                    opts.removal.name()
                } else {
                    opts.image_removal.name()
                },
                if ferret_wanted {
                    "+ferret-retokenised-f32"
                } else {
                    ""
                },
                opts.metrics
            );
            let measured = match caches[mi].measured.get(&metric_key) {
                Some(r) => {
                    cached[mi] += 1;
                    r.clone()
                }
                None => {
                    // Keys computed for this example (the predicted and gold class often coincide).
                    let mut fresh: Vec<String> = Vec::new();
                    let mut scores_for = |target: usize| -> Result<Vec<f64>> {
                        let key = example_key(&ex.text, target);
                        if let Some(c) = caches[mi].records.get(&key) {
                            if !fresh.contains(&key) {
                                fresh.push(key.clone());
                                cached[mi] += 1;
                            }
                            return Ok(c.scores.clone());
                        }
                        if !fresh.contains(&key) {
                            fresh.push(key.clone());
                            computed[mi] += 1;
                        }
                        let (scores, ms, delta) = match spec.kind {
                            Kind::Random => {
                                (random_scores(opts.seed, &key, predictor.fixed()), 0.0, None)
                            }
                            Kind::External { index, .. } => {
                                let words = opts.external[index].get(&ex.id).ok_or_else(|| {
                                    CaligError::InvalidInput(format!(
                                        "the attributions file of `{}` has no line for example `{}`",
                                        spec.name, ex.id
                                    ))
                                })?;
                                let s = spread_word_scores(&whitespace, words, positions, &ex.id)?;
                                (s, 0.0, None)
                            }
                            // CA-LIG variants that share path settings share their
                            // components: the LIG paths and maps run once per example.
                            Kind::Method(Method::Calig) => {
                                p.subject.target = target;
                                let start = Instant::now();
                                let ck = format!("{target}|{}", components_key(&spec.params));
                                if !memo.contains_key(&ck) {
                                    let c =
                                        calig::components(&p.subject, &spec.params).map_err(at)?;
                                    memo.insert(ck.clone(), c);
                                }
                                let a = calig::fuse(&p.subject, &memo[&ck], &spec.params)?;
                                let (scores, _) = headline_scores(a.scores, is_text);
                                (
                                    scores,
                                    start.elapsed().as_secs_f64() * 1e3,
                                    max_abs_delta(&a.delta),
                                )
                            }
                            Kind::Method(method) => {
                                p.subject.target = target;
                                let e =
                                    explain_prepared(m, &p, method, &spec.params).map_err(at)?;
                                (e.scores, e.timing_ms, max_abs_delta(&e.convergence_delta))
                            }
                        };
                        computed_ms[mi] += ms;
                        caches[mi].insert(Cached {
                            key,
                            scores: scores.clone(),
                            ms,
                            max_abs_delta: delta,
                        })?;
                        Ok(scores)
                    };
                    // Text: one memo per (example, method), so that its metrics share masks and
                    // its values depend on its cache key alone (not on the other methods run, nor
                    // on where an interrupted run resumed). Images keep one batch per metric call.
                    let memoized = Memoized::new(predictor.as_ref());
                    let removal: &dyn Predictor = if is_text {
                        &memoized
                    } else {
                        predictor.as_ref()
                    };
                    let r = measure(
                        &Measure {
                            predictor: removal,
                            // External scores are per whitespace word: rank those.
                            units: if matches!(spec.kind, Kind::External { .. }) {
                                &whitespace
                            } else {
                                units
                            },
                            probs: &probs,
                            predicted,
                            gold: ex.label,
                            want: &want,
                            rationales: case.is_some() && calig_rationales,
                            ferret: ferret_input.as_ref(),
                            ferret_rationales: case.is_some(),
                        },
                        &mut scores_for,
                    )
                    .map_err(at)?;
                    caches[mi].insert_measured(metric_key, r.clone())?;
                    r
                }
            };
            for (name, v) in &measured.values {
                col.value(name, ei, mi, *v);
            }
            for (name, c) in &measured.curves {
                col.curve(name, &FRACTIONS, mi, c.clone());
            }
            if let Some(c) = case.as_mut() {
                if let Some(s) = &measured.gold_unit_scores {
                    c.scores.push(s.clone());
                }
                if let Some(s) = &measured.ferret_scores {
                    c.ferret_scores.push(s.clone());
                }
            }
            faith_row.push(measured.faith.map(|e| (probs.clone(), e)));
            // The largest delta over this run's examples (the cache may hold others).
            for target in [predicted, ex.label] {
                let record = caches[mi].records.get(&example_key(&ex.text, target));
                if let Some(d) = record.and_then(|r| r.max_abs_delta) {
                    deltas[mi] = deltas[mi].max(d);
                }
            }
            bar.inc(1);
        }
        faith.push(faith_row);
        if ferret_input.is_some() {
            let rationale: Option<Vec<u8>> = case.as_ref().map(|c| {
                (0..positions)
                    .map(|t| u8::from(t >= 1 && c.ferret_gold.contains(&(t - 1))))
                    .collect()
            });
            ferret_out.resize(n_methods, Vec::new());
            for (mi, lines) in ferret_out.iter_mut().enumerate() {
                let record = caches[mi].records.get(&example_key(&ex.text, predicted));
                lines.push(serde_json::json!({
                    "id": ex.id,
                    "text": ex.text,
                    "target": predicted,
                    "label": ex.label,
                    "tokens": p.tokens,
                    "scores": record.map(|r| &r.scores),
                    "rationale": rationale,
                }));
            }
        }
        if let Some(c) = case {
            cases.push(c);
        }
    }
    bar.finish_and_clear();
    let ferret_k = rationales::ferret_plausibility(&cases, &want, &mut col);
    let (mut corpus_iou, mut rationale_k, mut eraser_out) = (None, None, Vec::new());
    if calig_rationales {
        let (k, iou) = rationales::score(&cases, &want, &mut col, n_methods);
        rationale_k = Some(k);
        corpus_iou = iou;
        eraser_out = rationales::eraser_records(m, &cases, &infos, &faith, k, n_methods);
    }
    let (metrics, curves) = col.finish();
    Ok(Outcome {
        model_hash: hash,
        examples: infos,
        metrics,
        curves,
        corpus_iou_f1: corpus_iou,
        rationale_k,
        ferret_k,
        computed_ms,
        computed,
        cached,
        max_abs_delta: deltas,
        eraser: eraser_out,
        ferret: ferret_out,
    })
}

#[cfg(test)]
impl Outcome {
    /// An outcome holding only metric values, for table tests.
    pub(crate) fn for_tables(metrics: BTreeMap<String, MetricValues>, n: usize) -> Self {
        Self {
            model_hash: String::new(),
            examples: (0..n)
                .map(|i| ExampleInfo {
                    id: i.to_string(),
                    line: i + 1,
                    label: 0,
                    predicted: 0,
                    tokens: 1,
                    truncated_from: None,
                })
                .collect(),
            metrics,
            curves: BTreeMap::new(),
            corpus_iou_f1: None,
            rationale_k: None,
            ferret_k: None,
            computed_ms: vec![],
            computed: vec![],
            cached: vec![],
            max_abs_delta: vec![],
            eraser: vec![],
            ferret: vec![],
        }
    }
}
