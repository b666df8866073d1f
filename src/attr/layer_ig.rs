//! Layer Integrated Gradients at every selected hidden state h^(l) (DESIGN §3 `lig`): the path
//! runs from the reference input's h^(l) to the input's h^(l), and only blocks l+1..L and the
//! head are re-run; all layers share chunked forward/backward passes (see path/).

use super::attribution::by_layer;
use super::path::layers::layer_paths;
use super::{Attribution, Delta, Params, Scores, Subject};
use crate::error::Result;
use super::{settings, Completeness, MethodInfo};

pub const INFO: MethodInfo = MethodInfo::new(
    "lig",
    "Layer Integrated Gradients in the space of every (selected) hidden state h^(l).",
    run,
)
.with_reference()
.integrating_path()
.reading(&[settings::PATH, &["layers"]])
.with_layers("Layer IG at each h^(l)")
.conserving(Completeness::LogitDifference);

pub fn run(subject: &Subject, params: &Params) -> Result<Attribution> {
    let num_layers = subject.model.num_layers();
    let layers = params.layers.resolve(num_layers)?;
    let r = layer_paths(subject, params, &layers, false)?;
    Ok(Attribution {
        // The lowest selected layer is the headline map (layer 0: Captum LIG on the embeddings).
        scores: Scores::Tokens(r.scores[0].clone()),
        delta: Delta::PerLayer(by_layer(num_layers, &layers, &r.deltas)),
        layers: Some(by_layer(num_layers, &layers, &r.scores)),
        details: None,
        warnings: r.warning.into_iter().collect(),
        completeness: r.completeness,
        steps: r.steps,
        baseline_logit: None,
    })
}
