"""Convergence sweep: how far each model and schedule trains, and its cost.

  python -m benchmarks.convergence --data_dir=../shared/data/amazon_reviews \
      --workdir=runs/sweep --candidates=paper256,e32_256_lr3_w200_b [--domains=...]

Trains FULL-MODEL (round 0, dense) of each candidate for one seed in every
domain, with early stopping on validation accuracy, and records the best
epoch, the epochs run, validation and test accuracy at the best epoch, the
per-epoch curve and the seconds. Rows are appended to
``docs/convergence.jsonl`` (one per candidate and domain; finished ones are
skipped, so the sweep resumes), and `--table` prints them as the markdown
table in docs/convergence.md. This is the measurement that chose the `cpu`
preset (experiments/configs/cpu.py).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict

from absl import app
from absl import flags
import jax
import numpy as np
from scipy import sparse
from sklearn import decomposition
from sklearn import feature_extraction

from lottery_jax import config as config_lib
from lottery_jax import lottery
from lottery_jax import runs
from lottery_jax.data import vocab as vocab_lib

_DATA_DIR = flags.DEFINE_string('data_dir', None, 'Review files.')
_WORKDIR = flags.DEFINE_string('workdir', 'runs/sweep', 'Prepared data.')
_CANDIDATES = flags.DEFINE_list('candidates', None, 'Names of CANDIDATES.')
_DOMAINS = flags.DEFINE_list('domains', list(config_lib.DOMAINS), 'Domains.')
_OUT = flags.DEFINE_string('out', 'docs/convergence.jsonl', 'Rows file.')
_SEED = flags.DEFINE_integer('seed', 0, 'The seed.')
_TABLE = flags.DEFINE_bool('table', False, 'Print the table of --out.')
_STUDY_KEYS = flags.DEFINE_bool(
    'study_keys', False, 'Train with the shuffling and dropout keys of the '
    "study's FULL-MODEL in the domain (the domain folded in, as "
    'tickets.find_tickets does), so that a seed replays the study\'s '
    'training of that seed under the candidate\'s settings.')
_REPLAY = flags.DEFINE_list(
    'replay', None, 'PATIENCE,MIN_EPOCHS: replay this early-stopping rule '
    'on the recorded validation curves of --candidates (where it stops, '
    'against where the recorded run stopped) and print the table.')

# name: (model and train overrides). Every candidate trains up to `epochs`
# with `patience`; the rest is the paper's (get_config).
CANDIDATES: Dict[str, Dict[str, Any]] = {
    # The paper's CNN at 256 tokens: the reference for the CNN's ceiling.
    'paper256': dict(max_length=256, epochs=20, patience=4),
    # The old cpu preset's model at 4 epochs (docs/results before issue 12).
    'cpu_old': dict(embed_dim=32, channels=32, hidden=32, max_length=160,
                    epochs=4, patience=0),
    # The old cpu model trained to its plateau at a higher learning rate.
    'cpu32_lr3': dict(embed_dim=32, channels=32, hidden=32, max_length=160,
                      learning_rate=3e-3, epochs=25, patience=4),
    # Narrow layers at 256 tokens, batches in two length buckets.
    'e32_256_lr3_b': dict(embed_dim=32, channels=32, hidden=32,
                          max_length=256, learning_rate=3e-3, epochs=25,
                          patience=4, buckets=(128, 256)),
    'e32_256_lr2_b': dict(embed_dim=32, channels=32, hidden=32,
                          max_length=256, learning_rate=2e-3, epochs=25,
                          patience=4, buckets=(128, 256)),
    # The cpu preset: as e32_256_lr3_b, the learning rate warmed up over
    # 200 steps (a fresh init on a sparse mask can die without it:
    # benchmarks/dead_starts.py).
    'e32_256_lr3_w200_b': dict(embed_dim=32, channels=32, hidden=32,
                               max_length=256, learning_rate=3e-3,
                               warmup_steps=200, epochs=25, patience=4,
                               buckets=(128, 256)),
    'e64c32_256_lr3_b': dict(embed_dim=64, channels=32, hidden=32,
                             max_length=256, learning_rate=3e-3, epochs=25,
                             patience=4, buckets=(128, 256)),
    'w64_256_lr3': dict(embed_dim=64, channels=64, hidden=64, max_length=256,
                        learning_rate=3e-3, epochs=25, patience=4),
    'w64_256_lr3_b': dict(embed_dim=64, channels=64, hidden=64,
                          max_length=256, learning_rate=3e-3, epochs=25,
                          patience=4, buckets=(128, 256)),
}
# Toward the linear baseline: the cpu preset's model with another dropout
# rate, or its embedding initialised otherwise than N(0, 1) (`embed_init`:
# ('normal', std), or 'svd': the train split's TF-IDF document-piece matrix
# factored by a truncated SVD, scaled to std 1; `embedding_init`). The
# normal draws are numpy's, as docs/convergence.jsonl's rows were made
# before the library had `--config.model.embed_init_std`, its way to train
# with such an init (same distribution, other draws).
_CPU = CANDIDATES['e32_256_lr3_w200_b']
CANDIDATES.update({
    'cpu_drop0.1': dict(_CPU, dropout_rate=0.1),
    'cpu_drop0.5': dict(_CPU, dropout_rate=0.5),
    'cpu_emb0.1': dict(_CPU, embed_init=('normal', 0.1)),
    'cpu_emb0.3': dict(_CPU, embed_init=('normal', 0.3)),
    'cpu_emb_svd': dict(_CPU, embed_init='svd'),
    # The first converged study's early stopping: patience 3,
    # at least 8 epochs, against the sweep's patience 4 from the start.
    'cpu_p3': dict(_CPU, patience=3, min_epochs=8),
    # The preset as it is (patience 4, at least 8 epochs), and with a
    # longer patience: does patience 4 stop a noisy curve before its best?
    'cpu_p4': dict(_CPU, patience=4, min_epochs=8),
    'cpu_p8': dict(_CPU, patience=8, min_epochs=8),
})
_MODEL_KEYS = ('embed_dim', 'channels', 'hidden', 'dropout_rate', 'conv')


def candidate_config(name: str):
  config = config_lib.get_config()
  config.model.conv = 'xla'
  config.train.seed_chunk = 1
  config.lottery.seeds = 1
  for key, value in CANDIDATES[name].items():
    if key == 'embed_init':
      continue  # Not a config value: `train_one` draws it.
    section = config.model if key in _MODEL_KEYS else config.train
    setattr(section, key, value)
  return config


def embedding_init(how, train: Dict[str, np.ndarray], shape,
                   seed: int) -> np.ndarray:
  """An [vocab, dim] embedding drawn as `how` says (see CANDIDATES)."""
  vocab, dim = shape
  if how != 'svd':
    _, std = how
    return np.random.default_rng(seed).normal(0.0, std, shape).astype(
        np.float32)
  rows = np.repeat(np.arange(len(train['tokens'])), train['tokens'].shape[1])
  pieces = train['tokens'].reshape(-1)
  keep = pieces != vocab_lib.PAD_ID
  counts = sparse.csr_matrix(
      (np.ones(keep.sum()), (rows[keep], pieces[keep])),
      shape=(len(train['tokens']), vocab))
  tfidf = feature_extraction.text.TfidfTransformer(sublinear_tf=True)
  svd = decomposition.TruncatedSVD(dim, random_state=seed)
  svd.fit(tfidf.fit_transform(counts))
  embedding = svd.components_.T  # [vocab, dim]
  return (embedding / embedding.std()).astype(np.float32)


def train_one(name: str, domain: str, data_workdir: str) -> Dict[str, Any]:
  settings = config_lib.settings(candidate_config(name))
  program = runs.fit_program(settings)
  splits = runs.load_splits(settings, data_workdir, domain)
  model = program.model
  roots = lottery.seed_roots([_SEED.value])
  theta_0 = lottery.theta0(model, roots, settings.fit.max_length)
  how = CANDIDATES[name].get('embed_init')
  if how is not None:
    theta_0 = dict(theta_0, embedding=embedding_init(  # [1, vocab, dim]
        how, splits['train'], theta_0['embedding'].shape[1:],
        _SEED.value)[None])
  masks = lottery.dense_masks(lottery.mask_template(
      model, settings.fit.max_length), 1)
  curve, times = [], []

  def on_epoch(epoch, metrics):
    times.append(time.time())
    curve.append(dict(epoch=epoch + 1,
                      loss=float(metrics['loss'][0]),
                      train_accuracy=float(metrics['accuracy'][0]),
                      valid_accuracy=float(metrics['valid_accuracy'][0])))

  start = time.time()
  keys = (lottery.training_keys(roots, lottery.FULL_MODEL, 0, domain, domain)
          if _STUDY_KEYS.value else
          lottery.training_keys(roots, lottery.FULL_MODEL, 0))
  result = program.fit(theta_0, masks, keys,
                       splits['train'], splits['valid'], splits['test'],
                       on_epoch=on_epoch)
  test = float(np.asarray(result.test_accuracy)[0])
  seconds = time.time() - start
  # The first epoch compiles; the mean of the others is the cost per epoch.
  epoch_s = float(np.mean(np.diff(times))) if len(times) > 2 else seconds
  return dict(candidate=name, domain=domain, settings=CANDIDATES[name],
              seed=_SEED.value, study_keys=_STUDY_KEYS.value,
              threads=os.environ.get('XLA_FLAGS', ''),
              best_epoch=int(result.best_epoch_index[0]) + 1,
              epochs_run=int(result.epochs_run[0]),
              valid_accuracy=float(result.valid_accuracy[0]),
              test_accuracy=test, seconds=round(seconds, 1),
              seconds_per_epoch=round(epoch_s, 2), curve=curve,
              device=jax.devices()[0].device_kind)


def read_rows(path: str):
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def table(rows) -> str:
  """One line per candidate: test accuracy per domain (the mean over the
  seeds run), the seeds, best epoch / epochs run, seconds per epoch (mean
  over domains) and per training."""
  domains = list(dict.fromkeys(r['domain'] for r in rows))
  lines = ['| candidate | ' + ' | '.join(domains)
           + ' | seeds | best / run epochs | s per epoch | s per training |',
           '|---' * (len(domains) + 5) + '|']
  for name in dict.fromkeys(r['candidate'] for r in rows):
    got = [r for r in rows if r['candidate'] == name]
    cells = []
    for d in domains:
      acc = [r['test_accuracy'] for r in got if r['domain'] == d]
      cells.append(f'{np.mean(acc):.3f}' if acc else '')
    seeds = sorted({r['seed'] for r in got})
    lines.append(
        f'| {name} | ' + ' | '.join(cells)
        + f" | {','.join(map(str, seeds))}"
        f" | {np.mean([r['best_epoch'] for r in got]):.1f} / "
        f"{np.mean([r['epochs_run'] for r in got]):.1f}"
        f" | {np.mean([r['seconds_per_epoch'] for r in got]):.2f}"
        f" | {np.mean([r['seconds'] for r in got]):.0f} |")
  return '\n'.join(lines)


def replay(curve, patience: int, min_epochs: int):
  """(best epoch, epochs run, best validation accuracy) of the rule of
  `fit.select_best` on a validation curve: the curve of a run that stopped
  later, so the rule's stop lies within it."""
  best, best_accuracy = -1, -1.0
  for epoch, accuracy in enumerate(curve):
    if accuracy > best_accuracy:
      best, best_accuracy = epoch, accuracy
    if epoch - best >= patience and epoch + 1 >= min_epochs:
      return best + 1, epoch + 1, best_accuracy
  return best + 1, len(curve), best_accuracy


def replay_table(rows, patience: int, min_epochs: int) -> str:
  """Per recorded row: its best epoch, epochs run and best validation
  accuracy against the replayed rule's; the rule's test accuracy is known
  only where it keeps the same best epoch."""
  lines = [f'| candidate | domain | seed | recorded best / run | valid | '
           f'patience {patience}, min {min_epochs}: best / run | valid | '
           'same best epoch |', '|---|---|---|---|---|---|---|---|']
  for r in rows:
    best, run, accuracy = replay(
        [c['valid_accuracy'] for c in r['curve']], patience, min_epochs)
    lines.append(
        f"| {r['candidate']} | {r['domain']} | {r['seed']} | "
        f"{r['best_epoch']} / {r['epochs_run']} | {r['valid_accuracy']:.3f} "
        f"| {best} / {run} | {accuracy:.3f} | "
        f"{'yes' if best == r['best_epoch'] else 'no'} |")
  return '\n'.join(lines)


def main(argv):
  del argv
  if _TABLE.value:
    print(table(read_rows(_OUT.value)))
    return
  if _REPLAY.value:
    patience, min_epochs = map(int, _REPLAY.value)
    print(replay_table([r for r in read_rows(_OUT.value)
                        if r['candidate'] in _CANDIDATES.value],
                       patience, min_epochs))
    return
  settings = config_lib.settings(candidate_config(_CANDIDATES.value[0]))
  data_workdir = runs.prepare_data(settings.data, _DATA_DIR.value,
                                   _WORKDIR.value)
  done = {(r['candidate'], r['domain'], r['seed'], r.get('study_keys', False))
          for r in read_rows(_OUT.value)}
  for name in _CANDIDATES.value:
    for domain in _DOMAINS.value:
      if (name, domain, _SEED.value, _STUDY_KEYS.value) in done:
        continue
      row = train_one(name, domain, data_workdir)
      with open(_OUT.value, 'a') as f:
        f.write(json.dumps(row) + '\n')
      print(f"{name} {domain}: test {row['test_accuracy']:.3f} best epoch "
            f"{row['best_epoch']}/{row['epochs_run']} "
            f"{row['seconds_per_epoch']:.2f} s/epoch", flush=True)


if __name__ == '__main__':
  app.run(main)
