"""Where a train step's time goes: an XLA op-level profile by category.

  python -m benchmarks.profile [--length=500] [--seeds=5]

Traces whole training epochs (`fit.train_epoch`, as `fit.FitProgram` runs
them) with `jax.profiler` and sums the duration of the compiled program's
ops, grouped into convolutions, matmuls (XLA CPU runs dots as YNNPACK
fusions), random bits, layout copies, scatters/gathers and other fused
elementwise work. Three programs, each given per step of one seed:
- `sequential`: a single seed's epoch, run five times;
- `vmapped`: five seeds in one vmapped epoch (`seed_chunk=0`);
- `seed_chunk=1`: five seeds mapped one at a time in one program.
Run it with `--conv=xla` and `--conv=matmul` to see why each formulation
is faster where it is.
"""

import collections
import glob
import gzip
import json
import os
import re
import shutil
import tempfile

from absl import app
from absl import flags
import jax

from benchmarks import common

_LENGTH = flags.DEFINE_integer('length', 500, 'Tokens per review.')
_SEEDS = flags.DEFINE_integer('seeds', 5, 'Seeds.')
_EXAMPLES = flags.DEFINE_integer('examples', 128, 'Examples per epoch.')
_BATCH = flags.DEFINE_integer('batch_size', 32, 'Batch size.')
_CONV = flags.DEFINE_string('conv', 'xla', 'Conv1D.impl.')
_OUT = flags.DEFINE_string('out_dir', 'benchmark_results', 'JSON folder.')

CATEGORIES = ('convolution', 'matmul', 'random bits', 'copy/transpose',
              'scatter/gather', 'reduce', 'other fused')
# 'other fused': elementwise fusions, chiefly the Adam update and masks of
# the 8000 x 417 embedding, activations and the loss.
_CONTROL = re.compile(r'^(while|call|conditional|command_buffer)')
_HLO_NAME = re.compile(r'^[a-z][\w\-\.]*$')


def category(op: str) -> str:
  """The category of an XLA op by its name in the compiled program."""
  if 'convolution' in op or 'conv_general' in op:
    return 'convolution'
  if 'ynn' in op or 'dot' in op or 'gemm' in op:
    return 'matmul'
  if 'threefry' in op or 'shift' in op or 'xor' in op or 'rng' in op:
    return 'random bits'
  if 'copy' in op or 'transpose' in op:
    return 'copy/transpose'
  if 'scatter' in op or 'gather' in op or 'broadcast.' in op:
    # A broadcast on its own fills the zeros that the embedding gradient's
    # scatter-add starts from.
    return 'scatter/gather'
  if 'reduce' in op:
    return 'reduce'
  return 'other fused'


def profile(fn, repeats: int = 2) -> collections.Counter:
  """Seconds per category of `fn()`'s XLA ops, summed over `repeats`."""
  jax.block_until_ready(fn())  # Compiled and warm.
  trace_dir = tempfile.mkdtemp(prefix='lottery_jax_profile_')
  try:
    with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
      for _ in range(repeats):
        jax.block_until_ready(fn())
    path = glob.glob(os.path.join(trace_dir, '**', 'perfetto_trace.json.gz'),
                     recursive=True)[0]
    with gzip.open(path) as f:
      events = json.load(f)
  finally:
    shutil.rmtree(trace_dir, ignore_errors=True)
  events = events['traceEvents'] if isinstance(events, dict) else events
  totals = collections.Counter()
  for event in events:
    name = event.get('name', '')
    if (event.get('ph') == 'X' and _HLO_NAME.match(name)
        and not _CONTROL.match(name)):
      totals[category(name)] += event.get('dur', 0) * 1e-6
  return totals


def main(argv):
  del argv
  n, length = _SEEDS.value, _LENGTH.value
  programs = common.seed_programs(_CONV.value, n, _EXAMPLES.value, length,
                                  _BATCH.value)
  steps = n * -(-_EXAMPLES.value // _BATCH.value)  # Steps of one seed.
  repeats = 2
  rows, extra = [], {}
  for name, fn in programs.items():
    wall = common.time_fn(fn, repeats, warmup=1)
    totals = profile(fn, repeats)
    per_step = {c: 1e3 * totals[c] / (repeats * steps) for c in CATEGORIES}
    per_step['untraced'] = max(0.0, 1e3 * wall / steps
                               - sum(per_step.values()))
    rows.append([name, 1e3 * wall / steps,
                 *(per_step[c] for c in CATEGORIES), per_step['untraced']])
    extra[name] = per_step
  common.report(
      f'profile_{_CONV.value}',
      f'Op time per step of one seed, ms: conv={_CONV.value}, {length} '
      f'tokens, batch {_BATCH.value}, {n} seeds (op times add over both '
      'cores)', ['program', 'wall ms', *CATEGORIES, 'untraced'], rows, extra,
      _OUT.value)


if __name__ == '__main__':
  app.run(main)
