"""The text CNN of the paper (SPEC.md section 3), as a flax.linen module."""

from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def torch_default_kernel_init(fan_in_axes: Sequence[int] = (-2,)):
  """He uniform with a = sqrt(5): U(+-sqrt(6 / ((1 + a^2) fan_in))).

  That is U(+-1 / sqrt(fan_in)), the default of PyTorch's Conv1d and Linear
  that the paper's code used (SPEC.md section 3, Decision).
  """

  def init(key, shape, dtype=jnp.float32):
    fan_in = math.prod(shape[a] for a in fan_in_axes)
    bound = math.sqrt(6.0 / ((1.0 + 5.0) * fan_in))
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def torch_default_bias_init(fan_in: int):
  """U(+-1 / sqrt(fan_in)), PyTorch's default bias."""
  bound = 1.0 / math.sqrt(fan_in)

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


class Conv1D(nn.Module):
  """A 'VALID' 1-D convolution written as a sum of shifted matmuls.

  y[:, t] = sum_k x[:, t + k] @ kernel[k] + bias. The kernel has nn.Conv's
  shape [width, in, out]. Matmuls batch well under `jax.vmap` on every
  backend, where a vmapped lax.conv becomes a slow grouped convolution on
  CPU.
  """
  features: int
  width: int

  @nn.compact
  def __call__(self, x: jax.Array, out_len: int) -> jax.Array:
    """[batch, >= out_len + width - 1, in] -> [batch, out_len, features]."""
    fan_in = self.width * x.shape[-1]
    kernel = self.param('kernel', torch_default_kernel_init((0, 1)),
                        (self.width, x.shape[-1], self.features))
    bias = self.param('bias', torch_default_bias_init(fan_in),
                      (self.features,))
    y = bias
    for k in range(self.width):
      y = y + x[:, k:k + out_len] @ kernel[k]
    return y


class TextCNN(nn.Module):
  """Embedding -> dropout -> 1-D convolutions -> max over time -> MLP.

  Max pooling only looks at windows that start at a real token: a window
  that lies wholly in padding never counts, and each sequence is padded on
  the right with `max(widths) - 1` pad embeddings inside the model so that
  every window that starts at a real token exists whatever the input's
  padded length. With the pad embedding fixed at zero, the logits of a
  review do not depend on how much padding follows it.

  Attributes:
    vocab_size: rows of the embedding.
    embed_dim: embedding width (417).
    widths: convolution widths (3, 4, 5).
    channels: output channels per convolution (127).
    hidden: width of the hidden dense layer (117).
    num_classes: 2.
    dropout_rate: dropout on the embedded tokens (0.285).
    pad_id: the token whose embedding is zero.
  """
  vocab_size: int = 8000
  embed_dim: int = 417
  widths: Sequence[int] = (3, 4, 5)
  channels: int = 127
  hidden: int = 117
  num_classes: int = 2
  dropout_rate: float = 0.285
  pad_id: int = 0

  @nn.compact
  def __call__(self, tokens: jax.Array, length: jax.Array,
               train: bool = False) -> jax.Array:
    """Logits of a batch.

    Args:
      tokens: int32 [batch, len], right-padded with `pad_id`.
      length: int32 [batch], real tokens per row (>= 1).
      train: applies dropout (needs a 'dropout' rng).

    Returns:
      float32 [batch, num_classes].
    """
    embedding = self.param('embedding', nn.initializers.normal(stddev=1.0),
                           (self.vocab_size, self.embed_dim))
    x = jnp.take(embedding, tokens, axis=0)
    # Zero pad embedding whatever the (trainable) row holds, so padding
    # contributes nothing and receives no gradient.
    x = x * (tokens != self.pad_id)[..., None].astype(x.dtype)
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = jnp.pad(x, ((0, 0), (0, max(self.widths) - 1), (0, 0)))
    seq_len = tokens.shape[1]
    # Windows t with t < max(length, 1) start at a real token.
    starts = jnp.arange(seq_len)[None, :] < jnp.maximum(length, 1)[:, None]
    pooled = []
    for width in self.widths:
      h = Conv1D(self.channels, width, name=f'conv{width}')(x, seq_len)
      h = nn.relu(h)
      pooled.append(jnp.max(jnp.where(starts[..., None], h, -jnp.inf),
                            axis=1))
    x = jnp.concatenate(pooled, axis=-1)
    x = nn.Dense(self.hidden, kernel_init=torch_default_kernel_init(),
                 bias_init=torch_default_bias_init(x.shape[-1]),
                 name='hidden')(x)
    x = nn.relu(x)
    return nn.Dense(self.num_classes, kernel_init=torch_default_kernel_init(),
                    bias_init=torch_default_bias_init(self.hidden),
                    name='output')(x)
