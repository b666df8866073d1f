//! The evaluation loop: the model is loaded once (by the caller); each example is set up once
//! (example.rs); each method's attributions come from the cache or are computed and
//! cached (scores.rs); its per-example metrics ([`super::measure`]) run batched forward
//! passes; the rationale metrics ([`super::rationales`]) run at the end, when the data set's
//! mean rationale length (the hard-rationale k) is known.

use super::cache::{example_key, model_hash, Measured, MethodCache};
use super::distinct_inputs::Memoized;
use super::example::{at, ExampleContext};
use super::faithfulness::{Predictor, FRACTIONS};
use super::measure::{measure, Measure};
use super::metrics::MetricChoice;
pub use super::options::EvalOptions;
use super::outcome::{Collector, ExampleInfo, Outcome};
use super::rationales::{self, FaithRecord, RationaleCase};
use super::scores::{Counts, ScoreSource};
use super::spec::Kind;
use crate::attr::Memo;
use crate::data::Example;
use crate::error::Result;
use crate::model::LoadedModel;
use indicatif::ProgressBar;

/// Evaluates `opts.methods` on `examples` with the metrics asked for.
pub fn evaluate(m: &LoadedModel, examples: &[Example], opts: &EvalOptions) -> Result<Outcome> {
    opts.check(m)?;
    if opts.ferret_wanted() && examples.iter().any(|e| e.text_pair.is_some()) {
        return Err(crate::error::CaligError::InvalidInput(
            "ferret's metrics re-tokenise one text; they do not take sentence pairs (use the \
             removal metrics)"
                .into(),
        ));
    }
    let own_models = own_models(m, opts)?;
    let mut run = Run::new(m, opts, examples.len(), &own_models)?;
    for (ei, ex) in examples.iter().enumerate() {
        let mut cx = ExampleContext::new(m, ex, opts, opts.ferret_wanted())?;
        run.infos.push(cx.info.clone());
        let mut case = opts.rationales.then(|| cx.rationale_case(ei, ex));
        let mut faith_row = Vec::new();
        let mut memo = Memo::default();
        for mi in 0..opts.methods.len() {
            run.bar.set_message(opts.methods[mi].name.clone());
            let measured = run.measured(&mut cx, ex, mi, case.is_some(), &mut memo)?;
            run.collect(ei, mi, &measured, case.as_mut());
            faith_row.push(measured.faith.map(|e| (cx.probs.clone(), e)));
            run.note_deltas(ex, mi, [cx.predicted, ex.label]);
            run.bar.inc(1);
        }
        run.faith.push(faith_row);
        if cx.removal.ferret.is_some() {
            run.ferret_records(ex, &cx, case.as_ref());
        }
        run.cases.extend(case);
    }
    run.bar.finish_and_clear();
    Ok(run.finish())
}

/// Copies of the model in the precisions that method entries name (`calig:dtype=bf16`), one
/// per dtype other than the evaluated model's.
fn own_models(m: &LoadedModel, opts: &EvalOptions) -> Result<Vec<LoadedModel>> {
    let mut out: Vec<LoadedModel> = Vec::new();
    for spec in &opts.methods {
        if let Some(dtype) = spec.precision.and_then(|p| p.dtype) {
            if dtype != m.dtype() && !out.iter().any(|o| o.dtype() == dtype) {
                out.push(m.in_dtype(dtype)?);
            }
        }
    }
    Ok(out)
}

/// The loop's state: the caches, the values collected so far and the costs.
struct Run<'a> {
    m: &'a LoadedModel,
    /// Per method entry: the copy of the model in its own dtype, if it named another.
    own_model: Vec<Option<&'a LoadedModel>>,
    opts: &'a EvalOptions,
    model_hash: String,
    caches: Vec<MethodCache>,
    col: Collector,
    infos: Vec<ExampleInfo>,
    cases: Vec<RationaleCase>,
    /// `[example][method]`
    faith: Vec<Vec<Option<FaithRecord>>>,
    counts: Vec<Counts>,
    /// The largest |delta| per method over this run's examples (the cache may hold others).
    deltas: Vec<f64>,
    ferret: Vec<Vec<serde_json::Value>>,
    /// M⁴ records per method (tools/eval/crosscheck_m4.py reads them).
    m4: Vec<Vec<serde_json::Value>>,
    bar: ProgressBar,
}

impl<'a> Run<'a> {
    fn new(
        m: &'a LoadedModel,
        opts: &'a EvalOptions,
        examples: usize,
        own_models: &'a [LoadedModel],
    ) -> Result<Self> {
        let model_hash = model_hash(m)?;
        let caches = opts
            .methods
            .iter()
            .map(|s| MethodCache::open(&opts.cache_dir, &model_hash, s))
            .collect::<Result<_>>()?;
        let n = opts.methods.len();
        let own_model = opts
            .methods
            .iter()
            .map(|s| {
                let dtype = s.precision.and_then(|p| p.dtype)?;
                own_models.iter().find(|o| o.dtype() == dtype)
            })
            .collect();
        Ok(Self {
            m,
            own_model,
            opts,
            model_hash,
            caches,
            col: Collector::new(n),
            infos: Vec::new(),
            cases: Vec::new(),
            faith: Vec::new(),
            counts: vec![Counts::default(); n],
            deltas: vec![0.0; n],
            ferret: Vec::new(),
            m4: Vec::new(),
            bar: crate::progress::bar(
                opts.progress,
                examples * n,
                "eval [{bar:30}] {pos}/{len} attributions, {per_sec}, ETA {eta} {msg}",
            ),
        })
    }

    /// Method `mi`'s metrics on one example: cached, or measured and cached.
    fn measured(
        &mut self,
        cx: &mut ExampleContext<'a>,
        ex: &Example,
        mi: usize,
        rationales: bool,
        memo: &mut Memo,
    ) -> Result<Measured> {
        let opts = self.opts;
        let spec = &opts.methods[mi];
        let is_text = cx.prepared.subject.is_text();
        let key = opts.metric_key(ex, is_text);
        if let Some(r) = self.caches[mi].measured.get(&key) {
            self.counts[mi].cached += 1;
            return Ok(r.clone());
        }
        let ExampleContext {
            prepared,
            removal,
            probs,
            predicted,
            ..
        } = cx;
        let mut source = ScoreSource {
            m: self.m,
            own_model: self.own_model[mi],
            ex,
            spec,
            prepared,
            whitespace: &removal.whitespace,
            fixed: removal.predictor.fixed(),
            seed: opts.seed,
            external: &opts.external,
            cache: &mut self.caches[mi],
            memo,
            counts: &mut self.counts[mi],
            seen: Vec::new(),
        };
        // Text: one memo per (example, method), so that its metrics share masks and its values
        // depend on its cache key alone (not on the other methods run, nor on where an
        // interrupted run resumed). Images keep one batch per metric call.
        let memoized = Memoized::new(removal.predictor.as_ref());
        let predictor: &dyn Predictor = if is_text {
            &memoized
        } else {
            removal.predictor.as_ref()
        };
        let want = |c: MetricChoice| opts.wants(c);
        let r = measure(
            &Measure {
                predictor,
                // External scores are per whitespace word: rank those.
                units: if matches!(spec.kind, Kind::External { .. }) {
                    &removal.whitespace
                } else {
                    removal.units()
                },
                probs,
                predicted: *predicted,
                gold: ex.label,
                want: &want,
                rationales: rationales && opts.calig_rationales(),
                is_text,
                ferret: removal.ferret.as_ref(),
                ferret_rationales: rationales,
            },
            &mut |target| source.scores(target),
        )
        .map_err(at(ex))?;
        self.caches[mi].insert_measured(key, r.clone())?;
        Ok(r)
    }

    /// Files one method's values on one example.
    fn collect(
        &mut self,
        ei: usize,
        mi: usize,
        measured: &Measured,
        case: Option<&mut RationaleCase>,
    ) {
        for (name, v) in &measured.values {
            self.col.value(name, ei, mi, *v);
        }
        for (name, c) in &measured.curves {
            self.col.curve(name, &curve_xs(c.len()), mi, c.clone());
        }
        if let Some(v) = &measured.m4 {
            self.m4.resize(self.opts.methods.len(), Vec::new());
            let mut v = v.clone();
            v["id"] = serde_json::json!(self.infos[ei].id);
            self.m4[mi].push(v);
        }
        if let Some(c) = case {
            if let Some(s) = &measured.gold_unit_scores {
                c.scores.push(s.clone());
            }
            if let Some(s) = &measured.ferret_scores {
                c.ferret_scores.push(s.clone());
            }
        }
    }

    /// The largest |delta| of the example's cached attributions for these classes.
    fn note_deltas(&mut self, ex: &Example, mi: usize, targets: [usize; 2]) {
        for target in targets {
            let record = self.caches[mi]
                .records
                .get(&example_key(&ex.key_text(), target));
            if let Some(d) = record.and_then(|r| r.max_abs_delta) {
                self.deltas[mi] = self.deltas[mi].max(d);
            }
        }
    }

    /// ferret's explanation records of one example, one per method.
    fn ferret_records(&mut self, ex: &Example, cx: &ExampleContext, case: Option<&RationaleCase>) {
        let positions = cx.info.tokens;
        let rationale: Option<Vec<u8>> = case.map(|c| {
            (0..positions)
                .map(|t| u8::from(t >= 1 && c.ferret_gold.contains(&(t - 1))))
                .collect()
        });
        self.ferret.resize(self.opts.methods.len(), Vec::new());
        for (mi, lines) in self.ferret.iter_mut().enumerate() {
            let record = self.caches[mi]
                .records
                .get(&example_key(&ex.key_text(), cx.predicted));
            lines.push(serde_json::json!({
                "id": ex.id,
                "text": ex.text,
                "target": cx.predicted,
                "label": ex.label,
                "tokens": cx.prepared.tokens,
                "scores": record.map(|r| &r.scores),
                "rationale": rationale,
            }));
        }
    }

    /// The rationale metrics over the whole run, and the outcome.
    fn finish(mut self) -> Outcome {
        let want = |c: MetricChoice| self.opts.wants(c);
        let n = self.opts.methods.len();
        let ferret_k = rationales::ferret_plausibility(&self.cases, &want, &mut self.col);
        let (mut corpus_iou_f1, mut rationale_k, mut eraser) = (None, None, Vec::new());
        if self.opts.calig_rationales() {
            let (k, iou) = rationales::score(&self.cases, &want, &mut self.col, n);
            rationale_k = Some(k);
            corpus_iou_f1 = iou;
            eraser =
                rationales::eraser_records(self.m, &self.cases, &self.infos, &self.faith, k, n);
        }
        let (metrics, curves) = self.col.finish();
        Outcome {
            model_hash: self.model_hash,
            examples: self.infos,
            metrics,
            curves,
            corpus_iou_f1,
            rationale_k,
            ferret_k,
            computed_ms: self.counts.iter().map(|c| c.ms).collect(),
            computed: self.counts.iter().map(|c| c.computed).collect(),
            cached: self.counts.iter().map(|c| c.cached).collect(),
            max_abs_delta: self.deltas,
            eraser,
            ferret: self.ferret,
            m4: self.m4,
        }
    }
}

/// The x values of a stored curve of `n` points: the removal fractions, or for M⁴'s curves,
/// which have their own steps (src/eval/m4.rs), the step / K.
pub fn curve_xs(n: usize) -> Vec<f64> {
    if n == FRACTIONS.len() {
        FRACTIONS.to_vec()
    } else {
        let k = n.saturating_sub(1).max(1) as f64;
        (0..n).map(|i| i as f64 / k).collect()
    }
}
