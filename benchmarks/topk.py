"""Per-layer magnitude pruning of the 8000 x 417 embedding.

  python -m benchmarks.topk

Times `pruning.prune_leaf` (one IMP round at p = 0.35) on a dense and on a
half-pruned embedding, and checks the count is exact.
"""

from absl import app
from absl import flags
import numpy as np

from benchmarks import common
from lottery_jax import pruning

_REPEATS = flags.DEFINE_integer('repeats', 9, 'Timed calls per median.')
_OUT = flags.DEFINE_string('out_dir', 'benchmark_results', 'JSON folder.')


def main(argv):
  del argv
  rng = np.random.default_rng(0)
  weights = rng.normal(size=(8000, 417)).astype(np.float32)
  rows, extra = [], {}
  for name, mask in (('dense', np.ones(weights.shape, bool)),
                     ('half pruned', rng.random(weights.shape) < 0.5)):
    alive = int(mask.sum())
    new = pruning.prune_leaf(weights, mask, 0.35)
    assert new.sum() == alive - pruning.prune_count(alive, 0.35)
    t = common.time_fn(lambda m=mask: pruning.prune_leaf(weights, m, 0.35),
                       _REPEATS.value)
    rows.append([name, alive, 1e3 * t])
    extra[f'ms_{name.replace(" ", "_")}'] = 1e3 * t
  common.report('topk', 'Per-layer top-k pruning of the 8000 x 417 '
                'embedding (p = 0.35)', ['mask', 'alive', 'ms'], rows, extra,
                _OUT.value)


if __name__ == '__main__':
  app.run(main)
