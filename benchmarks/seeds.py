"""Five seeds in one vmapped program against five seeds one after another.

  python -m benchmarks.seeds [--lengths=128,500] [--seeds=5] \
      [--convs=xla,matmul]

Each side runs whole training epochs the way `fit.FitProgram` does (data
on device, an epoch as one lax.scan): vmapped, the five seeds are one
program; seed_chunk=1, one program that maps the seeds one at a time
(`fit.over_seeds`); sequential, the single-seed program runs five times.
"""

import itertools

from absl import app
from absl import flags

from benchmarks import common

_LENGTHS = flags.DEFINE_list('lengths', ['128', '500'], 'Token lengths.')
_CONVS = flags.DEFINE_list('convs', ['xla', 'matmul'], 'Conv1D.impl values.')
_SEEDS = flags.DEFINE_integer('seeds', 5, 'Seeds.')
_EXAMPLES = flags.DEFINE_integer('examples', 256, 'Examples per epoch.')
_BATCH = flags.DEFINE_integer('batch_size', 32, 'Batch size.')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Timed calls per median.')
_OUT = flags.DEFINE_string('out_dir', 'benchmark_results', 'JSON folder.')


def main(argv):
  del argv
  n = _SEEDS.value
  rows, extra = [], {}
  for conv, length in itertools.product(_CONVS.value,
                                        map(int, _LENGTHS.value)):
    programs = common.seed_programs(conv, n, _EXAMPLES.value, length,
                                    _BATCH.value)
    t_v, t_m, t_s = (common.time_fn(programs[name], _REPEATS.value, warmup=1)
                     for name in ('vmapped', 'seed_chunk=1', 'sequential'))
    steps = -(-_EXAMPLES.value // _BATCH.value)
    rows.append([conv, length, 1e3 * t_v / steps, 1e3 * t_m / steps,
                 1e3 * t_s / steps, t_s / t_v, t_s / t_m])
    extra[f'vmapped_speedup_{conv}_{length}'] = t_s / t_v
    extra[f'seed_chunk_1_speedup_{conv}_{length}'] = t_s / t_m
  common.report(
      'seeds', f'{n} seeds vmapped against {n} seeds in sequence, paper '
      f'model, batch {_BATCH.value}, per step of all seeds',
      ['conv', 'tokens', 'vmapped ms', 'seed_chunk=1 ms', 'sequential ms',
       'vmapped speed-up', 'seed_chunk=1 speed-up'], rows,
      extra, _OUT.value)


if __name__ == '__main__':
  app.run(main)
