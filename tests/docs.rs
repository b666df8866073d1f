//! The docs against the tables they describe: docs/methods.md holds the method and settings
//! tables exactly as the library makes them, and docs/evaluation.md names every setting a
//! method entry takes and every metric. A method or setting added to the code without the docs
//! fails here; `CALIG_BLESS_DOCS=1 cargo test --test docs` rewrites the generated tables.

use calig::attr::{method, settings};
use calig::choice;
use calig::eval::metrics::MetricChoice;
use std::path::PathBuf;

fn doc(name: &str) -> (PathBuf, String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

/// The text between `<!-- begin NAME -->` and `<!-- end NAME -->` must be `want`.
fn generated_section(file: &str, name: &str, want: &str) {
    let (path, text) = doc(file);
    let (begin, end) = (
        format!("<!-- begin {name}: generated, see tests/docs.rs -->\n"),
        format!("<!-- end {name} -->"),
    );
    let start = text
        .find(&begin)
        .unwrap_or_else(|| panic!("{file} lacks `{begin}`"))
        + begin.len();
    let stop = text[start..]
        .find(&end)
        .unwrap_or_else(|| panic!("{file} lacks `{end}`"))
        + start;
    if &text[start..stop] == want {
        return;
    }
    if std::env::var_os("CALIG_BLESS_DOCS").is_some() {
        std::fs::write(&path, format!("{}{want}{}", &text[..start], &text[stop..])).unwrap();
        return;
    }
    panic!(
        "{file}'s {name} table differs from the code's; run CALIG_BLESS_DOCS=1 cargo test --test \
         docs, or paste:\n{want}"
    );
}

#[test]
fn methods_md_holds_the_method_and_settings_tables() {
    generated_section("methods.md", "method table", &method::markdown_table());
    generated_section("methods.md", "settings table", &settings::markdown_table());
}

#[test]
fn evaluation_md_names_every_setting_and_metric() {
    let (_, text) = doc("evaluation.md");
    let keys = text
        .split("## Methods (`--methods`)")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("docs/evaluation.md has a Methods section");
    for name in settings::names() {
        assert!(
            keys.contains(&format!("`{name}`")),
            "docs/evaluation.md's Methods section does not name the setting `{name}`"
        );
    }
    let metrics = text
        .split("## Metrics (`--metrics`)")
        .nth(1)
        .expect("docs/evaluation.md has a Metrics section");
    for name in choice::names::<MetricChoice>() {
        assert!(
            metrics.contains(&format!("`{name}`")),
            "docs/evaluation.md's Metrics section does not name the metric `{name}`"
        );
    }
}
