"""The five review domains: where their files are, deduplication, splits.

This module owns the domain registry (`DOMAINS`, the file `LAYOUTS` of a data
directory), the deduplication key and the balanced split; `download` and
`dataset` take domain names and file locations from here.

The split of a domain is a pure function of its records and a data seed
(SPEC.md section 1): records are first put in an order that depends only on
their text, so neither the order of files nor the training seed changes it.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import hashlib
import os
import re
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from lottery_jax import config as config_lib
from lottery_jax.data import input_pipeline

DOMAINS = config_lib.DOMAINS
SPLITS = ('train', 'valid', 'test')

# The folder of the data directory that `download.download_all` fills.
MCAULEY_DIR = 'mcauley'

# File patterns per domain, relative to the data directory. `shared` is the
# table of ../shared/data/amazon_reviews/README.md; `mcauley` is what
# `experiments.download_mcauley` writes (`download.output_path`).
LAYOUTS: Dict[str, Dict[str, Tuple[str, ...]]] = {
    'shared': {
        'books': ('blitzer/books/*.review', 'webis_cls10/books/*.review',
                  'fdu_mtl/books.task.*'),
        'electronics': ('blitzer/electronics/*.review',
                        'fdu_mtl/electronics.task.*'),
        'movies': ('blitzer/dvd/*.review', 'webis_cls10/dvd/*.review',
                   'fdu_mtl/dvd.task.*', 'fdu_mtl/video.task.*'),
        'cds': ('webis_cls10/music/*.review', 'fdu_mtl/music.task.*'),
        'home': ('blitzer/kitchen_&_housewares/*.review',
                 'fdu_mtl/kitchen_housewares.task.*'),
    },
    'mcauley': {d: (f'{MCAULEY_DIR}/{d}.jsonl.gz',) for d in DOMAINS},
}

DEDUP_KEY_CHARS = 150
_NOT_ALNUM = re.compile(r'[^a-z0-9]+')


class DataError(ValueError):
  """A user error in the data or its settings; the message names the
  domain, file or config flag to fix."""


def dedup_key(text: str) -> str:
  """The first 150 lowercase letters and digits of a review's text.

  Reviews that differ only in case, punctuation, spacing or tokenisation
  (``don't`` vs ``do n't``) get the same key.
  """
  return _NOT_ALNUM.sub('', text.lower())[:DEDUP_KEY_CHARS]


def domain_files(domain: str, data_dir: str, layout: str = 'shared',
                 patterns: Optional[Sequence[str]] = None) -> List[str]:
  """The files of a domain, sorted.

  Args:
    domain: a domain name (free when `patterns` is given).
    data_dir: the directory that relative patterns are resolved against.
    layout: a key of LAYOUTS.
    patterns: glob patterns that replace the layout's (a user's own files,
      for example McAuley's ``Books.json.gz``).

  Raises:
    DataError: an unknown domain or layout, or a pattern matching no file.
  """
  if not patterns:
    if layout not in LAYOUTS:
      raise DataError(f'unknown data layout {layout!r} '
                      f'(--config.data.layout); known: {", ".join(LAYOUTS)}')
    if domain not in LAYOUTS[layout]:
      raise DataError(f'unknown domain {domain!r} (--config.data.domains); '
                      f'known: {", ".join(LAYOUTS[layout])}')
    patterns = LAYOUTS[layout][domain]
  files = []
  for pattern in patterns:
    pattern = os.path.expanduser(pattern)
    full = os.path.join(data_dir, pattern)  # `pattern` if it is absolute.
    # root_dir keeps glob characters in data_dir from being expanded.
    matched = sorted(os.path.join(data_dir, p)
                     for p in glob.glob(pattern, root_dir=data_dir))
    if not matched:
      raise DataError(f'domain {domain!r}: no file matches {full!r} '
                      '(set --data_dir, or --config.data.files.'
                      f'{domain} to your own files)')
    files.extend(matched)
  return files


@dataclasses.dataclass
class DomainReport:
  """What reading a domain found; all counts are of records."""
  files: List[str]
  records_read: int = 0
  duplicates_removed: int = 0
  neutral_dropped: int = 0
  skipped: Dict[str, int] = dataclasses.field(default_factory=dict)
  available: Dict[str, int] = dataclasses.field(default_factory=dict)


def read_domain(files: Sequence[str], max_per_class: int = 0
                ) -> Tuple[List[input_pipeline.Review], DomainReport]:
  """Reads, deduplicates and drops 3-star reviews across a domain's files.

  Args:
    files: review files in any supported format.
    max_per_class: stop reading once this many unique reviews of each class
      are in hand (0: read everything). For multi-gigabyte McAuley files.

  Returns:
    The unique labelled reviews (first occurrence kept) and a report.
  """
  report = DomainReport(files=list(files))
  skipped = collections.Counter()
  seen = set()
  per_class = collections.Counter()
  records = []
  for path in files:
    for review in input_pipeline.read_reviews(path, skipped):
      report.records_read += 1
      if review.label is None:
        report.neutral_dropped += 1
        continue
      key = dedup_key(review.text)
      if key in seen:
        report.duplicates_removed += 1
        continue
      seen.add(key)
      if max_per_class and per_class[review.label] >= max_per_class:
        continue
      per_class[review.label] += 1
      records.append(review)
      if max_per_class and min(per_class[0], per_class[1]) >= max_per_class:
        break
    else:
      continue
    break
  report.skipped = dict(sorted(skipped.items()))
  report.available = {'negative': per_class[0], 'positive': per_class[1]}
  return records, report


def split_sizes(n_per_class: int, sizes: Mapping[str, int],
                domain: str) -> Dict[str, int]:
  """Examples per class in each split.

  Args:
    n_per_class: unique reviews of the rarer class.
    sizes: total examples per split (both classes); 0 or missing takes the
      largest balanced 2:1:1 split the data allows.
    domain: named in errors.

  Raises:
    DataError: an odd size, or more examples than the domain has.
  """
  if not any(sizes.get(s, 0) for s in SPLITS):
    unit = n_per_class // 4
    if unit == 0:
      raise DataError(f'domain {domain!r}: only {n_per_class} reviews of its '
                      'rarer class, too few for a 2:1:1 split')
    return {'train': 2 * unit, 'valid': unit, 'test': unit}
  per_class = {}
  for split in SPLITS:
    size = sizes.get(split, 0)
    if size <= 0 or size % 2:
      raise DataError(f'domain {domain!r}: --config.data.{split}_size={size} '
                      'must be a positive even number (balanced classes), '
                      'or set all three sizes to 0 for the largest split')
    per_class[split] = size // 2
  if sum(per_class.values()) > n_per_class:
    raise DataError(
        f'domain {domain!r}: the split sizes ask for '
        f'{sum(per_class.values())} reviews per class but the data has '
        f'{n_per_class}; lower --config.data.train_size/valid_size/test_size '
        'or set them to 0 for the largest split the data allows')
  return per_class


def _content_order(reviews: Iterable[input_pipeline.Review]):
  """Reviews sorted by a hash of their text: an order that files don't set."""
  return sorted(reviews, key=lambda r: hashlib.sha1(
      r.text.encode('utf-8')).digest())


def balanced_split(records: Sequence[input_pipeline.Review], data_seed: int,
                   sizes: Optional[Mapping[str, int]] = None,
                   domain: str = '?') -> Dict[str, List[input_pipeline.Review]]:
  """The balanced train/valid/test split of a domain's unique reviews.

  A pure function of the set of records, the seed and the sizes: shuffling the
  input or changing the training seed gives the same split.

  Args:
    records: unique reviews, each with label 0 or 1.
    data_seed: seeds the shuffle.
    sizes: total examples per split; see `split_sizes`.
    domain: named in errors.

  Returns:
    {'train': [...], 'valid': [...], 'test': [...]}, each with equally many
    reviews of each class, in shuffled order.
  """
  rng = np.random.default_rng(data_seed)
  by_class = [_content_order(r for r in records if r.label == c)
              for c in (0, 1)]
  per_class = split_sizes(min(map(len, by_class)), sizes or {}, domain)
  for c in (0, 1):
    order = rng.permutation(len(by_class[c]))
    by_class[c] = [by_class[c][i] for i in order]
  splits = {}
  start = 0
  for split in SPLITS:
    stop = start + per_class[split]
    chosen = by_class[0][start:stop] + by_class[1][start:stop]
    splits[split] = [chosen[i] for i in rng.permutation(len(chosen))]
    start = stop
  return splits
