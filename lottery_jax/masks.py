"""Boolean mask pytrees over Flax parameter pytrees.

A mask pytree has the structure of the params: a bool array (True = kept)
for every prunable leaf and None for every leaf that is never pruned. Tree
functions here walk the mask tree first with `is_leaf=is_none`, so the None
leaves line up with their params.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any
Path = Tuple[Any, ...]


def is_none(x) -> bool:
  return x is None


def path_name(path: Path) -> str:
  """'conv3/kernel' for a tree path of dict keys."""
  return '/'.join(str(getattr(k, 'key', getattr(k, 'name', k))) for k in path)


def default_prunable(path: Path, leaf) -> bool:
  """SPEC.md section 5: the embedding and every kernel; never biases."""
  del leaf
  return path_name(path).split('/')[-1] in ('embedding', 'kernel')


def make_masks(params: PyTree,
               prunable: Callable[[Path, Any], bool] = default_prunable
               ) -> PyTree:
  """All-True masks for the prunable leaves of `params`, None elsewhere."""
  return jax.tree_util.tree_map_with_path(
      lambda path, p: jnp.ones(p.shape, bool) if prunable(path, p) else None,
      params)


def apply_masks(params: PyTree, masks: PyTree) -> PyTree:
  """Zeroes the pruned weights; leaves without a mask pass unchanged."""
  return jax.tree.map(
      lambda m, p: p if m is None else jnp.where(m, p, jnp.zeros_like(p)),
      masks, params, is_leaf=is_none)


def sparsity(masks: PyTree, params: Optional[PyTree] = None
             ) -> Dict[str, float]:
  """Fractions of pruned weights.

  Args:
    masks: a mask pytree (unbatched).
    params: the params, to count the unprunable weights in `all`.

  Returns:
    {'prunable': pruned / prunable weights, 'all': pruned / all weights
     (when params are given), '<layer path>': pruned / weights of that layer}.
  """
  flat = jax.tree_util.tree_flatten_with_path(masks, is_leaf=is_none)[0]
  out = {}
  pruned = total = 0
  for path, m in flat:
    if m is None:
      continue
    m = np.asarray(m)
    out[path_name(path)] = (m.size - int(m.sum())) / m.size
    pruned += int(m.size - m.sum())
    total += int(m.size)
  out['prunable'] = pruned / max(total, 1)
  if params is not None:
    n_all = sum(int(np.size(p)) for p in jax.tree.leaves(params))
    out['all'] = pruned / max(n_all, 1)
  return out


def count_alive(masks: PyTree) -> Dict[str, int]:
  """Surviving weights per prunable layer."""
  flat = jax.tree_util.tree_flatten_with_path(masks, is_leaf=is_none)[0]
  return {path_name(p): int(np.asarray(m).sum()) for p, m in flat
          if m is not None}
