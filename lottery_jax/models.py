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


_NWC = ('NWC', 'WIO', 'NWC')


def _xla_conv(x, kernel, padding=(0, 0)):
  return jax.lax.conv_general_dilated(x, kernel, (1,), [padding],
                                      dimension_numbers=_NWC)


@jax.custom_vjp
def conv1d(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """'VALID' 1-D convolution, [b, len, in] x [width, in, out] -> [b, len -
  width + 1, out], with a backward pass made of plain convolutions.

  Autodiff of `lax.conv` gives the kernel gradient as a convolution whose
  batch and feature dimensions are swapped; XLA's CPU backend rewrites that
  into a fast form only outside loops, and inside `lax.scan` (our epochs)
  it ran about 100x slower. Here both gradients are written in the forward
  pass's own layout, so every convolution is fast in and out of loops.
  Reverse mode only (`jax.grad`, `jax.vjp`): as a `jax.custom_vjp` it has
  no forward-mode derivative.
  """
  return _xla_conv(x, kernel)


def _conv1d_fwd(x, kernel):
  return _xla_conv(x, kernel), (x, kernel)


def _conv1d_bwd(residuals, dy):
  x, kernel = residuals
  width = kernel.shape[0]
  # dx[t] = sum_k dy[t - k] @ kernel[k].T: a 'FULL' convolution of dy with
  # the kernel reversed in time and transposed.
  dx = _xla_conv(dy, jnp.swapaxes(kernel[::-1], 1, 2),
                 (width - 1, width - 1))
  # dkernel[k] = sum_{b, t} x[b, t + k].T dy[b, t]: a convolution over t
  # with the input features as its batch and the batch as its features.
  dkernel = _xla_conv(jnp.transpose(x, (2, 1, 0)),
                      jnp.transpose(dy, (1, 0, 2)))
  return dx, jnp.transpose(dkernel, (1, 0, 2))


conv1d.defvjp(_conv1d_fwd, _conv1d_bwd)


class Conv1D(nn.Module):
  """A 'VALID' 1-D convolution: y[:, t] = sum_k x[:, t + k] @ kernel[k] + b.

  The kernel has nn.Conv's shape [width, in, out]. Two formulations with
  the same parameters and results:
  - 'matmul': one matmul per tap. Matmuls batch well under `jax.vmap` on
    every backend, where a vmapped convolution becomes a grouped one (slow
    on CPU): the choice when many seeds are vmapped.
  - 'xla': `conv1d`, XLA's convolution: the fastest on CPU for one seed at
    a time (`--config.train.seed_chunk=1`).
  """
  features: int
  width: int
  impl: str = 'matmul'

  @nn.compact
  def __call__(self, x: jax.Array, out_len: int) -> jax.Array:
    """[batch, >= out_len + width - 1, in] -> [batch, out_len, features]."""
    fan_in = self.width * x.shape[-1]
    kernel = self.param('kernel', torch_default_kernel_init((0, 1)),
                        (self.width, x.shape[-1], self.features))
    bias = self.param('bias', torch_default_bias_init(fan_in),
                      (self.features,))
    if self.impl == 'xla':
      return conv1d(x[:, :out_len + self.width - 1], kernel) + bias
    if self.impl != 'matmul':
      raise ValueError(f'Conv1D.impl={self.impl!r}: not matmul or xla')
    y = bias
    for k in range(self.width):
      y = y + x[:, k:k + out_len] @ kernel[k]
    return y


def dropout(x: jax.Array, rate: float, rng: jax.Array) -> jax.Array:
  """Inverted dropout drawing 16 random bits per element.

  Each 32-bit word of threefry output gives two elements, which halves the
  cost of the random numbers (on a CPU, the bits of flax's Dropout on the
  paper's [32, 500, 417] embeddings took a fifth of a train step). An
  element is dropped when its 16 bits fall below round(rate * 2^16), so the
  drop probability is within 2^-17 of `rate`; survivors are scaled by the
  exact inverse keep probability.
  """
  if not 0.0 <= rate < 1.0:
    raise ValueError(f'dropout rate {rate} must be in [0, 1)')
  threshold = round(rate * 2 ** 16)
  if threshold == 0:
    return x
  n = x.size
  bits = jax.random.bits(rng, ((n + 1) // 2,), jnp.uint32)
  draws = jnp.concatenate([bits & 0xFFFF, bits >> 16])[:n].reshape(x.shape)
  keep = 1.0 - threshold / 2 ** 16
  return jnp.where(draws >= threshold, x / keep, jnp.zeros_like(x))


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
    embed_init_std: the embedding's init is N(0, embed_init_std^2) (1).
    pad_id: the token whose embedding is zero.
    conv_impl: 'matmul' or 'xla', see `Conv1D`.
  """
  vocab_size: int = 8000
  embed_dim: int = 417
  widths: Sequence[int] = (3, 4, 5)
  channels: int = 127
  hidden: int = 117
  num_classes: int = 2
  dropout_rate: float = 0.285
  embed_init_std: float = 1.0
  pad_id: int = 0
  conv_impl: str = 'matmul'

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
    embedding = self.param(
        'embedding', nn.initializers.normal(stddev=self.embed_init_std),
        (self.vocab_size, self.embed_dim))
    x = jnp.take(embedding, tokens, axis=0)
    # Zero pad embedding whatever the (trainable) row holds, so padding
    # contributes nothing and receives no gradient.
    x = x * (tokens != self.pad_id)[..., None].astype(x.dtype)
    if train:
      x = dropout(x, self.dropout_rate, self.make_rng('dropout'))
    x = jnp.pad(x, ((0, 0), (0, max(self.widths) - 1), (0, 0)))
    seq_len = tokens.shape[1]
    # Windows t with t < max(length, 1) start at a real token.
    starts = jnp.arange(seq_len)[None, :] < jnp.maximum(length, 1)[:, None]
    pooled = []
    for width in self.widths:
      h = Conv1D(self.channels, width, self.conv_impl,
                 name=f'conv{width}')(x, seq_len)
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
