"""The seed axis sharded over several (forced host) devices."""

import os
import subprocess
import sys

import jax
import pytest

from lottery_jax import sharding

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_SCRIPT = r'''
import os, sys
os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=4'
sys.path.insert(0, 'tests')
import jax, numpy as np
import test_fit as T
from lottery_jax.config import FitSettings
assert jax.device_count() == 4
for buckets in ((), (4, 8)):
  config = dict(batch_size=16, epochs=2, buckets=buckets)
  sharded, _ = T._fit([0, 1, 2, 3], FitSettings(**config))
  single, _ = T._fit([0, 1, 2, 3],
                     FitSettings(**config, shard_seeds=False))
  spec = sharded.params['embedding'].sharding.spec
  assert tuple(spec) == ('seeds',), spec
  assert len(sharded.params['embedding'].sharding.device_set) == 4
  for a, b in zip(jax.tree.leaves(sharded.params),
                  jax.tree.leaves(single.params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5,
                               atol=1e-6)
  np.testing.assert_array_equal(np.asarray(sharded.best_epoch_index),
                                np.asarray(single.best_epoch_index))
print('sharded equals unsharded')
'''


def test_sharded_seeds_equal_unsharded():
  result = subprocess.run([sys.executable, '-c', _SCRIPT], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'sharded equals unsharded' in result.stdout


@pytest.mark.parametrize('seeds, devices, expected', [
    (5, 8, 5), (4, 8, 4), (6, 4, 3), (5, 4, None), (5, 1, None)])
def test_seed_mesh_sizes(seeds, devices, expected):
  fake = [jax.devices()[0]] * devices  # Only the count matters here.
  mesh = sharding.seed_mesh(seeds, fake)
  assert (None if mesh is None else mesh.devices.size) == expected
