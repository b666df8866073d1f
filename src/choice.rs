//! Options that take one of a fixed list of names (`--quadrature gausslegendre`,
//! `aggregation=sum`, `--metrics token-f1`): one trait, so that the CLI, `calig eval`'s method
//! entries, the Python package and the docs read and list them the same way. The enums derive
//! their names and help lines with strum (`#[strum(serialize_all = ...)]`, doc comments).

/// An enum whose values users name.
pub trait Choice: Copy + PartialEq + 'static {
    /// Every value, in declaration order.
    fn all() -> &'static [Self];
    /// The name users write.
    fn name(self) -> &'static str;
    /// One line of help (the variant's doc comment).
    fn doc(self) -> &'static str;
}

impl<T> Choice for T
where
    T: strum::VariantArray + strum::EnumMessage + Into<&'static str> + Copy + PartialEq + 'static,
{
    fn all() -> &'static [Self] {
        T::VARIANTS
    }

    fn name(self) -> &'static str {
        self.into()
    }

    fn doc(self) -> &'static str {
        self.get_documentation().unwrap_or("")
    }
}

/// The value named `name` (ASCII case ignored); the error lists the names.
pub fn parse<T: Choice>(name: &str) -> Result<T, String> {
    T::all()
        .iter()
        .copied()
        .find(|v| v.name().eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| format!("`{name}` is not one of {}", names::<T>().join(", ")))
}

/// Every name, in declaration order.
pub fn names<T: Choice>() -> Vec<&'static str> {
    T::all().iter().map(|v| v.name()).collect()
}

/// A (doc comment) text on one line: its lines joined by single spaces.
pub fn one_line(text: &str) -> String {
    // Doc comments escape the brackets of [CLS] for rustdoc.
    let text = text.replace("\\[", "[").replace("\\]", "]");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every (name, help line), for `--help` and the docs.
pub fn described<T: Choice>() -> Vec<(&'static str, &'static str)> {
    T::all().iter().map(|v| (v.name(), v.doc())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(
        Debug, Clone, Copy, PartialEq, strum::VariantArray, strum::EnumMessage, strum::IntoStaticStr,
    )]
    #[strum(serialize_all = "kebab-case")]
    enum Shade {
        /// The light one.
        PaleBlue,
        Red2,
    }

    #[test]
    fn names_docs_and_parsing() {
        assert_eq!(names::<Shade>(), ["pale-blue", "red2"]);
        assert_eq!(described::<Shade>()[0], ("pale-blue", "The light one."));
        assert_eq!(Shade::Red2.doc(), "");
        assert_eq!(parse::<Shade>("Pale-Blue"), Ok(Shade::PaleBlue));
        assert_eq!(
            parse::<Shade>("green").unwrap_err(),
            "`green` is not one of pale-blue, red2"
        );
    }
}
