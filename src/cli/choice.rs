//! clap value parsers for the library's named options ([`calig::choice::Choice`]): the names
//! and their help lines come from the enums, so `--help` lists what the library accepts.

use calig::choice::Choice;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

/// The possible values of `T`, each with its help line.
pub fn possible_values<T: Choice>() -> Vec<PossibleValue> {
    possible_values_of(&calig::choice::described::<T>())
}

/// A parser for a `T` argument (`#[arg(long, value_parser = choice::<T>())]`).
pub fn choice<T: Choice + Send + Sync + Clone>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(possible_values::<T>())
        .map(|name| calig::choice::parse::<T>(&name).expect("clap checked the name"))
}

/// Possible values from (name, help line) pairs.
pub fn possible_values_of(list: &[(&'static str, &'static str)]) -> Vec<PossibleValue> {
    list.iter()
        .map(|(name, doc)| PossibleValue::new(*name).help(calig::choice::one_line(doc)))
        .collect()
}
