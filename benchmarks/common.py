"""Shared timing, model set-up and reporting for the benchmarks.

Every comparison is timed side by side in one process: each function is
called until compiled and warm, then timed `repeats` times, and the median
is reported. Functions return arrays; timing waits for them
(`jax.block_until_ready`), so asynchronous dispatch is not mistaken for
speed.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import statistics
import time
from typing import Any, Callable, Dict, List, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from lottery_jax import batching
from lottery_jax import fit
from lottery_jax import masks as masks_lib
from lottery_jax import models
from lottery_jax import train

PAPER = dict(vocab_size=8000, embed_dim=417, widths=(3, 4, 5), channels=127,
             hidden=117)
# The `cpu` preset's model (experiments/configs/cpu.py).
CPU = dict(vocab_size=8000, embed_dim=32, widths=(3, 4, 5), channels=32,
           hidden=32)


def time_fn(fn: Callable[[], Any], repeats: int = 5, warmup: int = 2,
            min_seconds: float = 0.0) -> float:
  """Median seconds of `fn()` over `repeats` calls, after `warmup` calls."""
  for _ in range(warmup):
    jax.block_until_ready(fn())
  times = []
  while len(times) < repeats or sum(times) < min_seconds:
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def in_scan(step, steps: int):
  """Compiles `steps` calls of `step(state, batch, rng)` in one lax.scan, as
  an epoch runs them, each on its own batch: `run(state, batches, rng)`
  takes batches stacked on a leading [steps] axis (`stacked_batches`) and
  returns the final state."""

  def run(state, batches, rng):
    def body(s, xs):
      i, batch = xs
      return step(s, batch, jax.random.fold_in(rng, i))[0], None
    final, _ = jax.lax.scan(body, state, (jnp.arange(steps), batches))
    return final

  return jax.jit(run)


def stacked_batches(steps: int, batch_size: int, length: int):
  """`steps` different random batches stacked on a leading axis."""
  batches = [random_batch(batch_size, length, seed=i) for i in range(steps)]
  return jax.tree.map(lambda *x: jnp.stack(x), *batches)


def time_interleaved(fns: Sequence[Callable[[], Any]], repeats: int = 5,
                     warmup: int = 2) -> List[float]:
  """Median seconds of each of `fns`, called in turn `repeats` times, so
  that a slow spell of a shared machine hits all of them alike."""
  for _ in range(warmup):
    for fn in fns:
      jax.block_until_ready(fn())
  times = [[] for _ in fns]
  for _ in range(repeats):
    for fn, out in zip(fns, times):
      start = time.perf_counter()
      jax.block_until_ready(fn())
      out.append(time.perf_counter() - start)
  return [statistics.median(t) for t in times]


def machine() -> Dict[str, Any]:
  cpu = ''
  if os.path.exists('/proc/cpuinfo'):
    with open('/proc/cpuinfo') as f:
      cpu = next((line.split(':', 1)[1].strip() for line in f
                  if line.startswith('model name')), '')
  return {'cpu': cpu, 'cores': os.cpu_count(), 'platform': platform.platform(),
          'python': platform.python_version(), 'jax': jax.__version__,
          'backend': jax.default_backend(),
          'devices': [str(d) for d in jax.devices()]}


def report(name: str, title: str, columns: Sequence[str],
           rows: List[Sequence[Any]], extra: Dict[str, Any],
           out_dir: str) -> str:
  """Prints a table and writes ``out_dir/<name>.json``; returns the table."""
  cells = [[_fmt(c) for c in row] for row in rows]
  widths = [max(len(str(h)), *(len(r[i]) for r in cells))
            for i, h in enumerate(columns)]
  lines = [f'## {title}', '',
           '| ' + ' | '.join(h.ljust(w) for h, w in zip(columns, widths))
           + ' |',
           '|' + '|'.join('-' * (w + 2) for w in widths) + '|']
  for r in cells:
    lines.append('| ' + ' | '.join(c.ljust(w) for c, w in zip(r, widths))
                 + ' |')
  table = '\n'.join(lines)
  print(table)
  for key, value in extra.items():
    if not isinstance(value, (dict, list)):
      print(f'{key}: {_fmt(value)}')
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, f'{name}.json'), 'w') as f:
    json.dump({'name': name, 'title': title, 'machine': machine(),
               'columns': list(columns),
               'rows': [list(map(_plain, r)) for r in rows],
               **{k: _plain(v) for k, v in extra.items()}}, f, indent=2)
  return table


def _plain(v):
  if isinstance(v, (np.floating, np.integer)):
    return v.item()
  if isinstance(v, dict):
    return {k: _plain(x) for k, x in v.items()}
  if isinstance(v, (list, tuple)):
    return [_plain(x) for x in v]
  return v


def _fmt(v) -> str:
  if isinstance(v, float):
    return f'{v:.4g}' if abs(v) < 1000 else f'{v:.0f}'
  return str(v)


def random_batch(batch_size: int, length: int, vocab_size: int = 8000,
                 seed: int = 0, full: bool = True) -> Dict[str, jax.Array]:
  """A batch of random tokens; every row `length` long unless not `full`."""
  rng = np.random.default_rng(seed)
  lengths = (np.full(batch_size, length) if full else
             rng.integers(1, length + 1, batch_size)).astype(np.int32)
  tokens = rng.integers(4, vocab_size, (batch_size, length)).astype(np.int32)
  tokens[np.arange(length)[None] >= lengths[:, None]] = 0
  return {'tokens': jnp.asarray(tokens), 'length': jnp.asarray(lengths),
          'label': jnp.asarray(rng.integers(0, 2, batch_size), jnp.int32),
          'weight': jnp.ones(batch_size, jnp.float32)}


def conv_dense_flops(batch_size: int, length: int, model_kw=PAPER) -> float:
  """FLOPs of one train step's convolutions and dense layers (forward +
  both backward matmuls; 2 FLOPs per multiply-add)."""
  e, c, h = model_kw['embed_dim'], model_kw['channels'], model_kw['hidden']
  conv = sum(batch_size * length * w * e * c for w in model_kw['widths'])
  dense = batch_size * (len(model_kw['widths']) * c * h + h * 2)
  return 3 * 2 * (conv + dense)


def half_pruned_state(model, tx, length: int, seed: int = 0):
  """A train state whose prunable leaves are about half pruned."""
  params = model.init(jax.random.key(seed), jnp.zeros((1, length), jnp.int32),
                      jnp.ones((1,), jnp.int32))['params']
  rng = np.random.default_rng(seed)
  masks = jax.tree.map(
      lambda m: None if m is None else jnp.asarray(rng.random(m.shape) < 0.5),
      masks_lib.make_masks(params), is_leaf=masks_lib.is_none)
  return train.TrainState.create(params, masks, tx)


def paper_model(**overrides) -> models.TextCNN:
  return models.TextCNN(**{**PAPER, **overrides})


def seed_programs(conv: str, seeds: int, examples: int, length: int,
                  batch_size: int) -> Dict[str, Callable[[], Any]]:
  """Whole training epochs of `seeds` seeds three ways, as `fit.FitProgram`
  runs them (data on device, an epoch one lax.scan), each a compiled
  callable returning the epochs' metrics: 'sequential' (the one-seed
  program, once per seed), 'vmapped' (one vmapped program) and
  'seed_chunk=1' (one program mapping the seeds one at a time,
  `fit.over_seeds`)."""
  model = paper_model(conv_impl=conv)
  tx = train.make_optimizer()
  data = random_batch(examples, length, full=False)
  data.pop('weight')
  data = batching.bucketize(jax.tree.map(np.asarray, data))
  bucket, rows = batching.epoch_steps(data.sizes, batch_size, 0)
  epoch = functools.partial(fit.train_epoch, model=model, tx=tx,
                            batch_size=batch_size)
  keys = jax.random.split(jax.random.key(0), seeds)
  states = [half_pruned_state(model, tx, length, seed=i)
            for i in range(seeds)]
  stacked = jax.tree.map(lambda *x: jnp.stack(x), *states)
  axes = (0, None, 0, None, None, None)
  single = jax.jit(epoch)
  vmapped = jax.jit(jax.vmap(epoch, in_axes=axes))
  mapped = jax.jit(fit.over_seeds(epoch, axes, chunk=1))
  both = fit.SeedKeys(keys, keys)
  return {
      'sequential': lambda: [
          single(states[i], data, fit.SeedKeys(keys[i], keys[i]), 0, bucket,
                 rows)[1] for i in range(seeds)],
      'vmapped': lambda: vmapped(stacked, data, both, 0, bucket, rows)[1],
      'seed_chunk=1': lambda: mapped(stacked, data, both, 0, bucket, rows)[1],
  }
