//! The model's blocks handed to the explicit engine (src/engine/) as plain row-major arrays: the
//! engine knows no model type, so the conversion lives here, on the model's side.

use super::block::Block;
use super::linear::Linear;
use super::ops::LayerNorm;
use crate::engine::block::{BlockWeights, Dense, LayerNormWeights};
use crate::engine::{to_host, Engine, Real, Stack};
use crate::runtime::Runtime;
use candle_core::{DType, Device};

fn dense<T: Real>(l: &Linear) -> candle_core::Result<Dense<T>> {
    let (outputs, inputs) = l.weight().dims2()?;
    let bias = l.bias().map(to_host).transpose()?;
    Ok(Dense::new(to_host(l.weight())?, bias, outputs, inputs))
}

fn layer_norm<T: Real>(n: &LayerNorm) -> candle_core::Result<LayerNormWeights<T>> {
    Ok(LayerNormWeights {
        gamma: to_host(n.weight())?,
        beta: to_host(n.bias())?,
        eps: T::from(n.eps()).expect("eps fits the float type"),
    })
}

fn block<T: Real>(b: &Block) -> candle_core::Result<BlockWeights<T>> {
    Ok(BlockWeights {
        query: dense(&b.attention.query)?,
        key: dense(&b.attention.key)?,
        value: dense(&b.attention.value)?,
        output: dense(&b.attention.output)?,
        attention_norm: layer_norm(&b.attention_norm)?,
        ffn_in: dense(&b.ffn_in)?,
        ffn_out: dense(&b.ffn_out)?,
        ffn_norm: layer_norm(&b.ffn_norm)?,
        activation: b.activation,
        norm: b.norm,
        heads: b.attention.num_heads,
    })
}

fn stack<T: Real>(blocks: &[Block], first_token_readout: bool) -> candle_core::Result<Stack<T>> {
    Ok(Stack {
        blocks: blocks
            .iter()
            .map(block)
            .collect::<candle_core::Result<_>>()?,
        first_token_readout,
    })
}

/// The engine over `blocks` in the runtime's float type; None where the engine does not apply
/// (other devices and dtypes, no blocks).
pub fn engine_for(
    blocks: &[Block],
    first_token_readout: bool,
    runtime: &Runtime,
) -> candle_core::Result<Option<Engine>> {
    if !matches!(runtime.device, Device::Cpu) || blocks.is_empty() {
        return Ok(None);
    }
    Ok(match runtime.dtype {
        DType::F32 => Some(Engine::F32(stack(blocks, first_token_readout)?)),
        DType::F64 => Some(Engine::F64(stack(blocks, first_token_readout)?)),
        _ => None,
    })
}
