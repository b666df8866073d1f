//! `calig._calig`: the Rust engine behind the `calig` Python package (python/calig/). A thin
//! layer: models load and explain exactly as the CLI does, results cross as the CLI's JSON (so
//! Python and CLI numbers are the same numbers) and the Python side turns them into NumPy
//! arrays. Long computations release the GIL.

use calig::attr::Method;
use calig::eval::spec::{Kind, MethodSpec};
use calig::explain::{explain, softmax, ExplainInput};
use calig::model::{load_model_with, LoadedModel};
use calig::runtime::Runtime;
use calig::CaligError;
use candle_core::{DType, Device};
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::path::PathBuf;

/// calig's errors as the Python exceptions that fit, with calig's message.
fn py_err(e: CaligError) -> PyErr {
    let msg = e.to_string();
    match e {
        CaligError::ModelNotFound(_) => PyFileNotFoundError::new_err(msg),
        CaligError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(msg)
        }
        CaligError::Io { .. } => PyOSError::new_err(msg),
        CaligError::InvalidInput(_)
        | CaligError::InvalidFile { .. }
        | CaligError::Image { .. }
        | CaligError::Weights { .. } => PyValueError::new_err(msg),
        _ => PyRuntimeError::new_err(msg),
    }
}

fn input_of(input: String, image: bool) -> ExplainInput {
    if image {
        ExplainInput::Image(PathBuf::from(input))
    } else {
        ExplainInput::Text(input)
    }
}

/// A loaded classifier.
#[pyclass(name = "Model", module = "calig._calig", frozen)]
struct PyModel {
    inner: LoadedModel,
}

impl PyModel {
    /// The method and its parameters from a `calig eval`-style entry (`calig:lambda=1,...`).
    fn spec(&self, entry: &str) -> PyResult<(Method, calig::attr::Params)> {
        let spec = MethodSpec::parse(entry, self.inner.config.family.is_text()).map_err(py_err)?;
        match spec.kind {
            Kind::Method(m) => {
                spec.params.validate().map_err(py_err)?;
                Ok((m, spec.params))
            }
            _ => Err(PyValueError::new_err(format!(
                "`{entry}` is not an attribution method"
            ))),
        }
    }

    fn explain_one(
        &self,
        input: String,
        image: bool,
        method: Method,
        params: &calig::attr::Params,
        target: Option<&str>,
    ) -> Result<(String, String), CaligError> {
        let e = explain(&self.inner, &input_of(input, image), target, method, params)?;
        let json = serde_json::to_string(&e).map_err(|x| CaligError::Unsupported(x.to_string()))?;
        Ok((
            json,
            calig::render::html::render(std::slice::from_ref(&e), &Default::default()),
        ))
    }
}

#[pymethods]
impl PyModel {
    /// The class labels, in logit order.
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.inner.config.labels.clone()
    }

    /// True for text models, False for image models.
    #[getter]
    fn is_text(&self) -> bool {
        self.inner.config.family.is_text()
    }

    /// The name the model was loaded by.
    #[getter]
    fn name(&self) -> String {
        self.inner.source.name()
    }

    /// Logits of each input (texts, or image paths with `image=True`), as JSON.
    #[pyo3(signature = (inputs, image=false))]
    fn predict(&self, py: Python<'_>, inputs: Vec<String>, image: bool) -> PyResult<String> {
        py.detach(|| {
            let mut out = Vec::with_capacity(inputs.len());
            for i in inputs {
                let input = if image {
                    self.inner.prepare_image(&PathBuf::from(i))?.0
                } else {
                    self.inner.prepare_text(&i)?.1
                };
                let logits = self.inner.logits(&input)?;
                out.push(serde_json::json!({"probs": softmax(&logits), "logits": logits}));
            }
            Ok(serde_json::Value::Array(out).to_string())
        })
        .map_err(py_err)
    }

    /// One explanation as (JSON, HTML). `entry` is a method entry as `calig eval` takes it.
    #[pyo3(signature = (input, entry, target=None, image=false))]
    fn explain(
        &self,
        py: Python<'_>,
        input: String,
        entry: &str,
        target: Option<String>,
        image: bool,
    ) -> PyResult<(String, String)> {
        let (method, params) = self.spec(entry)?;
        py.detach(|| self.explain_one(input, image, method, &params, target.as_deref()))
            .map_err(py_err)
    }

    /// Explanations of many inputs as (JSON, HTML) pairs, with the GIL released and a
    /// progress bar on stderr when `progress`.
    #[pyo3(signature = (inputs, entry, targets=None, image=false, progress=true))]
    fn explain_batch(
        &self,
        py: Python<'_>,
        inputs: Vec<String>,
        entry: &str,
        targets: Option<Vec<Option<String>>>,
        image: bool,
        progress: bool,
    ) -> PyResult<Vec<(String, String)>> {
        let (method, params) = self.spec(entry)?;
        if let Some(t) = &targets {
            if t.len() != inputs.len() {
                return Err(PyValueError::new_err(format!(
                    "{} targets for {} inputs",
                    t.len(),
                    inputs.len()
                )));
            }
        }
        py.detach(|| {
            let bar = if progress {
                indicatif::ProgressBar::new(inputs.len() as u64)
            } else {
                indicatif::ProgressBar::hidden()
            };
            let mut out = Vec::with_capacity(inputs.len());
            for (i, input) in inputs.into_iter().enumerate() {
                let target = targets.as_ref().and_then(|t| t[i].clone());
                out.push(self.explain_one(input, image, method, &params, target.as_deref())?);
                bar.inc(1);
            }
            bar.finish_and_clear();
            Ok(out)
        })
        .map_err(py_err)
    }

    /// `calig eval` on this model: the job (src/eval/job.rs) runs with the GIL released,
    /// writes its files into `output` and returns results.json as text.
    #[pyo3(signature = (dataset, methods, attributions, metrics, preset, removal, limit, seed,
        output, cache, reference, split, text_column, label_column, id_column, ids, min_words,
        sanity, progress, image_removal=None))]
    #[allow(clippy::too_many_arguments)]
    fn evaluate(
        &self,
        py: Python<'_>,
        dataset: PathBuf,
        methods: String,
        attributions: Vec<PathBuf>,
        metrics: Vec<String>,
        preset: Option<String>,
        removal: Option<String>,
        limit: Option<usize>,
        seed: u64,
        output: PathBuf,
        cache: Option<PathBuf>,
        reference: Option<String>,
        split: Option<String>,
        text_column: Option<String>,
        label_column: String,
        id_column: Option<String>,
        ids: Option<PathBuf>,
        min_words: usize,
        sanity: bool,
        progress: bool,
        image_removal: Option<String>,
    ) -> PyResult<String> {
        let job = calig::eval::job::EvalJob {
            dataset,
            methods,
            attributions,
            metrics: metrics
                .iter()
                .map(|m| choice("metric", m))
                .collect::<PyResult<_>>()?,
            preset: preset.map(|p| choice("preset", &p)).transpose()?,
            removal: removal.map(|r| choice("removal", &r)).transpose()?,
            image_removal: image_removal
                .map(|r| choice("image_removal", &r))
                .transpose()?,
            limit,
            seed,
            output,
            cache,
            reference,
            split,
            text_column,
            label_column,
            id_column,
            ids,
            sanity,
            min_words,
            progress,
            command: vec!["calig.evaluate (Python)".into()],
        };
        let quiet = |_: &str| {};
        let loud = |line: &str| eprintln!("{line}");
        let log: &(dyn Fn(&str) + Sync) = if progress { &loud } else { &quiet };
        let results = py
            .detach(|| calig::eval::job::run(&job, &self.inner, &log))
            .map_err(py_err)?;
        Ok(results.to_string())
    }
}

/// A `calig eval` option value (`delete`, `eraser`, `comprehensiveness`, ...).
fn choice<T: clap::ValueEnum>(what: &str, value: &str) -> PyResult<T> {
    T::from_str(value, true).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        PyValueError::new_err(format!("{what} `{value}`: one of {}", names.join(", ")))
    })
}

/// Loads a built-in model, a checkpoint directory or a cached hub id, as the CLI does.
#[pyfunction]
#[pyo3(signature = (model, dtype="f32", device="cpu"))]
fn load(py: Python<'_>, model: &str, dtype: &str, device: &str) -> PyResult<PyModel> {
    let dtype = match dtype {
        "f32" | "float32" => DType::F32,
        "f64" | "float64" => DType::F64,
        other => {
            return Err(PyValueError::new_err(format!(
                "dtype `{other}`: use f32 or f64"
            )))
        }
    };
    let device = match device {
        "cpu" => Device::Cpu,
        "cuda" => Device::new_cuda(0).map_err(|e| {
            PyRuntimeError::new_err(format!("cannot use CUDA (is calig built with it?): {e}"))
        })?,
        other => {
            return Err(PyValueError::new_err(format!(
                "device `{other}`: use cpu or cuda"
            )))
        }
    };
    let model = model.to_string();
    let runtime = Runtime::from_env(dtype, device);
    let inner = py
        .detach(|| load_model_with(&model, &runtime))
        .map_err(py_err)?;
    Ok(PyModel { inner })
}

/// calig's version.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _calig(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The CLI's thread policy (one worker per core, candle's intra-op threads at 1), at import,
    // before calig starts any thread pool.
    calig::runtime::init_thread_policy();
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_class::<PyModel>()?;
    Ok(())
}
