"""Per-layer magnitude pruning: the l0 projection of the paper's eq. 5."""

from __future__ import annotations

import fractions
import math

import jax
import numpy as np

from lottery_jax import masks as masks_lib


def prune_count(alive: int, fraction: float) -> int:
  """Weights to remove: round(fraction * alive), keeping at least one.

  Exact rational arithmetic on the fraction as written (0.35 is 7/20, not
  the float just below it, which would give 0.35 * 90 = 31.4999...), and
  ties rounded half up, not to even (SPEC.md section 5, Decision).
  """
  n = math.floor(fractions.Fraction(repr(float(fraction))) * alive +
                 fractions.Fraction(1, 2))
  return max(0, min(n, alive - 1))


def prune_leaf(weights: np.ndarray, mask: np.ndarray,
               fraction: float) -> np.ndarray:
  """The mask after removing the `prune_count` smallest surviving weights.

  Magnitude ties are broken by flat index: the lower index goes first.
  Runs in linear time (a partition, not a sort).

  Args:
    weights: the trained weights, any shape.
    mask: bool, same shape; True = alive.
    fraction: share of the surviving weights to remove, in [0, 1).

  Returns:
    The new bool mask, a subset of `mask`.
  """
  mask = np.asarray(mask, bool)
  flat_mask = mask.ravel()
  alive_idx = np.flatnonzero(flat_mask)
  n = prune_count(alive_idx.size, fraction)
  if n == 0:
    return mask.copy()
  magnitude = np.abs(np.asarray(weights, np.float32).ravel()[alive_idx])
  threshold = np.partition(magnitude, n - 1)[n - 1]
  below = alive_idx[magnitude < threshold]
  # alive_idx is ascending, so the first ties have the lowest flat index.
  ties = alive_idx[magnitude == threshold][:n - below.size]
  new = flat_mask.copy()
  new[below] = False
  new[ties] = False
  return new.reshape(mask.shape)


def prune_by_magnitude(params, masks, fraction: float):
  """One IMP round: in each prunable leaf separately, removes
  round(fraction x alive) of the surviving weights of smallest magnitude.

  Args:
    params: trained params (a pytree; arrays of any backend).
    masks: the current mask pytree (None for unprunable leaves).
    fraction: p, in [0, 1).

  Returns:
    The new mask pytree (numpy bool arrays; None leaves kept).
  """
  if not 0.0 <= fraction < 1.0:
    raise ValueError(f'fraction must be in [0, 1), got {fraction}')
  return jax.tree.map(
      lambda m, w: None if m is None else prune_leaf(w, m, fraction),
      masks, params, is_leaf=masks_lib.is_none)
