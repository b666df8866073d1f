//! Attribution methods, one per file, over a small shared core: the method list
//! ([`method`]), their settings ([`params`]), the prepared input ([`subject`]), what a method
//! returns ([`attribution`]), the path-integration engine ([`path`]), gradients at the input
//! ([`grads`]), quadrature and reference inputs ([`baseline`]).

pub mod attention;
pub mod attnlrp;
pub mod attribution;
pub mod baseline;
pub mod calig;
pub mod chefer2021;
pub mod gae;
pub mod grads;
pub mod gxi;
pub mod ig;
pub mod layer_ig;
pub mod method;
pub mod occlusion;
pub mod params;
pub mod path;
pub mod quadrature;
pub mod rollout;
pub mod saliency;
pub mod subject;

pub use attribution::{Attribution, Delta, Scores, DELTA_WARNING_SHARE};
pub use method::Method;
pub use params::{
    Aggregation, AttentionMode, AttentionSign, Cls, Fusion, Heads, LayerRelevance, Layers, Params,
    Propagation, Specials,
};
pub use subject::Subject;

use crate::error::Result;

/// Runs `method` on a prepared input with `params` (checked first).
pub fn run(method: Method, subject: &Subject, params: &Params) -> Result<Attribution> {
    params.validate()?;
    run_fixed(method, subject, params)
}

fn run_fixed(method: Method, subject: &Subject, params: &Params) -> Result<Attribution> {
    match method {
        Method::Calig => calig::run(subject, params),
        Method::Lig => layer_ig::run(subject, params),
        Method::Ig => ig::run(subject, params),
        Method::Gxi => gxi::run(subject, params),
        Method::Saliency => saliency::run(subject, params),
        Method::Attention => attention::run(subject, params),
        Method::Rollout => rollout::run(subject, params),
        Method::Gae => gae::run(subject, params),
        Method::Occlusion => occlusion::run(subject, params),
        Method::Attnlrp => attnlrp::run(subject, params),
        Method::Chefer2021 => chefer2021::run(subject, params),
    }
}
