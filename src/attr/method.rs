//! The method table: each method declares, in its own file, what it is ([`MethodInfo`]); the
//! `methods!` list in attr/mod.rs holds one row per method and makes the
//! [`Method`](super::Method) enum from it. The CLI, `calig eval`'s method entries, the Python package, the
//! "ignored option" warnings, the JSON `params`, the renderers and the docs tables all read
//! these declarations, so adding a method is its file plus one row.

use super::memo::Memo;
use super::{Attribution, Params, Subject};
use crate::error::Result;

/// What the sum of a method's scores is compared with, when it is compared at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    /// No conservation property.
    None,
    /// Σ scores ≈ y_c(x) − y_c(x′), the reference input's logit subtracted (IG and its kin).
    LogitDifference,
    /// Σ scores ≈ y_c(x) (LRP's conservation).
    Logit,
}

/// A method's run through a [`Memo`].
pub type RunShared = fn(&Subject, &Params, &mut Memo) -> Result<Attribution>;

/// One method, as its file declares it.
#[derive(Debug, Clone, Copy)]
pub struct MethodInfo {
    /// The name users write (`--method`, method entries, Python's `method=`).
    pub name: &'static str,
    /// One line: what it computes, with its reference.
    pub summary: &'static str,
    /// Whether scores carry a sign (evidence for and against the class); unsigned methods give
    /// non-negative relevance and are drawn with a one-sided palette.
    pub signed: bool,
    /// Whether it compares the input with a reference input (`baseline`).
    pub uses_reference: bool,
    /// Whether it integrates gradients along a path (the `steps`, `quadrature`, ... settings).
    pub integrates_path: bool,
    /// The settings it reads, by name (attr/settings.rs), in groups.
    pub settings: &'static [&'static [&'static str]],
    /// What its per-layer scores are, for the layer views; None when it has no layers.
    pub layers_title: Option<&'static str>,
    pub completeness: Completeness,
    pub run: fn(&Subject, &Params) -> Result<Attribution>,
    /// `run` sharing work with other runs on the same input ([`super::memo::Memo`]), for the
    /// methods that have work to share.
    pub run_shared: Option<RunShared>,
    /// Raised when the method's scores change for the same settings, so that caches keyed by
    /// the settings (`calig eval`'s) are not served older results.
    pub revision: u32,
    /// Whether it explains a contrast (`--contrast`: y_c − y_k or the log-odds) when asked:
    /// every method that differentiates or perturbs the objective does.
    pub takes_contrast: bool,
}

impl MethodInfo {
    /// A signed method without a reference input, path, settings or layers, whose scores
    /// conserve nothing; the functions below say otherwise.
    pub const fn new(
        name: &'static str,
        summary: &'static str,
        run: fn(&Subject, &Params) -> Result<Attribution>,
    ) -> Self {
        Self {
            name,
            summary,
            signed: true,
            uses_reference: false,
            integrates_path: false,
            settings: &[],
            layers_title: None,
            completeness: Completeness::None,
            run,
            run_shared: None,
            revision: 1,
            takes_contrast: true,
        }
    }

    /// It does not explain a contrast: it reads no class (attention maps) or seeds its
    /// relevance with one class's logit (Chefer's LRP).
    pub const fn without_contrast(mut self) -> Self {
        self.takes_contrast = false;
        self
    }

    /// Its scores changed (for the same settings) `revision − 1` times.
    pub const fn revised(mut self, revision: u32) -> Self {
        self.revision = revision;
        self
    }

    /// Its scores are non-negative relevance, not evidence for and against.
    pub const fn unsigned(mut self) -> Self {
        self.signed = false;
        self
    }

    /// It compares the input with a reference input.
    pub const fn with_reference(mut self) -> Self {
        self.uses_reference = true;
        self
    }

    /// It integrates gradients along a path.
    pub const fn integrating_path(mut self) -> Self {
        self.integrates_path = true;
        self
    }

    /// The settings it reads.
    pub const fn reading(mut self, settings: &'static [&'static [&'static str]]) -> Self {
        self.settings = settings;
        self
    }

    /// It has per-layer scores, which `title` describes.
    pub const fn with_layers(mut self, title: &'static str) -> Self {
        self.layers_title = Some(title);
        self
    }

    /// What the sum of its scores conserves.
    pub const fn conserving(mut self, completeness: Completeness) -> Self {
        self.completeness = completeness;
        self
    }

    /// It shares work between runs on one input through a memo.
    pub const fn sharing(mut self, run_shared: RunShared) -> Self {
        self.run_shared = Some(run_shared);
        self
    }

    /// Whether it reads the setting `name`.
    pub fn reads(&self, name: &str) -> bool {
        self.settings.iter().any(|group| group.contains(&name))
    }
}

/// Makes the [`Method`](super::Method) enum and its table from one row per method:
/// `Variant => module`, where `module` (a file of attr/) holds `pub const INFO: MethodInfo` and
/// the method.
macro_rules! methods {
    ($($variant:ident => $module:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// An attribution method (see [`method::MethodInfo`] and [`Method::info`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Method {
            $(
                #[doc = concat!("See [`", stringify!($module), "`].")]
                $variant,
            )*
        }

        impl Method {
            /// Every method, in table order.
            pub const ALL: &'static [Method] = &[$(Method::$variant),*];

            /// What the method is, as its file declares it.
            pub fn info(self) -> &'static method::MethodInfo {
                match self {
                    $(Method::$variant => &$module::INFO,)*
                }
            }
        }
    };
}
pub(super) use methods;

impl super::Method {
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The method called `name` (ASCII case ignored).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|m| m.name().eq_ignore_ascii_case(name.trim()))
    }

    /// [`Self::from_name`] with an error that lists the methods.
    pub fn parse(name: &str) -> std::result::Result<Self, String> {
        Self::from_name(name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|m| m.name()).collect();
            format!("`{name}` is not one of {}", names.join(", "))
        })
    }
}

impl serde::Serialize for super::Method {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The methods as a markdown table (docs/methods.md holds it; a test keeps the two equal).
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| method | what it computes | signed | reference input | path integral | settings it reads |\n|---|---|---|---|---|---|\n",
    );
    let yes = |b: bool| if b { "yes" } else { "no" };
    for m in super::Method::ALL {
        let i = m.info();
        let settings: Vec<String> = i
            .settings
            .iter()
            .flat_map(|g| g.iter())
            .map(|s| format!("`{s}`"))
            .collect();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            i.name,
            i.summary,
            yes(i.signed),
            yes(i.uses_reference),
            yes(i.integrates_path),
            if settings.is_empty() {
                "—".to_string()
            } else {
                settings.join(", ")
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{settings, Method};

    #[test]
    fn names_are_distinct_and_parse_back() {
        for m in Method::ALL {
            assert_eq!(Method::from_name(m.name()), Some(*m));
            assert_eq!(Method::from_name(&m.name().to_uppercase()), Some(*m));
        }
        let e = Method::parse("shapley").unwrap_err();
        assert!(e.contains("calig, lig, ig"), "{e}");
    }

    #[test]
    fn every_declared_setting_exists_and_path_methods_read_the_path_settings() {
        for m in Method::ALL {
            let i = m.info();
            for s in i.settings.iter().flat_map(|g| g.iter()) {
                assert!(
                    settings::find(s).is_some(),
                    "{}: unknown setting {s}",
                    i.name
                );
            }
            assert_eq!(i.integrates_path, i.reads("steps"), "{}", i.name);
            assert_eq!(i.uses_reference, i.reads("baseline"), "{}", i.name);
        }
    }
}
