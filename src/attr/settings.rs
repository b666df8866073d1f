//! The settings table: one row per setting of the methods, with its name, help line, default,
//! the kind of value it takes, how a value is read into [`Params`] and how the explanation
//! reports it. The CLI flags (`--name-with-dashes`), `calig eval`'s method entries
//! (`calig:name=value`), the Python keyword arguments, the "ignored option" warnings, the JSON
//! `params` and the docs tables are all made from it, so adding a setting is one field of
//! [`Params`] plus one row here. Which methods read a setting, each method declares
//! ([`super::method::MethodInfo::settings`]).

use super::baseline::{Baseline, BaselineSpec};
use super::params::{
    Aggregation, AttentionMode, AttentionSign, Cls, Fusion, Heads, LayerRelevance, Layers, Params,
    Propagation, Reduce, Specials,
};
use super::path::auto::FIRST_STEPS;
use super::quadrature::Quadrature;
use crate::choice::{self, Choice};
use crate::error::{CaligError, Result};
use serde_json::{json, Value};

/// The settings every path method reads.
pub const PATH: &[&str] = &[
    "steps",
    "tolerance",
    "quadrature",
    "baseline",
    "reference_data",
    "seed",
    "max_batch",
    "memory_mib",
];

/// The tolerance of `steps=auto` when none is given: 1 % of the logit difference.
pub const DEFAULT_TOLERANCE: f64 = 0.01;

/// The syntax of a setting's values (ranges and combinations are checked when it is set and by
/// [`Params::validate`]).
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A whole number ≥ 0.
    Count,
    /// A real number.
    Number,
    /// `true` or `false`; on the command line a switch without a value.
    Flag,
    /// One of a list of names, each with a help line.
    Choice(fn() -> Vec<(&'static str, &'static str)>),
    /// A whole number of steps, or `auto`.
    Steps,
    /// `all` or layer indices: `1,3` (`1+3` inside a method entry, where commas separate
    /// settings), ranges `1-3`.
    Layers,
    /// A reference input: a name, `expected:N` or `blur:σ` ([`BaselineSpec`]).
    Baseline,
    /// A file or folder.
    Path,
}

impl Kind {
    /// Checks the syntax of `value` alone (the command line does this while parsing).
    pub fn check(&self, value: &str) -> std::result::Result<(), String> {
        match self {
            Self::Count => count(value).map(drop),
            Self::Number => number(value).map(drop),
            Self::Flag => flag(value).map(drop),
            Self::Choice(list) => {
                let names: Vec<&str> = list().into_iter().map(|(n, _)| n).collect();
                if names.iter().any(|n| n.eq_ignore_ascii_case(value.trim())) {
                    Ok(())
                } else {
                    Err(format!("`{value}` is not one of {}", names.join(", ")))
                }
            }
            Self::Steps => steps(value).map(drop),
            Self::Layers => Layers::parse(value).map(drop),
            Self::Baseline => BaselineSpec::parse(value).map(drop),
            Self::Path => {
                if value.trim().is_empty() {
                    Err("the path is empty".into())
                } else {
                    Ok(())
                }
            }
        }
    }

    /// How the docs describe the values.
    pub fn describe(&self) -> String {
        match self {
            Self::Count => "a whole number".into(),
            Self::Number => "a number".into(),
            Self::Flag => "true or false".into(),
            Self::Choice(list) => {
                let names: Vec<String> =
                    list().into_iter().map(|(n, _)| format!("`{n}`")).collect();
                format!("one of {}", names.join(", "))
            }
            Self::Steps => "a whole number, or `auto`".into(),
            Self::Layers => {
                "`all`, or layer indices `1,3` (`1+3` in method entries), ranges `1-3`".into()
            }
            Self::Baseline => format!("one of {}", BaselineSpec::names()),
            Self::Path => "a file or folder".into(),
        }
    }
}

/// A setting's default.
#[derive(Debug, Clone, Copy)]
pub enum Default {
    /// The same value for every input.
    Value(&'static str),
    /// Values for text and for image models.
    PerInput {
        text: &'static str,
        image: &'static str,
    },
    /// Not set; the text says what happens then.
    Unset(&'static str),
}

impl Default {
    /// The default as the docs and `--help` say it.
    pub fn describe(&self) -> String {
        match self {
            Self::Value(v) => format!("`{v}`"),
            Self::PerInput { text, image } => format!("`{text}` (text), `{image}` (images)"),
            Self::Unset(what) => (*what).into(),
        }
    }
}

/// How an explanation's JSON `params` report a setting.
#[derive(Debug, Clone, Copy)]
pub enum Report {
    /// `name: value`.
    Value,
    /// Not reported.
    Hidden,
    /// Its own keys, from what the method used.
    Custom(fn(&Params, &Used) -> Vec<(&'static str, Value)>),
}

/// What a method run used, for [`Report::Custom`].
pub struct Used<'a> {
    /// The steps of each path (they differ under `steps=auto`).
    pub steps: &'a [usize],
    /// The rows of the largest chunk ([`super::path::chunk_rows`]).
    pub chunk_rows: usize,
}

/// Whether a setting applies to some methods or to the input whatever the method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Read by the methods that declare it.
    Method,
    /// Read by every method (how the input is prepared).
    Input,
}

/// One row of the table.
pub struct Setting {
    /// The key of method entries and Python; the CLI flag is `--` and the name with `-` for `_`.
    pub name: &'static str,
    pub doc: &'static str,
    pub kind: Kind,
    pub default: Default,
    pub scope: Scope,
    /// Reads a value (whose syntax [`Kind::check`] accepts) into the parameters; the error says
    /// what is wrong with the value, without naming the setting.
    pub set: fn(&mut Params, &str) -> std::result::Result<(), String>,
    /// The value in the parameters, as JSON.
    pub get: fn(&Params) -> Value,
    pub report: Report,
    /// Whether the value matters given the other settings (`tolerance` only under
    /// `steps=auto`).
    pub active: fn(&Params) -> bool,
}

impl Setting {
    /// The command-line flag, without the dashes in front: `max-batch`.
    pub fn flag(&self) -> String {
        self.name.replace('_', "-")
    }

    /// Whether `method` reads this setting, given the other settings in `params`.
    pub fn read_by(&self, method: super::Method, params: &Params) -> bool {
        (self.scope == Scope::Input || method.info().reads(self.name)) && (self.active)(params)
    }
}

fn count(v: &str) -> std::result::Result<usize, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("`{v}` is not a whole number"))
}

fn number(v: &str) -> std::result::Result<f64, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("`{v}` is not a number"))
}

fn flag(v: &str) -> std::result::Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("`{v}` is neither true nor false")),
    }
}

/// `Some(n)` for a step count, None for `auto`.
fn steps(v: &str) -> std::result::Result<Option<usize>, String> {
    if v.trim().eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    v.trim()
        .parse()
        .map(Some)
        .map_err(|_| format!("`{v}` is neither a number of steps nor `auto`"))
}

fn always(_: &Params) -> bool {
    true
}

fn name_of<T: Choice>(v: T) -> Value {
    v.name().into()
}

/// The table, in the order values are applied (`steps` before `tolerance`).
pub static SETTINGS: &[Setting] = &[
    Setting {
        name: "steps",
        doc: "Interpolation steps of the path methods, or `auto`: from 8, raised per path until its completeness delta is within `tolerance` of its logit difference.",
        kind: Kind::Steps,
        default: Default::Value("50"),
        scope: Scope::Method,
        set: |p, v| {
            match steps(v)? {
                Some(n) => (p.steps, p.tolerance) = (n, None),
                None => {
                    p.steps = FIRST_STEPS;
                    p.tolerance = Some(p.tolerance.unwrap_or(DEFAULT_TOLERANCE));
                }
            }
            Ok(())
        },
        get: |p| match p.tolerance {
            Some(_) => "auto".into(),
            None => p.steps.into(),
        },
        // The most steps any path used.
        report: Report::Custom(|p, used| {
            vec![("steps", used.steps.iter().copied().max().unwrap_or(p.steps).into())]
        }),
        active: always,
    },
    Setting {
        name: "tolerance",
        doc: "With `steps=auto`: the largest |delta| / |y_c(x) − y_c(x′)| accepted.",
        kind: Kind::Number,
        default: Default::Unset("`0.01` under `steps=auto`"),
        scope: Scope::Method,
        set: |p, v| {
            let t = number(v)?;
            if !(t.is_finite() && t > 0.0) {
                return Err(format!("must be a positive number, not {v}"));
            }
            // Read under steps=auto only (set before this one); otherwise it stays off.
            if p.tolerance.is_some() {
                p.tolerance = Some(t);
            }
            Ok(())
        },
        get: |p| json!(p.tolerance),
        report: Report::Custom(|p, used| match p.tolerance {
            Some(t) => vec![
                ("steps_auto_tolerance", t.into()),
                ("steps_per_path", used.steps.into()),
            ],
            None => vec![],
        }),
        active: |p| p.tolerance.is_some(),
    },
    Setting {
        name: "quadrature",
        doc: "The integration rule of the path methods (Captum's alphas and weights).",
        kind: Kind::Choice(choice::described::<Quadrature>),
        default: Default::Value("gausslegendre"),
        scope: Scope::Method,
        set: |p, v| {
            p.quadrature = choice::parse(v)?;
            Ok(())
        },
        get: |p| name_of(p.quadrature),
        report: Report::Value,
        active: always,
    },
    Setting {
        name: "baseline",
        doc: "The reference input x′; `expected:N` averages N references drawn from `reference_data`, `blur:σ` blurs the image with σ pixels.",
        kind: Kind::Baseline,
        default: Default::PerInput {
            text: "pad",
            image: "black",
        },
        scope: Scope::Method,
        set: |p, v| {
            let spec = BaselineSpec::parse(v)?;
            p.baseline = spec.baseline;
            p.expected_samples = spec.samples;
            p.blur_sigma = spec.sigma;
            Ok(())
        },
        get: |p| p.baseline_spec().name().into(),
        report: Report::Value,
        active: always,
    },
    Setting {
        name: "reference_data",
        doc: "`baseline=expected:N`: the reference set — texts, one per line, or a .jsonl/.tsv/.csv with a `text` or `sentence` column; images: a folder of images or a file listing them, one per line.",
        kind: Kind::Path,
        default: Default::Unset("none (`expected:N` needs it)"),
        scope: Scope::Method,
        set: |p, v| {
            p.reference_data = Some(v.trim().to_string());
            Ok(())
        },
        get: |p| p.reference_data.clone().into(),
        report: Report::Custom(|p, _| match (&p.reference_data, p.baseline) {
            (Some(f), Baseline::Expected) => vec![("reference_data", f.clone().into())],
            _ => vec![],
        }),
        active: |p| p.baseline == Baseline::Expected,
    },
    Setting {
        name: "seed",
        doc: "`baseline=expected:N`: the seed of the draw of the N references.",
        kind: Kind::Count,
        default: Default::Value("0"),
        scope: Scope::Method,
        set: |p, v| {
            p.seed = v
                .trim()
                .parse()
                .map_err(|_| format!("`{v}` is not a whole number"))?;
            Ok(())
        },
        get: |p| p.seed.into(),
        report: Report::Custom(|p, _| match p.baseline {
            Baseline::Expected => vec![("seed", p.seed.into())],
            _ => vec![],
        }),
        active: |p| p.baseline == Baseline::Expected,
    },
    Setting {
        name: "layers",
        doc: "The hidden states of `lig` and `attnlrp`'s layer view: `all` or indices 0..=L.",
        kind: Kind::Layers,
        default: Default::Value("all"),
        scope: Scope::Method,
        set: |p, v| {
            p.layers = Layers::parse(v)?;
            Ok(())
        },
        get: |p| serde_json::to_value(&p.layers).unwrap_or_default(),
        report: Report::Value,
        active: always,
    },
    Setting {
        name: "max_batch",
        doc: "Rows (interpolation points, occluded copies) per forward/backward chunk; JSON `params` report the largest chunk.",
        kind: Kind::Count,
        default: Default::Unset("sized by `memory_mib`, at most 25"),
        scope: Scope::Method,
        set: |p, v| match count(v)? {
            0 => Err("must be at least 1".into()),
            n => {
                p.max_batch = n;
                Ok(())
            }
        },
        get: |p| p.max_batch.into(),
        report: Report::Custom(|_, used| vec![("max_batch", used.chunk_rows.into())]),
        active: always,
    },
    Setting {
        name: "memory_mib",
        doc: "Activation-memory budget in MiB that sizes the chunks when `max_batch` is not given.",
        kind: Kind::Count,
        default: Default::Value("2048"),
        scope: Scope::Method,
        set: |p, v| {
            p.memory_mib = count(v)?;
            Ok(())
        },
        get: |p| p.memory_mib.into(),
        report: Report::Hidden,
        active: always,
    },
    Setting {
        name: "lambda",
        doc: "CA-LIG fusion weight λ in [0, 1].",
        kind: Kind::Number,
        default: Default::Value("0.5"),
        scope: Scope::Method,
        set: |p, v| {
            p.lambda = number(v)?;
            Ok(())
        },
        get: |p| p.lambda.into(),
        report: Report::Value,
        active: always,
    },
    Setting {
        name: "attention_mode",
        doc: "CA-LIG attention gradients: at the input or integrated along the path.",
        kind: Kind::Choice(choice::described::<AttentionMode>),
        default: Default::Value("input"),
        scope: Scope::Method,
        set: |p, v| {
            p.attention_mode = choice::parse(v)?;
            Ok(())
        },
        get: |p| name_of(p.attention_mode),
        report: Report::Value,
        active: always,
    },
    Setting {
        name: "aggregation",
        doc: "CA-LIG aggregation across layers.",
        kind: Kind::Choice(choice::described::<Aggregation>),
        default: Default::Value("rollout"),
        scope: Scope::Method,
        set: |p, v| {
            p.aggregation = choice::parse(v)?;
            Ok(())
        },
        get: |p| name_of(p.aggregation),
        report: Report::Value,
        active: always,
    },
    Setting {
        name: "propagation",
        doc: "CA-LIG: the map that rollout/backward aggregation propagates through.",
        kind: Kind::Choice(choice::described::<Propagation>),
        default: Default::Value("gae"),
        scope: Scope::Method,
        set: |p, v| {
            p.propagation = choice::parse(v)?;
            Ok(())
        },
        get: |p| name_of(p.propagation),
        report: Report::Value,
        active: always,
    },
    Setting {
        name: "attention_sign",
        doc: "CA-LIG: keep GAE's ReLU in the attention relevance (positive) or not (signed).",
        kind: Kind::Choice(choice::described::<AttentionSign>),
        default: Default::Value("positive"),
        scope: Scope::Method,
        set: |p, v| {
            p.attention_sign = choice::parse(v)?;
            Ok(())
        },
        get: |p| name_of(p.attention_sign),
        report: Report::Value,
        active: always,
    },
    Setting {
        name: "fusion",
        doc: "CA-LIG: how r and â are fused.",
        kind: Kind::Choice(choice::described::<Fusion>),
        default: Default::Value("scale"),
        scope: Scope::Method,
        set: |p, v| {
            p.fusion = choice::parse(v)?;
            Ok(())
        },
        get: |p| name_of(p.fusion),
        report: Report::Value,
        active: always,
    },
    Setting {
        name: "specials",
        doc: "CA-LIG: whether special tokens take part in normalising â and in propagation.",
        kind: Kind::Choice(choice::described::<Specials>),
        default: Default::Value("keep"),
        scope: Scope::Method,
        set: |p, v| {
            p.specials = choice::parse(v)?;
            Ok(())
        },
        get: |p| name_of(p.specials),
        report: Report::Value,
        active: always,
    },
    Setting {
        name: "heads",
        doc: "CA-LIG: a^(l) as the mean over heads or weighted by each head's gradient relevance.",
        kind: Kind::Choice(choice::described::<Heads>),
        default: Default::Value("mean"),
        scope: Scope::Method,
        set: |p, v| {
            p.heads = choice::parse(v)?;
            Ok(())
        },
        get: |p| name_of(p.heads),
        report: Report::Value,
        active: always,
    },
    Setting {
        name: "layer_relevance",
        doc: "CA-LIG: r^(l) by layer IG (the paper) or by AttnLRP relevance at h^(l).",
        kind: Kind::Choice(choice::described::<LayerRelevance>),
        default: Default::Value("lig"),
        scope: Scope::Method,
        set: |p, v| {
            p.layer_relevance = choice::parse(v)?;
            Ok(())
        },
        get: |p| name_of(p.layer_relevance),
        report: Report::Value,
        active: always,
    },
    Setting {
        name: "cls",
        doc: "CA-LIG: keep [CLS]'s r^(l) or spread it over the tokens [CLS] attends to (by a^(l)).",
        kind: Kind::Choice(choice::described::<Cls>),
        default: Default::Value("keep"),
        scope: Scope::Method,
        set: |p, v| {
            p.cls = choice::parse(v)?;
            Ok(())
        },
        get: |p| name_of(p.cls),
        report: Report::Value,
        active: always,
    },
    Setting {
        name: "start_layer",
        doc: "chefer2021, gae, rollout: the first block of the accumulation, 1..=L (1: every block; L: the last block only, as Chefer et al.'s BERT code).",
        kind: Kind::Count,
        default: Default::Value("1"),
        scope: Scope::Method,
        set: |p, v| {
            p.start_layer = count(v)?;
            Ok(())
        },
        get: |p| p.start_layer.into(),
        report: Report::Value,
        active: always,
    },
    Setting {
        name: "reduce",
        doc: "ig: the token score from the embedding dimensions (channels for images): sum, abs (Σ|a|) or sq (Σa²), M⁴'s three IG entries.",
        kind: Kind::Choice(choice::described::<Reduce>),
        default: Default::Value("sum"),
        scope: Scope::Method,
        set: |p, v| {
            p.reduce = choice::parse(v)?;
            Ok(())
        },
        get: |p| name_of(p.reduce),
        report: Report::Value,
        active: always,
    },
    Setting {
        name: "no_truncate",
        doc: "Refuse a text longer than the model's maximum instead of truncating it.",
        kind: Kind::Flag,
        default: Default::Value("false"),
        scope: Scope::Input,
        set: |p, v| {
            p.no_truncate = flag(v)?;
            Ok(())
        },
        get: |p| p.no_truncate.into(),
        report: Report::Hidden,
        active: always,
    },
];

/// The row of the setting called `name` (`-` and `_` alike).
fn position(name: &str) -> Option<usize> {
    let key = name.trim().replace('-', "_");
    SETTINGS.iter().position(|s| s.name == key)
}

/// The setting called `name` (`-` and `_` alike).
pub fn find(name: &str) -> Option<&'static Setting> {
    position(name).map(|i| &SETTINGS[i])
}

/// Every setting's name.
pub fn names() -> Vec<&'static str> {
    SETTINGS.iter().map(|s| s.name).collect()
}

/// The settings among `given` (names) that none of `methods` reads with these parameters, in
/// the order given; unknown names are left to [`Params::apply`].
pub fn ignored<'a>(
    given: impl IntoIterator<Item = &'a str>,
    methods: &[super::Method],
    params: &Params,
) -> Vec<&'static Setting> {
    given
        .into_iter()
        .filter_map(find)
        .filter(|s| !methods.iter().any(|&m| s.read_by(m, params)))
        .collect()
}

/// The settings as a markdown table (docs/methods.md holds it; a test keeps the two equal).
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| setting | command line | default | values | read by | what it does |\n|---|---|---|---|---|---|\n",
    );
    for s in SETTINGS {
        let readers: Vec<String> = match s.scope {
            Scope::Input => vec!["every method".into()],
            Scope::Method => super::Method::ALL
                .iter()
                .filter(|m| m.info().reads(s.name))
                .map(|m| format!("`{}`", m.name()))
                .collect(),
        };
        out.push_str(&format!(
            "| `{}` | `--{}` | {} | {} | {} | {} |\n",
            s.name,
            s.flag(),
            s.default.describe(),
            s.kind.describe(),
            readers.join(", "),
            s.doc.replace('|', "\\|")
        ));
    }
    out
}

/// An error about the value of a setting, named as the caller's surface names it (`--steps`,
/// `steps`).
fn bad_value(label: &str, why: &str) -> CaligError {
    CaligError::InvalidInput(format!("{label} {why}"))
}

impl Params {
    /// Every setting at its default for a text or an image model (the table's defaults).
    pub fn defaults(is_text: bool) -> Self {
        let mut p = Params::default();
        for s in SETTINGS {
            let value = match s.default {
                Default::Value(v) => v,
                Default::PerInput { text, image } => {
                    if is_text {
                        text
                    } else {
                        image
                    }
                }
                Default::Unset(_) => continue,
            };
            (s.set)(&mut p, value).expect("the table's defaults are valid values");
        }
        p
    }

    /// Sets the given `(name, value)` pairs, in table order whatever their order here (so
    /// `tolerance` follows `steps`). `label` names a setting in errors (`|s| format!("--{}",
    /// s.flag())` on the command line). An unknown name is an error that lists the names.
    pub fn apply<'a>(
        &mut self,
        given: impl IntoIterator<Item = (&'a str, &'a str)>,
        label: impl Fn(&Setting) -> String,
    ) -> Result<()> {
        let mut rows: Vec<(usize, &str)> = Vec::new();
        for (name, value) in given {
            let i = position(name).ok_or_else(|| {
                CaligError::InvalidInput(format!(
                    "unknown parameter `{name}`: the settings are {}",
                    names().join(", ")
                ))
            })?;
            rows.push((i, value));
        }
        rows.sort_by_key(|(i, _)| *i);
        for (i, value) in rows {
            let s = &SETTINGS[i];
            s.kind
                .check(value)
                .and_then(|()| (s.set)(self, value))
                .map_err(|why| bad_value(&label(s), &why))?;
        }
        Ok(())
    }
}
