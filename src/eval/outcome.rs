//! What an evaluation produces ([`Outcome`]: per-example facts, per-instance metric values and
//! curves, per-method costs) and the `Collector` that gathers the values as the loop runs.

use std::collections::BTreeMap;

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
    /// `[method][i]` for examples\[i\].
    pub values: Vec<Vec<f64>>,
}

/// Per-instance curves of one kind: x values and `[method][example][point]`.
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
    /// M⁴ records per method: unit scores, removal sets, curves and scores per example.
    pub m4: Vec<Vec<serde_json::Value>>,
}

pub(super) struct Collector {
    methods: usize,
    metrics: BTreeMap<String, BTreeMap<usize, Vec<f64>>>, // metric → example → per method
    curves: BTreeMap<String, CurveValues>,
}

impl Collector {
    pub(super) fn new(methods: usize) -> Self {
        Self {
            methods,
            metrics: BTreeMap::new(),
            curves: BTreeMap::new(),
        }
    }

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

    pub(super) fn finish(
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
            m4: vec![],
        }
    }
}
