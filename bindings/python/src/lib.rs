//! `calig._calig`: the Rust engine behind the `calig` Python package (python/calig/). A thin
//! layer: models load and explain exactly as the CLI does, results cross as the CLI's JSON (so
//! Python and CLI numbers are the same numbers) and the Python side turns them into NumPy
//! arrays. Long computations release the GIL.

use calig::attr::settings::{self, Scope, SETTINGS};
use calig::attr::{Method, Params};
use calig::choice::Choice;
use calig::explain::{explain_contrasted, softmax, ExplainInput, Explanation};
use calig::model::{load_model_with, LoadedModel};
use calig::runtime::Runtime;
use calig::CaligError;
use candle_core::Device;
use image::DynamicImage;
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::path::PathBuf;

/// A message in Python's words: the command line's `--flag` names become the keyword that
/// says the same (`--text-column` → `text_column=`, `--resume` → `resume=True`).
fn python_words(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find("--") {
        let (before, flag) = rest.split_at(i);
        out.push_str(before);
        let name: String = flag[2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        if name.is_empty() || !before.is_empty() && before.ends_with(|c: char| c.is_alphanumeric())
        {
            out.push_str("--");
            rest = &flag[2..];
            continue;
        }
        let keyword = name.replace('-', "_");
        rest = &flag[2 + name.len()..];
        if ["resume", "no_truncate", "sanity", "merge"].contains(&keyword.as_str()) {
            out.push_str(&format!("{keyword}=True"));
        } else if let Some(after) = rest.strip_prefix(" auto") {
            out.push_str(&format!("{keyword}=\"auto\""));
            rest = after;
        } else {
            out.push_str(&format!("{keyword}="));
        }
    }
    out.push_str(rest);
    out
}

/// calig's errors as the Python exceptions that fit, with calig's message in Python's words.
fn py_err(e: CaligError) -> PyErr {
    let msg = python_words(&e.to_string());
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

/// Pixels from Python as an image; a buffer of the wrong size is a ValueError.
fn decoded(pixels: Vec<u8>, height: u32, width: u32, channels: u8) -> PyResult<DynamicImage> {
    let wrong = |n: usize| {
        PyValueError::new_err(format!(
            "an image array of {height}×{width}×{channels} needs {} values, not {n}",
            height as usize * width as usize * channels as usize
        ))
    };
    let n = pixels.len();
    match channels {
        1 => image::GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8),
        3 => image::RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8),
        4 => image::RgbaImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgba8),
        c => {
            return Err(PyValueError::new_err(format!(
                "an image array needs 1, 3 or 4 channels, not {c}"
            )))
        }
    }
    .ok_or_else(|| wrong(n))
}

/// The explanations of saved JSON (one object, a list of them, or JSON lines), checked as
/// `calig render` checks them.
fn saved_explanations(text: &str) -> PyResult<Vec<Explanation>> {
    let saved =
        calig::render::saved::parse(std::path::Path::new("<explanation>"), text).map_err(py_err)?;
    Ok(saved.items.into_iter().map(|i| i.explanation).collect())
}

/// The explanations of `json` as an HTML page, or as a fragment for a notebook cell whose styles
/// are scoped under one class.
#[pyfunction]
#[pyo3(signature = (json, fragment=false))]
fn render_html(json: &str, fragment: bool) -> PyResult<String> {
    let es = saved_explanations(json)?;
    let opts = Default::default();
    Ok(if fragment {
        calig::render::html::fragment(&es, &opts)
    } else {
        calig::render::html::render(&es, &opts)
    })
}

/// The explanations of `json` as a PNG figure.
#[pyfunction]
fn render_png<'py>(py: Python<'py>, json: &str) -> PyResult<Bound<'py, PyBytes>> {
    let es = saved_explanations(json)?;
    let png = calig::render::png::render(&es, &Default::default()).map_err(py_err)?;
    Ok(PyBytes::new(py, &png))
}

/// The explanations of `json` as an SVG figure (the PNG's, in vectors).
#[pyfunction]
fn render_svg(json: &str) -> PyResult<String> {
    let es = saved_explanations(json)?;
    calig::render::svg::render(&es, &Default::default()).map_err(py_err)
}

/// Saved explanations (a file's text) checked and completed as `calig render` reads them,
/// each as JSON.
#[pyfunction]
fn read_saved(text: &str) -> PyResult<Vec<String>> {
    saved_explanations(text)?
        .iter()
        .map(|e| serde_json::to_string(e).map_err(|x| PyValueError::new_err(x.to_string())))
        .collect()
}

/// A loaded classifier.
#[pyclass(name = "Model", module = "calig._calig", frozen)]
struct PyModel {
    inner: LoadedModel,
}

impl PyModel {
    /// The method and its parameters from Python's `method=` and keyword arguments, read
    /// through the settings table as the CLI reads its flags; also the given settings the
    /// method ignores.
    fn method_params(
        &self,
        method: &str,
        given: &[(String, String)],
    ) -> PyResult<(Method, Params, Vec<String>)> {
        let method =
            Method::parse(method).map_err(|e| PyValueError::new_err(format!("method {e}")))?;
        let mut params = Params::defaults(self.inner.config.family.is_text());
        params
            .apply(given.iter().map(|(k, v)| (k.as_str(), v.as_str())), |s| {
                s.name.to_string()
            })
            .and_then(|()| params.validate())
            .map_err(py_err)?;
        let ignored = settings::ignored(given.iter().map(|(k, _)| k.as_str()), &[method], &params)
            .iter()
            .map(|s| s.name.to_string())
            .collect();
        Ok((method, params, ignored))
    }

    /// One explanation, as the CLI's JSON (Python renders it on demand).
    fn explain_one(
        &self,
        input: &ExplainInput,
        method: Method,
        params: &calig::attr::Params,
        target: Option<&str>,
        contrast: Option<&str>,
    ) -> Result<String, CaligError> {
        let e = explain_contrasted(&self.inner, input, target, contrast, method, params)?;
        serde_json::to_string(&e).map_err(|x| CaligError::Unsupported(x.to_string()))
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

    /// One explanation as (JSON, ignored settings). `settings`: (name, value) pairs of the
    /// settings table, values as the CLI writes them.
    /// `pair`: the second text of a sentence pair; `contrast`: a class (or `rest`) the target
    /// is explained against.
    #[pyo3(signature = (input, method, settings, target=None, image=false, pair=None, contrast=None))]
    #[allow(clippy::too_many_arguments)]
    fn explain(
        &self,
        py: Python<'_>,
        input: String,
        method: &str,
        settings: Vec<(String, String)>,
        target: Option<String>,
        image: bool,
        pair: Option<String>,
        contrast: Option<String>,
    ) -> PyResult<(String, Vec<String>)> {
        let (method, params, ignored) = self.method_params(method, &settings)?;
        let input = match pair {
            Some(b) => ExplainInput::Pair(input, b),
            None => input_of(input, image),
        };
        let json = py
            .detach(|| {
                self.explain_one(
                    &input,
                    method,
                    &params,
                    target.as_deref(),
                    contrast.as_deref(),
                )
            })
            .map_err(py_err)?;
        Ok((json, ignored))
    }

    /// Generation attribution of a causal language model, as JSON with the ignored settings:
    /// each token of `continuation` after `prompt` explained by `method`.
    fn explain_continuation(
        &self,
        py: Python<'_>,
        prompt: String,
        continuation: String,
        method: &str,
        settings: Vec<(String, String)>,
    ) -> PyResult<(String, Vec<String>)> {
        let (method, params, ignored) = self.method_params(method, &settings)?;
        let json = py
            .detach(|| {
                let g = calig::continuation::explain_continuation(
                    &self.inner,
                    &prompt,
                    &continuation,
                    method,
                    &params,
                )?;
                serde_json::to_string(&g).map_err(|x| CaligError::Unsupported(x.to_string()))
            })
            .map_err(py_err)?;
        Ok((json, ignored))
    }

    /// One explanation of an image given as 8-bit pixels (`height` × `width` × `channels`,
    /// row-major; 1, 3 or 4 channels), named `name` in the output.
    #[pyo3(signature = (pixels, height, width, channels, name, method, settings, target=None))]
    #[allow(clippy::too_many_arguments)]
    fn explain_pixels(
        &self,
        py: Python<'_>,
        pixels: Vec<u8>,
        height: u32,
        width: u32,
        channels: u8,
        name: String,
        method: &str,
        settings: Vec<(String, String)>,
        target: Option<String>,
    ) -> PyResult<(String, Vec<String>)> {
        let (method, params, ignored) = self.method_params(method, &settings)?;
        let image = decoded(pixels, height, width, channels)?;
        let input = ExplainInput::Decoded {
            name,
            image: std::sync::Arc::new(image),
        };
        let json = py
            .detach(|| self.explain_one(&input, method, &params, target.as_deref(), None))
            .map_err(py_err)?;
        Ok((json, ignored))
    }

    /// Explanations of many inputs as JSON, with the GIL released and a progress bar on
    /// stderr when `progress`.
    #[pyo3(signature = (inputs, method, settings, targets=None, image=false, progress=true))]
    #[allow(clippy::too_many_arguments)]
    fn explain_batch(
        &self,
        py: Python<'_>,
        inputs: Vec<String>,
        method: &str,
        settings: Vec<(String, String)>,
        targets: Option<Vec<Option<String>>>,
        image: bool,
        progress: bool,
    ) -> PyResult<(Vec<String>, Vec<String>)> {
        let (method, params, ignored) = self.method_params(method, &settings)?;
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
            let bar = calig::progress::bar(
                progress,
                inputs.len(),
                "explain_batch [{bar:30}] {pos}/{len} inputs, ETA {eta}",
            );
            let mut out = Vec::with_capacity(inputs.len());
            for (i, input) in inputs.into_iter().enumerate() {
                let target = targets.as_ref().and_then(|t| t[i].clone());
                let input = input_of(input, image);
                out.push(self.explain_one(&input, method, &params, target.as_deref(), None)?);
                bar.inc(1);
            }
            bar.finish_and_clear();
            Ok((out, ignored))
        })
        .map_err(py_err)
    }

    /// `calig batch` on this model (src/batch/): the rows of `input` explained into the
    /// JSON-lines `output`, resumable and shardable; returns a summary as JSON.
    #[pyo3(signature = (input, output, method, settings, text_column=None, image_column=None,
        id_column=None, target_column=None, resume=false, shard=None, on_error="fail",
        progress=true, pair_column=None, contrast=None))]
    #[allow(clippy::too_many_arguments)]
    fn batch(
        &self,
        py: Python<'_>,
        input: PathBuf,
        output: PathBuf,
        method: &str,
        settings: Vec<(String, String)>,
        text_column: Option<String>,
        image_column: Option<String>,
        id_column: Option<String>,
        target_column: Option<String>,
        resume: bool,
        shard: Option<String>,
        on_error: &str,
        progress: bool,
        pair_column: Option<String>,
        contrast: Option<String>,
    ) -> PyResult<(String, Vec<String>)> {
        let (method, params, ignored) = self.method_params(method, &settings)?;
        if text_column.is_some() && image_column.is_some() {
            return Err(PyValueError::new_err(
                "give text_column or image_column, not both",
            ));
        }
        if pair_column.is_some() && image_column.is_some() {
            return Err(PyValueError::new_err(
                "pair_column is a second text column: it does not go with image_column",
            ));
        }
        let job = calig::batch::Job {
            input,
            output,
            columns: calig::batch::Columns {
                is_image: image_column.is_some(),
                input: image_column.or(text_column),
                pair: pair_column,
                id: id_column,
                target: target_column,
            },
            method,
            params,
            contrast,
            resume,
            shard: shard
                .map(|s| calig::batch::Shard::parse(&s))
                .transpose()
                .map_err(PyValueError::new_err)?,
            on_error: choice("on_error", on_error)?,
            progress,
        };
        let done = py.detach(|| job.run(&self.inner)).map_err(py_err)?;
        let summary = serde_json::json!({
            "explained": done.explained,
            "already_done": done.already_done,
            "skipped": done.skipped,
            "errors_path": done.errors_path,
            "seconds": done.seconds,
        });
        Ok((summary.to_string(), ignored))
    }

    /// `calig eval` on this model: the job (src/eval/job.rs) runs with the GIL released,
    /// writes its files into `output` and returns results.json as text.
    #[pyo3(signature = (dataset, methods, attributions, metrics, preset, removal, limit, seed,
        output, cache, reference, split, text_column, label_column, id_column, ids, min_words,
        sanity, progress, image_removal=None, pair_column=None))]
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
        pair_column: Option<String>,
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
            pair_column,
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
fn choice<T: Choice>(what: &str, value: &str) -> PyResult<T> {
    calig::choice::parse(value).map_err(|_| {
        let names = calig::choice::names::<T>();
        PyValueError::new_err(format!("{what} `{value}`: one of {}", names.join(", ")))
    })
}

/// The settings table as JSON: name, default, values, the methods that read it, help line.
#[pyfunction]
fn settings_table() -> String {
    let rows: Vec<serde_json::Value> = SETTINGS
        .iter()
        .map(|s| {
            let readers: Vec<&str> = match s.scope {
                Scope::Input => Method::ALL.iter().map(|m| m.name()).collect(),
                Scope::Method => Method::ALL
                    .iter()
                    .filter(|m| m.info().reads(s.name))
                    .map(|m| m.name())
                    .collect(),
            };
            serde_json::json!({
                "name": s.name,
                "default": s.default.describe().replace('`', ""),
                "values": s.kind.describe().replace('`', ""),
                "methods": readers,
                "doc": s.doc,
            })
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// The method table as JSON: name, summary, signed, reference input, path integral.
#[pyfunction]
fn methods_table() -> String {
    let rows: Vec<serde_json::Value> = Method::ALL
        .iter()
        .map(|m| {
            let i = m.info();
            serde_json::json!({
                "name": i.name,
                "summary": i.summary,
                "signed": i.signed,
                "uses_reference": i.uses_reference,
                "integrates_path": i.integrates_path,
            })
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// Loads a built-in model, a checkpoint directory or a cached hub id, as the CLI does.
#[pyfunction]
#[pyo3(signature = (model, dtype="f32", device="cpu", tf32=false))]
fn load(py: Python<'_>, model: &str, dtype: &str, device: &str, tf32: bool) -> PyResult<PyModel> {
    let dtype = calig::runtime::dtype_named(dtype).map_err(PyValueError::new_err)?;
    // Process-wide in candle, as torch.backends.cuda.matmul.allow_tf32 is in PyTorch.
    calig::runtime::set_tf32(tf32);
    let device = match device {
        "cpu" => Device::Cpu,
        "cuda" => calig::runtime::cuda_device(0).map_err(PyRuntimeError::new_err)?,
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
    m.add_function(wrap_pyfunction!(settings_table, m)?)?;
    m.add_function(wrap_pyfunction!(render_html, m)?)?;
    m.add_function(wrap_pyfunction!(render_png, m)?)?;
    m.add_function(wrap_pyfunction!(render_svg, m)?)?;
    m.add_function(wrap_pyfunction!(read_saved, m)?)?;
    m.add_function(wrap_pyfunction!(methods_table, m)?)?;
    m.add_class::<PyModel>()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn flags_become_keywords() {
        assert_eq!(
            super::python_words("add --resume to continue it, or name it with --text-column"),
            "add resume=True to continue it, or name it with text_column="
        );
        assert_eq!(
            super::python_words("x -- y --steps auto ended"),
            "x -- y steps=\"auto\" ended"
        );
    }
}
