//! The progress bars of long runs (`calig batch`, `calig eval`) on stderr.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps drawn with `template` (indicatif's syntax), or a hidden one.
pub(crate) fn bar(shown: bool, len: usize, template: &str) -> ProgressBar {
    let bar = if shown {
        ProgressBar::new(len as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}
