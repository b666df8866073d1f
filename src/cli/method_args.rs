//! The method and its settings, as `calig explain` and `calig batch` take them: `--method` and
//! one flag per row of the library's settings table (attr/settings.rs), made from the table
//! so that the CLI, `calig eval`'s method entries and Python accept the same settings.

use super::choice::possible_values_of;
use anyhow::{bail, Result};
use calig::attr::settings::{self, Kind, Setting, SETTINGS};
use calig::attr::{Method, Params};
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Arg, ArgAction, ArgMatches, Command};

#[derive(Clone)]
pub struct MethodArgs {
    /// The methods; `calig explain` takes several (`--method calig,ig,gae`).
    pub method: Vec<Method>,
    /// The settings given on the command line, with their values, in table order.
    given: Vec<(&'static Setting, String)>,
}

/// The flag of `setting`, as errors and warnings name it.
fn flag(setting: &Setting) -> String {
    format!("--{}", setting.flag())
}

/// `--name VALUE` (or the switch `--name`) for one row of the settings table.
fn arg_for(s: &'static Setting) -> Arg {
    let default = s.default.describe().replace('`', "");
    let arg = Arg::new(s.name)
        .long(s.flag())
        .value_name(s.name.to_uppercase());
    match s.kind {
        Kind::Flag => arg.action(ArgAction::SetTrue).help(s.doc),
        Kind::Choice(list) => arg
            .help(format!("{} [default: {default}]", s.doc))
            .value_parser(PossibleValuesParser::new(possible_values_of(&list()))),
        // A negative number is a value to refuse with the setting's own words, not a flag.
        kind => arg
            .help(format!("{} [default: {default}]", s.doc))
            .allow_negative_numbers(true)
            .value_parser(move |v: &str| kind.check(v).map(|()| v.to_string())),
    }
}

impl std::fmt::Debug for MethodArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let given: Vec<(&str, &str)> = self
            .given
            .iter()
            .map(|(s, v)| (s.name, v.as_str()))
            .collect();
        f.debug_struct("MethodArgs")
            .field("method", &self.method)
            .field("given", &given)
            .finish()
    }
}

impl clap::Args for MethodArgs {
    fn augment_args(cmd: Command) -> Command {
        let methods = Method::ALL
            .iter()
            .map(|m| PossibleValue::new(m.name()).help(m.info().summary));
        let cmd =
            cmd.arg(
                Arg::new("method")
                    .long("method")
                    .value_name("METHOD")
                    .help(
                        "The method; `calig explain` takes several separated by commas \
                     (`--method calig,ig,gae`) and reports them side by side",
                    )
                    .value_delimiter(',')
                    .default_value("calig")
                    .value_parser(PossibleValuesParser::new(methods).map(|n: String| {
                        Method::from_name(&n).expect("clap checked the method name")
                    })),
            );
        SETTINGS.iter().fold(cmd, |cmd, s| cmd.arg(arg_for(s)))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for MethodArgs {
    fn from_arg_matches(m: &ArgMatches) -> std::result::Result<Self, clap::Error> {
        let method = m
            .get_many::<Method>("method")
            .map(|v| v.copied().collect())
            .unwrap_or_default();
        let mut given = Vec::new();
        for s in SETTINGS {
            match s.kind {
                Kind::Flag if m.get_flag(s.name) => given.push((s, "true".to_string())),
                Kind::Flag => {}
                _ => {
                    if let Some(v) = m.get_one::<String>(s.name) {
                        given.push((s, v.clone()));
                    }
                }
            }
        }
        Ok(Self { method, given })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> std::result::Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl MethodArgs {
    /// The given settings that none of the chosen methods reads (with these parameters).
    pub fn ignored(&self, params: &Params) -> Vec<String> {
        settings::ignored(self.given.iter().map(|(s, _)| s.name), &self.method, params)
            .into_iter()
            .map(flag)
            .collect()
    }

    /// The methods' names as the user wrote them (`calig,ig`).
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.method.iter().map(|m| m.name()).collect();
        names.join(",")
    }

    /// Says on stderr which given settings the methods ignore.
    pub fn warn_ignored(&self, params: &Params) {
        for flag in self.ignored(params) {
            eprintln!("warning: {flag} is ignored by --method {}", self.names());
        }
    }

    /// The one method of a command that takes one (`calig batch`).
    pub fn single(&self, command: &str) -> Result<Method> {
        match self.method.as_slice() {
            [m] => Ok(*m),
            _ => bail!(
                "{command} takes one --method (given: {}); run it once per method",
                self.names()
            ),
        }
    }

    /// The table's defaults for the input kind with the given settings applied.
    pub fn params(&self, is_text: bool) -> Result<Params> {
        let mut p = Params::defaults(is_text);
        p.apply(self.given.iter().map(|(s, v)| (s.name, v.as_str())), flag)?;
        Ok(p)
    }
}
