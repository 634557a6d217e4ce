"""Fixed 500-token batches against length buckets, on the real lengths.

  python -m benchmarks.buckets --data_workdir=runs/data [--domain=books]

Takes the length distribution of a prepared training split (written by
experiments.prepare_data), and times one pass of masked train steps over
it: every batch padded to 500 tokens, against batches drawn from length
buckets and padded to their bucket's length (one compiled step per
bucket). Checks that the logits of every example agree between the two
paddings (the model is padding invariant).
"""

import functools

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
from lottery_jax import batching
from lottery_jax import train
from lottery_jax.data import dataset

_DATA = flags.DEFINE_string('data_workdir', None,
                            'Directory that prepare_data wrote.',
                            required=True)
_DOMAIN = flags.DEFINE_string('domain', 'books', 'Domain.')
_BOUNDARIES = flags.DEFINE_list('boundaries', ['64', '128', '256', '500'],
                                'Bucket lengths.')
_EXAMPLES = flags.DEFINE_integer('examples', 640, 'Examples timed.')
_BATCH = flags.DEFINE_integer('batch_size', 32, 'Batch size.')
_OUT = flags.DEFINE_string('out_dir', 'benchmark_results', 'JSON folder.')


def main(argv):
  del argv
  split = dataset.load_split(_DATA.value, _DOMAIN.value, 'train', 500)
  rng = np.random.default_rng(0)
  chosen = rng.choice(len(split['label']), _EXAMPLES.value, replace=False)
  data = {k: v[chosen] for k, v in split.items()}
  model = common.paper_model()
  tx = train.make_optimizer()
  step = jax.jit(functools.partial(train.train_step, model=model, tx=tx))
  state = common.half_pruned_state(model, tx, 500)
  key = jax.random.key(0)
  b = _BATCH.value

  def batches(length, idx):
    out = []
    for i in range(0, len(idx), b):
      part = idx[i:i + b]
      pad = b - len(part)
      sel = np.concatenate([part, np.zeros(pad, part.dtype)])
      out.append({'tokens': jnp.asarray(data['tokens'][sel, :length]),
                  'length': jnp.asarray(data['length'][sel]),
                  'label': jnp.asarray(data['label'][sel]),
                  'weight': jnp.asarray(np.r_[np.ones(len(part)),
                                              np.zeros(pad)], jnp.float32)})
    return out

  fixed = batches(500, np.arange(_EXAMPLES.value))
  buckets = batching.length_buckets(data['length'],
                                   list(map(int, _BOUNDARIES.value)))
  bucketed = [x for length, idx in buckets for x in batches(length, idx)]

  def run(all_batches):
    return [step(state, x, key)[1]['loss'] for x in all_batches]

  t_fixed = common.time_fn(lambda: run(fixed), repeats=3, warmup=1)
  t_bucket = common.time_fn(lambda: run(bucketed), repeats=3, warmup=1)

  apply = jax.jit(lambda t, l: model.apply({'params': state.params}, t, l))
  worst = 0.0
  for length, idx in buckets:
    a = apply(jnp.asarray(data['tokens'][idx]),
              jnp.asarray(data['length'][idx]))
    c = apply(jnp.asarray(data['tokens'][idx, :length]),
              jnp.asarray(data['length'][idx]))
    worst = max(worst, float(jnp.abs(a - c).max()))
  sizes = {int(length): int(len(idx)) for length, idx in buckets}
  rows = [['fixed 500', len(fixed), 1e3 * t_fixed, 1.0],
          ['buckets ' + '/'.join(_BOUNDARIES.value), len(bucketed),
           1e3 * t_bucket, t_fixed / t_bucket]]
  common.report(
      'buckets', f'One pass over {_EXAMPLES.value} {_DOMAIN.value} training '
      f'reviews, paper model, batch {b}',
      ['batches', 'steps', 'ms', 'speed-up'], rows,
      {'speedup': t_fixed / t_bucket, 'max_logit_difference': worst,
       'bucket_sizes': sizes}, _OUT.value)
  print(f'examples per bucket: {sizes}')


if __name__ == '__main__':
  app.run(main)
