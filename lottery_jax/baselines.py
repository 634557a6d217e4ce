"""A TF-IDF logistic-regression baseline: what the prepared data supports.

A reference for the CNN's accuracies: a bag of unigrams and bigrams with a
linear classifier, fitted on the same prepared splits that training reads
(``<data_workdir>/splits/<domain>.json.gz``, written by `data.dataset`).

  `read_split_texts`  a domain's texts and labels, per split
  `linear_baseline`   fits one domain: C chosen by validation accuracy, the
                      test split scored once with it
  `all_baselines`     every domain, cached in ``<data_workdir>/baselines.json``
                      under a key of the split file's bytes and the settings
  `baseline_table`    a markdown table, beside the CNN's full-model accuracy

The features: `TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True,
min_df=2)` fitted on the training texts only, lowercased as the data settings
say (``data_report.json``; lowercased when it is absent). The classifier:
L2 `LogisticRegression(solver='liblinear', random_state=0)`, deterministic.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import time
import zlib
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from lottery_jax.data import domains as domains_lib
from lottery_jax.files import read_json
from lottery_jax.files import write_json

# The inverse regularisation strengths tried, ascending; ties in validation
# accuracy go to the smallest C (the strongest regularisation).
GRID = (0.25, 1.0, 4.0, 16.0, 64.0)
CACHE_FILE = 'baselines.json'
# Bump when a change of code changes the results.
_VERSION = 1
_VECTORIZER = {'ngram_range': (1, 2), 'sublinear_tf': True, 'min_df': 2}

# split -> (texts, labels as int32).
Splits = Dict[str, Tuple[List[str], np.ndarray]]


def _texts_path(data_workdir: str, domain: str) -> str:
  return os.path.join(data_workdir, 'splits', f'{domain}.json.gz')


def read_split_texts(data_workdir: str, domain: str) -> Splits:
  """A domain's prepared review texts and labels, per split.

  Args:
    data_workdir: the directory `data.dataset.prepare` wrote.
    domain: a domain name.

  Returns:
    {split: (texts, labels)} for 'train', 'valid' and 'test'; texts as
    stored (not lowercased), labels int32 (0 negative, 1 positive).

  Raises:
    DataError: the domain's split file is missing, cut short or corrupt.
  """
  path = _texts_path(data_workdir, domain)
  if not os.path.exists(path):
    raise domains_lib.DataError(
        f'{path}: no prepared splits for domain {domain!r}; run '
        f'`python -m experiments.prepare_data --workdir={data_workdir}` first')
  rows = {s: [] for s in domains_lib.SPLITS}
  try:
    with gzip.open(path, 'rt', encoding='utf-8') as f:
      for line in f:
        row = json.loads(line)
        rows[row['split']].append((row['text'], int(row['label'])))
  except (EOFError, OSError, zlib.error, ValueError, KeyError, TypeError) as e:
    raise domains_lib.DataError(
        f'{path}: cut short or corrupt ({type(e).__name__})') from e
  return {s: ([t for t, _ in r], np.asarray([l for _, l in r], np.int32))
          for s, r in rows.items()}


def _lowercase(data_workdir: str) -> bool:
  """Whether the data settings lowercase the texts (default: yes)."""
  path = os.path.join(data_workdir, 'data_report.json')
  if not os.path.exists(path):
    return True
  return bool(read_json(path).get('vocab', {}).get('lowercase', True))


def _check_grid(grid: Sequence[float]) -> Tuple[float, ...]:
  grid = tuple(float(c) for c in grid)
  if not grid or min(grid) <= 0:
    raise ValueError(f'grid {grid}: needs at least one C, every C > 0')
  return grid


def _classifier(c: float) -> LogisticRegression:
  return LogisticRegression(C=c, solver='liblinear', max_iter=1000,
                            random_state=0)


def _accuracy(model: LogisticRegression, x, y: np.ndarray) -> float:
  return float(np.mean(model.predict(x) == y))


def linear_baseline(data_workdir: str, domain: str, *,
                    grid: Sequence[float] = GRID,
                    lowercase: Optional[bool] = None) -> Dict[str, Any]:
  """Fits and scores the TF-IDF logistic regression of one domain.

  Every C of `grid` is fitted on the training split and scored on the
  validation split; the best (the smallest C of a tie) is scored once on the
  test split.

  Args:
    data_workdir: the directory `data.dataset.prepare` wrote.
    domain: a domain name.
    grid: the values of C to try.
    lowercase: lowercase the texts (default: as the data settings say).

  Returns:
    {'valid_accuracy', 'test_accuracy', 'C', 'train_size', 'features',
     'seconds', 'valid_by_C': {f'{C:g}': valid accuracy}}.

  Raises:
    DataError: the domain's splits cannot be read.
    ValueError: an empty grid or a C <= 0.
  """
  grid = _check_grid(grid)
  if lowercase is None:
    lowercase = _lowercase(data_workdir)
  start = time.time()
  splits = read_split_texts(data_workdir, domain)
  (train, y_train), (valid, y_valid), (test, y_test) = (
      splits[s] for s in domains_lib.SPLITS)
  vectorizer = TfidfVectorizer(lowercase=lowercase, **_VECTORIZER)
  x_train = vectorizer.fit_transform(train)
  x_valid = vectorizer.transform(valid)
  models, valid_by_c = {}, {}
  for c in grid:
    models[c] = _classifier(c).fit(x_train, y_train)
    valid_by_c[c] = _accuracy(models[c], x_valid, y_valid)
  best = max(grid, key=lambda c: (valid_by_c[c], -c))
  test_accuracy = _accuracy(models[best], vectorizer.transform(test), y_test)
  return {
      'valid_accuracy': valid_by_c[best],
      'test_accuracy': test_accuracy,
      'C': best,
      'train_size': len(train),
      'features': len(vectorizer.vocabulary_),
      'seconds': round(time.time() - start, 3),
      'valid_by_C': {f'{c:g}': a for c, a in valid_by_c.items()},
  }


def _key(data_workdir: str, domain: str, grid: Tuple[float, ...],
         lowercase: bool) -> str:
  """A hash of what a domain's baseline depends on."""
  digest = hashlib.sha256()
  with open(_texts_path(data_workdir, domain), 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  settings = {'version': _VERSION, 'splits': digest.hexdigest(),
              'grid': list(grid), 'lowercase': lowercase,
              'vectorizer': {k: list(v) if isinstance(v, tuple) else v
                             for k, v in _VECTORIZER.items()}}
  return hashlib.sha256(json.dumps(settings, sort_keys=True).encode(
      'utf-8')).hexdigest()[:16]


def all_baselines(data_workdir: str, domains: Sequence[str], *,
                  grid: Sequence[float] = GRID) -> Dict[str, Dict[str, Any]]:
  """`linear_baseline` of every domain, cached.

  The cache, ``<data_workdir>/baselines.json``, holds {domain: {'key',
  'result'}}; a domain is refitted only when its key (a hash of its split
  file's bytes, the grid, the lowercasing and the features) changed. Entries
  of other domains are kept.

  Args:
    data_workdir: the directory `data.dataset.prepare` wrote.
    domains: the domain names.
    grid: the values of C to try.

  Returns:
    {domain: its `linear_baseline` result}, in the order of `domains`.
  """
  grid = _check_grid(grid)
  lowercase = _lowercase(data_workdir)
  path = os.path.join(data_workdir, CACHE_FILE)
  cache = read_json(path) if os.path.exists(path) else {}
  results, changed = {}, False
  for domain in domains:
    if not os.path.exists(_texts_path(data_workdir, domain)):
      read_split_texts(data_workdir, domain)  # Raises the DataError.
    key = _key(data_workdir, domain, grid, lowercase)
    entry = cache.get(domain)
    if not entry or entry.get('key') != key:
      entry = {'key': key, 'result': linear_baseline(
          data_workdir, domain, grid=grid, lowercase=lowercase)}
      cache[domain] = entry
      changed = True
    results[domain] = entry['result']
  if changed:
    write_json(path, cache)
  return results


def _gap(full: Optional[Tuple[float, float]],
         linear: float) -> Tuple[str, str]:
  """The CNN's cell and its gap to the linear baseline, in points."""
  if full is None:
    return '-', '-'
  mean, std = full
  return f'{mean:.3f} +- {std:.3f}', f'{100 * (mean - linear):+.1f}'


def baseline_table(baselines: Mapping[str, Mapping[str, Any]],
                   full_model: Optional[Mapping[str, Tuple[float, float]]]
                   = None) -> str:
  """A markdown table of the linear baselines, one row per domain.

  Args:
    baselines: {domain: `linear_baseline` result}, e.g. of `all_baselines`.
    full_model: {domain: (mean, std)} of the CNN's FULL-MODEL test accuracy
      over seeds; with it, that column and the gap (CNN minus linear, in
      percentage points) are added ('-' for a domain it lacks).

  Returns:
    The table, lines joined by newlines.
  """
  head = '| domain | linear test accuracy | C |'
  rule = '|---|---|---|'
  if full_model is not None:
    head += ' CNN full model | gap (points) |'
    rule += '---|---|'
  lines = [head, rule]
  for domain, result in baselines.items():
    line = (f'| {domain} | {result["test_accuracy"]:.3f} | '
            f'{result["C"]:g} |')
    if full_model is not None:
      cnn, gap = _gap(full_model.get(domain), result['test_accuracy'])
      line += f' {cnn} | {gap} |'
    lines.append(line)
  return '\n'.join(lines)
