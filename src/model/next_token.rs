//! A causal language model seen as a classifier over its vocabulary at one position: the
//! "class" scores are the log-probabilities of the token after `position`, so that every method
//! explains log p(token | the tokens up to `position`) as it explains a classifier's logit
//! (generation attribution: continuation.rs).

use super::block::BlocksOutput;
use super::decoder::Decoder;
use super::rules::Rules;
use super::{relprop, Encoder, ModelConfig, ModelInput};
use crate::error::{CaligError, Result};
use crate::runtime::Runtime;
use candle_core::Tensor;

pub struct NextToken<'a> {
    decoder: &'a Decoder,
    /// The decoder's configuration with the vocabulary as its labels.
    config: &'a ModelConfig,
    /// The position whose next token is explained (the head reads its row of h^(L)).
    position: usize,
}

impl<'a> NextToken<'a> {
    /// `config`: the decoder's, with one label per vocabulary entry.
    pub fn new(decoder: &'a Decoder, config: &'a ModelConfig, position: usize) -> Result<Self> {
        if !decoder.is_language_model() {
            return Err(CaligError::Unsupported(format!(
                "this {} checkpoint has no language-model head (lm_head): --continuation needs \
                 a …ForCausalLM checkpoint",
                decoder.config().model_type
            )));
        }
        Ok(Self {
            decoder,
            config,
            position,
        })
    }
}

impl Encoder for NextToken<'_> {
    fn config(&self) -> &ModelConfig {
        self.config
    }
    fn runtime(&self) -> &Runtime {
        self.decoder.runtime()
    }
    fn input_embeddings(&self, input: &ModelInput) -> Result<Tensor> {
        self.decoder.input_embeddings(input)
    }
    fn embed_with(&self, input: &ModelInput, e: &Tensor, rules: Rules) -> Result<Tensor> {
        self.decoder.embed_with(input, e, rules)
    }
    fn blocks_with(
        &self,
        h: &Tensor,
        mask_bias: Option<&Tensor>,
        from: usize,
        probes: &[Tensor],
        rules: Rules,
    ) -> Result<BlocksOutput> {
        self.decoder.blocks_with(h, mask_bias, from, probes, rules)
    }
    fn block_with(
        &self,
        index: usize,
        h: &Tensor,
        mask_bias: Option<&Tensor>,
        probe: Option<&Tensor>,
        rules: Rules,
    ) -> Result<(Tensor, Tensor)> {
        self.decoder.block_with(index, h, mask_bias, probe, rules)
    }
    fn reads_first_token(&self) -> bool {
        false
    }
    fn readout_token(&self, _: usize) -> usize {
        self.position
    }
    fn readout_block(
        &self,
        index: usize,
        h: &Tensor,
        mask_bias: Option<&Tensor>,
        probe: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        self.decoder.readout_block(index, h, mask_bias, probe)
    }
    fn head_with(&self, h_last: &Tensor, rules: Rules) -> Result<Tensor> {
        self.decoder
            .next_token_log_probs(h_last, self.position, rules)?
            .ok_or_else(|| CaligError::Internal("a next-token view without lm_head".into()))
    }
    fn has_head(&self) -> bool {
        true
    }
    fn lrp_relevance(
        &self,
        input: &ModelInput,
        mask_bias: Option<&Tensor>,
        target: usize,
    ) -> Result<relprop::LrpRelevance> {
        self.decoder.lrp_relevance(input, mask_bias, target)
    }
}
