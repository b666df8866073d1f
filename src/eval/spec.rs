//! Method entries of `calig eval --methods`: a method name with optional settings (the
//! settings table, attr/settings.rs), e.g. `calig`, `calig:lambda=1,aggregation=sum`,
//! `lig:layers=3`, `ig:steps=auto,tolerance=0.001`, `random`. In a comma-separated list, a
//! `key=value` item without a `:` belongs to the entry before it, so
//! `calig:lambda=1,aggregation=sum,ig` is two entries; layer lists inside an entry use `+`
//! (`lig:layers=1+3`) or ranges (`1-3`).

use crate::attr::{settings, Method, Params};
use crate::error::{CaligError, Result};

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
        let mut params = Params::defaults(is_text);
        params
            .apply(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), |s| {
                s.name.to_string()
            })
            .and_then(|()| params.validate())
            .map_err(|e| bad(entry, reason(e)))?;
        let ignored = match kind {
            Kind::Method(m) => {
                settings::ignored(pairs.iter().map(|(k, _)| k.as_str()), &[m], &params)
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
        })
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
}
