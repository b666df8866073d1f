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

/// The README's Layout names every source and test file (by its file name).
#[test]
fn readme_layout_names_every_file() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let layout = readme
        .split("## Layout")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README.md has a Layout section");
    let mut files = Vec::new();
    let mut dirs = vec![root.join("src"), root.join("tests")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path
                    .file_name()
                    .is_some_and(|n| n != "fixtures" && n != "common")
                {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 100, "found {} files", files.len());
    let missing: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|name| {
            !layout.contains(&format!("`{name}`")) && !layout.contains(&format!("/{name}`"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "README.md's Layout does not name: {missing:?}"
    );
}
