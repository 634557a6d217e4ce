"""The seed axis across devices, with jax.sharding.

On a host with several devices (a TPU host's cores, several GPUs), the
[seeds] axis of the vmapped training is split over a one-dimensional mesh
named 'seeds': each device trains its share of the seeds, the data is
replicated, and jit partitions the vmapped program to match. Arrays are
built with `jax.make_array_from_callback`, which is what a multi-host pod
(after `jax.distributed.initialize()`) needs too, but the fit loop and the
checkpoints still read results as host numpy arrays: multi-host runs are
not supported yet.
"""

from __future__ import annotations

from typing import Any, Optional

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec
import numpy as np

from lottery_jax import masks as masks_lib

AXIS = 'seeds'


def seed_mesh(num_seeds: int, devices=None) -> Optional[Mesh]:
  """A mesh over as many devices as evenly split `num_seeds`, or None.

  With 5 seeds and 8 devices, 5 devices are used; with 4 seeds and 8, 4; a
  single device (or seeds that share no divisor with the device count)
  gives None: no sharding.
  """
  devices = list(jax.devices() if devices is None else devices)
  n = max((d for d in range(1, len(devices) + 1) if num_seeds % d == 0),
          default=1)
  if n <= 1:
    return None
  return Mesh(np.array(devices[:n]), (AXIS,))


def _put(x, sharding):
  if x is None:
    return None
  if isinstance(x, jax.Array) and jax.dtypes.issubdtype(
      x.dtype, jax.dtypes.prng_key):
    data = np.asarray(jax.random.key_data(x))
    impl = jax.random.key_impl(x)
    spec = sharding.spec
    data_sharding = NamedSharding(sharding.mesh, PartitionSpec(
        *spec, *([None] * (data.ndim - len(spec)))))
    raw = jax.make_array_from_callback(data.shape, data_sharding,
                                       lambda i: data[i])
    return jax.random.wrap_key_data(raw, impl=impl)
  host = np.asarray(x)
  return jax.make_array_from_callback(host.shape, sharding,
                                      lambda i: host[i])


def shard_seeds(tree: Any, mesh: Mesh) -> Any:
  """Places a [seeds]-stacked tree with its first axis split over `mesh`."""
  sharding = NamedSharding(mesh, PartitionSpec(AXIS))
  return jax.tree.map(lambda x: _put(x, sharding), tree,
                      is_leaf=masks_lib.is_none)


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Places a tree whole on every device of `mesh`."""
  sharding = NamedSharding(mesh, PartitionSpec())
  return jax.tree.map(lambda x: _put(x, sharding), tree,
                      is_leaf=masks_lib.is_none)

