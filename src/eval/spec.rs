//! Method entries of `calig eval --methods`: a method name with optional settings (the
//! settings table, attr/settings.rs), e.g. `calig`, `calig:lambda=1,aggregation=sum`,
//! `lig:layers=3`, `ig:steps=auto,tolerance=0.001`, `random`. In a comma-separated list, a
//! `key=value` item without a `:` belongs to the entry before it, so
//! `calig:lambda=1,aggregation=sum,ig` is two entries; layer lists inside an entry use `+`
//! (`lig:layers=1+3`) or ranges (`1-3`).
//!
//! Two keys are the entry's, not the method's: `dtype=bf16|f16|f32|f64` and `tf32=true` compute
//! the entry's attributions with a copy of the model in that precision (the metrics still run
//! on the evaluated model), so that one run measures what reduced precision costs in
//! faithfulness: `--methods calig,calig:dtype=bf16`.

use crate::attr::{settings, Method, Params};
use crate::error::{CaligError, Result};
use candle_core::DType;

/// What an entry computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Method(Method),
    /// Seeded uniform scores in [0, 1): the floor of every table.
    Random,
    /// Word scores read from an attributions file (`--attributions`): the index of the file
    /// and a hash of its content (so a changed file is not served from the cache).
    External {
        index: usize,
        content: u64,
    },
}

#[derive(Debug, Clone)]
pub struct MethodSpec {
    /// The entry as the user wrote it, parameters sorted: the name in tables and cache keys.
    pub name: String,
    pub kind: Kind,
    pub params: Params,
    /// The given settings that the method does not read (said once when the job starts).
    pub ignored: Vec<&'static str>,
    /// The entry's own precision (`dtype=`, `tf32=`), when it gave one.
    pub precision: Option<EntryPrecision>,
}

/// The precision an entry's attributions are computed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryPrecision {
    /// None: the evaluated model's.
    pub dtype: Option<DType>,
    /// TF32 products for f32 on CUDA (no effect on the CPU); None: the run's setting.
    pub tf32: Option<bool>,
}

/// Takes the entry's own keys (`dtype`, `tf32`) out of `pairs`.
fn take_precision(
    entry: &str,
    pairs: &mut Vec<(String, String)>,
) -> Result<Option<EntryPrecision>> {
    let mut p = EntryPrecision {
        dtype: None,
        tf32: None,
    };
    let mut given = false;
    for (k, v) in pairs.iter() {
        match k.as_str() {
            "dtype" => {
                p.dtype = Some(crate::runtime::dtype_named(v).map_err(|why| bad(entry, why))?);
            }
            "tf32" => {
                p.tf32 = match v.as_str() {
                    "true" | "1" => Some(true),
                    "false" | "0" => Some(false),
                    _ => return Err(bad(entry, format!("tf32 `{v}`: use true or false"))),
                };
            }
            _ => continue,
        }
        given = true;
    }
    pairs.retain(|(k, _)| k != "dtype" && k != "tf32");
    Ok(given.then_some(p))
}

fn bad(entry: &str, why: impl std::fmt::Display) -> CaligError {
    CaligError::InvalidInput(format!("method entry `{entry}`: {why}"))
}

/// The message of a settings error, without the "invalid input" prefix.
fn reason(e: CaligError) -> String {
    match e {
        CaligError::InvalidInput(m) => m,
        other => other.to_string(),
    }
}

impl MethodSpec {
    /// One entry, e.g. `calig:lambda=0.25,attention_mode=path`.
    pub fn parse(entry: &str, is_text: bool) -> Result<Self> {
        let entry = entry.trim();
        let (head, rest) = entry.split_once(':').unwrap_or((entry, ""));
        let kind = if head == "random" {
            Kind::Random
        } else {
            Kind::Method(Method::parse(head).map_err(|e| bad(entry, format!("method {e}")))?)
        };
        let mut pairs: Vec<(String, String)> = Vec::new();
        for item in rest.split(',').filter(|s| !s.trim().is_empty()) {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| bad(entry, format!("`{item}` is not key=value")))?;
            pairs.push((k.trim().replace('-', "_"), v.trim().to_string()));
        }
        let mut own = pairs.clone();
        let precision = take_precision(entry, &mut own)?;
        if precision.is_some() && !matches!(kind, Kind::Method(_)) {
            return Err(bad(entry, "dtype and tf32 apply to attribution methods"));
        }
        let mut params = Params::defaults(is_text);
        params
            .apply(own.iter().map(|(k, v)| (k.as_str(), v.as_str())), |s| {
                s.name.to_string()
            })
            .and_then(|()| params.validate())
            .map_err(|e| bad(entry, reason(e)))?;
        // A reduction the method cannot apply is an error, not a warning: the entry's name
        // would promise a table that is not there.
        if own.iter().any(|(k, _)| k == "reduce")
            && !matches!(kind, Kind::Method(m) if m.info().reads("reduce"))
        {
            return Err(bad(
                entry,
                format!(
                    "reduce applies to ig (attributions over embedding dimensions); {head} has \
                     one score per token"
                ),
            ));
        }
        let ignored = match kind {
            Kind::Method(m) => {
                settings::ignored(own.iter().map(|(k, _)| k.as_str()), &[m], &params)
                    .iter()
                    .map(|s| s.name)
                    .collect()
            }
            _ => Vec::new(),
        };
        pairs.sort();
        pairs.dedup_by(|a, b| a.0 == b.0);
        let name = if pairs.is_empty() {
            head.to_string()
        } else {
            let p: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{head}:{}", p.join(","))
        };
        Ok(Self {
            name,
            kind,
            params,
            ignored,
            precision,
        })
    }

    /// Refuses a `start_layer` that the model's `num_layers` blocks do not have, before
    /// anything runs (the methods refuse it too, but only once an example reaches them).
    pub fn check_layers(&self, num_layers: usize) -> Result<()> {
        let reads = matches!(self.kind, Kind::Method(m) if m.info().reads("start_layer"));
        if reads && !(1..=num_layers).contains(&self.params.start_layer) {
            return Err(bad(
                &self.name,
                format!(
                    "start_layer {} does not exist: the model has blocks 1..={num_layers}",
                    self.params.start_layer
                ),
            ));
        }
        Ok(())
    }

    /// A `--methods` list; see the module documentation for how commas split it.
    pub fn parse_list(list: &str, is_text: bool) -> Result<Vec<Self>> {
        let mut entries: Vec<String> = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match entries.last_mut() {
                Some(last) if item.contains('=') && !item.contains(':') => {
                    last.push(',');
                    last.push_str(item);
                }
                _ => entries.push(item.to_string()),
            }
        }
        if entries.is_empty() {
            return Err(CaligError::InvalidInput("no methods given".into()));
        }
        let specs: Vec<Self> = entries
            .iter()
            .map(|e| Self::parse(e, is_text))
            .collect::<Result<_>>()?;
        for (i, s) in specs.iter().enumerate() {
            if specs[..i].iter().any(|t| t.name == s.name) {
                return Err(CaligError::InvalidInput(format!(
                    "method `{}` is listed twice",
                    s.name
                )));
            }
        }
        Ok(specs)
    }

    /// An attributions file as a method entry named `file:<stem>`.
    pub fn external(index: usize, path: &std::path::Path, content: &[u8], is_text: bool) -> Self {
        let h = super::fnv1a(0xcbf2_9ce4_8422_2325, content.iter().copied());
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("attributions");
        Self {
            name: format!("file:{stem}"),
            kind: Kind::External { index, content: h },
            params: Params::defaults(is_text),
            ignored: Vec::new(),
            precision: None,
        }
    }

    /// A file-name-safe form of the name.
    pub fn slug(&self) -> String {
        self.name
            .chars()
            .map(|c| match c {
                ':' => '_',
                ',' => '_',
                '=' => '-',
                c if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '+' => c,
                _ => '_',
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::{Aggregation, Layers};

    #[test]
    fn lists_split_into_entries_with_parameters() {
        let s = MethodSpec::parse_list("calig, calig:lambda=1,aggregation=sum,ig,random", true)
            .unwrap();
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["calig", "calig:aggregation=sum,lambda=1", "ig", "random"]
        );
        assert_eq!(s[1].params.lambda, 1.0);
        assert_eq!(s[1].params.aggregation, Aggregation::Sum);
        assert_eq!(s[3].kind, Kind::Random);
        assert_eq!(s[1].slug(), "calig_aggregation-sum_lambda-1");
    }

    #[test]
    fn settings_come_from_the_table_and_ignored_ones_are_named() {
        let s = MethodSpec::parse("ig:steps=auto,tolerance=0.001,memory_mib=64", true).unwrap();
        assert_eq!(s.params.tolerance, Some(0.001));
        assert_eq!(s.params.memory_mib, 64);
        // Order does not matter: tolerance is read after steps.
        let t = MethodSpec::parse("ig:tolerance=0.001,steps=auto", true).unwrap();
        assert_eq!(t.params.tolerance, Some(0.001));
        assert!(s.ignored.is_empty());
        let g = MethodSpec::parse("gae:steps=8,no_truncate=true", true).unwrap();
        assert_eq!(g.ignored, ["steps"]);
        assert!(g.params.no_truncate);
        let l = MethodSpec::parse("lig:layers=0+2-3", true).unwrap();
        assert_eq!(l.params.layers, Layers::List(vec![0, 2, 3]));
    }

    #[test]
    fn layers_and_errors() {
        let l = MethodSpec::parse("lig:layers=3", true).unwrap();
        assert_eq!(l.params.layers, Layers::List(vec![3]));
        let r = MethodSpec::parse("lig:layers=1-3", true).unwrap();
        assert_eq!(r.params.layers, Layers::List(vec![1, 2, 3]));
        let p = MethodSpec::parse("lig:layers=4+1", true).unwrap();
        assert_eq!(p.params.layers, Layers::List(vec![1, 4]));
        let err = |s: &str| MethodSpec::parse_list(s, true).unwrap_err().to_string();
        assert!(err("calig:lamda=1").contains("unknown parameter `lamda`"));
        assert!(err("calig:lambda=2").contains("outside [0, 1]"));
        assert!(err("calig:aggregation=max").contains("rollout, sum, backward"));
        assert!(err("magic").contains("method `magic`"));
        assert!(err("ig,ig").contains("listed twice"));
        assert!(err("").contains("no methods"));
    }

    #[test]
    fn an_entry_may_name_its_own_precision() {
        let s =
            MethodSpec::parse_list("calig,calig:dtype=bf16,ig:tf32=true,steps=8", true).unwrap();
        assert_eq!(s[0].precision, None);
        let bf16 = s[1].precision.unwrap();
        assert_eq!((bf16.dtype, bf16.tf32), (Some(DType::BF16), None));
        // The key is the entry's, not the method's: nothing ignored, the method's defaults kept.
        assert!(s[1].ignored.is_empty());
        assert_eq!(s[1].name, "calig:dtype=bf16");
        assert_eq!(s[1].params.steps, s[0].params.steps);
        let t = s[2].precision.unwrap();
        assert_eq!((t.dtype, t.tf32), (None, Some(true)));
        assert_eq!(s[2].name, "ig:steps=8,tf32=true");
        let err = |s: &str| MethodSpec::parse_list(s, true).unwrap_err().to_string();
        assert!(err("ig:dtype=f8").contains("dtype `f8`: use f32, f64, bf16 or f16"));
        assert!(err("ig:tf32=yes").contains("tf32 `yes`"));
        assert!(err("random:dtype=bf16").contains("apply to attribution methods"));
    }
}
