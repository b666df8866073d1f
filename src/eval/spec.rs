//! Method entries of `calig eval --methods`: a method name with optional parameters, e.g.
//! `calig`, `calig:lambda=1,aggregation=sum`, `lig:layers=3`, `random`. In a comma-separated
//! list, a `key=value` item without a `:` belongs to the entry before it, so
//! `calig:lambda=1,aggregation=sum,ig` is two entries.

use crate::attr::{Layers, Method, Params};
use crate::error::{CaligError, Result};
use clap::ValueEnum;

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
}

fn bad(entry: &str, why: impl std::fmt::Display) -> CaligError {
    CaligError::InvalidInput(format!("method entry `{entry}`: {why}"))
}

fn value<T: ValueEnum>(entry: &str, key: &str, v: &str) -> Result<T> {
    T::from_str(v, true).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|x| x.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        bad(
            entry,
            format!("{key} `{v}` is not one of {}", names.join(", ")),
        )
    })
}

fn number<T: std::str::FromStr>(entry: &str, key: &str, v: &str) -> Result<T> {
    v.parse()
        .map_err(|_| bad(entry, format!("{key} `{v}` is not a number")))
}

impl MethodSpec {
    /// One entry, e.g. `calig:lambda=0.25,attention_mode=path`.
    pub fn parse(entry: &str, is_text: bool) -> Result<Self> {
        let entry = entry.trim();
        let (head, rest) = entry.split_once(':').unwrap_or((entry, ""));
        let kind = if head == "random" {
            Kind::Random
        } else {
            Kind::Method(value::<Method>(entry, "method", head)?)
        };
        let mut params = Params::defaults(is_text);
        let mut pairs: Vec<(String, String)> = Vec::new();
        for item in rest.split(',').filter(|s| !s.trim().is_empty()) {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| bad(entry, format!("`{item}` is not key=value")))?;
            let (k, v) = (k.trim().replace('-', "_"), v.trim().to_string());
            match k.as_str() {
                "steps" => params.steps = number(entry, &k, &v)?,
                "lambda" => params.lambda = number(entry, &k, &v)?,
                "max_batch" => params.max_batch = number(entry, &k, &v)?,
                "start_layer" => params.start_layer = number(entry, &k, &v)?,
                "quadrature" => params.quadrature = value(entry, &k, &v)?,
                "baseline" => params.baseline = value(entry, &k, &v)?,
                "attention_mode" => params.attention_mode = value(entry, &k, &v)?,
                "aggregation" => params.aggregation = value(entry, &k, &v)?,
                "propagation" => params.propagation = value(entry, &k, &v)?,
                "attention_sign" => params.attention_sign = value(entry, &k, &v)?,
                "fusion" => params.fusion = value(entry, &k, &v)?,
                "specials" => params.specials = value(entry, &k, &v)?,
                "layer_relevance" => params.layer_relevance = value(entry, &k, &v)?,
                "heads" => params.heads = value(entry, &k, &v)?,
                "cls" => params.cls = value(entry, &k, &v)?,
                // Inside an entry commas separate parameters: layer lists use `+` or `-`.
                "layers" => params.layers = parse_layers(&v).map_err(|e| bad(entry, e))?,
                _ => return Err(bad(entry, format!("unknown parameter `{k}`"))),
            }
            pairs.push((k, v));
        }
        params.validate().map_err(|e| bad(entry, e))?;
        pairs.sort();
        pairs.dedup_by(|a, b| a.0 == b.0);
        let name = if pairs.is_empty() {
            head.to_string()
        } else {
            let p: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{head}:{}", p.join(","))
        };
        Ok(Self { name, kind, params })
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

/// `all`, one index, `a+b+c` or a range `a-b`.
fn parse_layers(v: &str) -> std::result::Result<Layers, String> {
    if let Some((a, b)) = v.split_once('-') {
        let (a, b): (usize, usize) = (
            a.parse()
                .map_err(|_| format!("`{a}` is not a layer index"))?,
            b.parse()
                .map_err(|_| format!("`{b}` is not a layer index"))?,
        );
        if a > b {
            return Err(format!("empty layer range {a}-{b}"));
        }
        return Ok(Layers::List((a..=b).collect()));
    }
    Layers::parse(&v.replace('+', ","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::Aggregation;

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
}
