"""Prepared data: balanced splits of every domain, encoded with one vocabulary.

This module owns the work directory that `experiments.prepare_data` writes
and that training reads: `prepare` builds it, `load_split` reads it. The
review formats, domains and splitting rules it applies live in
`input_pipeline` and `domains`; the vocabulary in `vocab`.

`prepare` runs three stages:

  `_domain_stage`  per domain: reads, deduplicates and splits the reviews
  `_vocab_stage`   trains the shared SentencePiece vocabulary on the
                   concatenated training splits
  `_encode_stage`  per domain: encodes the three splits with it

and writes, under a work directory::

  spm.model                      the shared vocabulary
  splits/<domain>.json.gz        the split's texts and labels (for inspection)
  data/<domain>/<split>.npz      the encoded split (format below)
  data_report.json               counts per domain and split
  prepare_manifest.json          the cache keys of what is there

Encoded split format (`numpy.savez`, loads with ``allow_pickle=False``):

  ids           int32 [sum(length)]  ids of all reviews, concatenated, each
                                     truncated to `max_length`, no bos/eos
  length        int32 [n]            ids kept per review (<= max_length)
  full_length   int32 [n]            ids per review before truncation
  label         int32 [n]            0 negative, 1 positive
  unigram_counts int64 [vocab]       count of every id before truncation

`load_split` turns it into the padded ``{'tokens', 'length', 'label'}`` dict
that the models take. What data_report.json holds, and the table of it that
`experiments.prepare_data` prints, are `data_report`'s.

Every stage is keyed by a hash of its inputs (file paths, sizes and
modification times; the settings; the keys of the stages before it) and
reused when the key is unchanged, so a second run finishes in seconds. The
manifest is written after each stage, and every file under a temporary name
that is then renamed, so an interrupted run leaves nothing half-written and
keeps the stages it finished.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import json
import os
import shutil
import time
import zlib
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from absl import logging
import numpy as np

from lottery_jax import batching
from lottery_jax import config as config_lib
from lottery_jax.data import data_report
from lottery_jax.data import domains as domains_lib
from lottery_jax.data import vocab as vocab_lib
from lottery_jax.files import atomic_write
from lottery_jax.files import read_json
from lottery_jax.files import write_json

# Bump when a change of code changes what a stage writes.
_FORMAT_VERSION = 2
ENV_DATA_DIR = 'LOTTERY_JAX_DATA_DIR'


def resolve_data_dir(data_dir: Optional[str]) -> str:
  """`data_dir`, else $LOTTERY_JAX_DATA_DIR; raises DataError if neither."""
  data_dir = data_dir or os.environ.get(ENV_DATA_DIR, '')
  if not data_dir:
    raise domains_lib.DataError(
        f'no data directory: pass --data_dir or set ${ENV_DATA_DIR}')
  if not os.path.isdir(data_dir):
    raise domains_lib.DataError(f'--data_dir {data_dir!r} is not a directory')
  return data_dir


# ---------------------------------------------------------------------------
# Files.


def _hash(obj: Any) -> str:
  return hashlib.sha256(
      json.dumps(obj, sort_keys=True).encode('utf-8')).hexdigest()[:16]


def _display_path(path: str, root: str) -> str:
  """`path` relative to `root` when it lies under it, else absolute."""
  path, root = os.path.abspath(path), os.path.abspath(root)
  return os.path.relpath(path, root) if path.startswith(root + os.sep) else path


def _file_fingerprint(path: str) -> List[Any]:
  stat = os.stat(path)
  return [os.path.abspath(path), stat.st_size, stat.st_mtime_ns]


def split_path(workdir: str, domain: str, split: str) -> str:
  return os.path.join(workdir, 'data', domain, f'{split}.npz')


def _texts_path(workdir: str, domain: str) -> str:
  return os.path.join(workdir, 'splits', f'{domain}.json.gz')


def load_split_arrays(workdir: str, domain: str,
                      split: str) -> Dict[str, np.ndarray]:
  """The arrays of an encoded split as stored (see the module docstring)."""
  path = split_path(workdir, domain, split)
  if not os.path.exists(path):
    raise domains_lib.DataError(
        f'{path}: no prepared split for domain {domain!r}; run '
        f'`python -m experiments.prepare_data --workdir={workdir}` first')
  with np.load(path, allow_pickle=False) as data:
    return {k: data[k] for k in data.files}


def load_split(workdir: str, domain: str, split: str,
               max_length: Optional[int] = None) -> Dict[str, np.ndarray]:
  """A prepared split as padded arrays.

  Args:
    workdir: the directory `prepare` wrote.
    domain: a domain name.
    split: 'train', 'valid' or 'test'.
    max_length: the padded length (default: the longest stored review).

  Returns:
    {'tokens': int32 [n, max_length], 'length': int32 [n],
     'label': int32 [n]}.
  """
  data = load_split_arrays(workdir, domain, split)
  if max_length is None:
    max_length = int(data['length'].max(initial=1))
  tokens = batching.pad_batch(data['ids'], data['length'], max_length)
  return {'tokens': tokens,
          'length': np.minimum(data['length'], max_length).astype(np.int32),
          'label': data['label'].astype(np.int32)}


# ---------------------------------------------------------------------------
# Stages. Each reads the manifest, rebuilds only what its key says is stale and
# writes the manifest at once, so an interrupted run keeps the stages done.


def _spm_path(workdir: str) -> str:
  return os.path.join(workdir, 'spm.model')


def _manifest_path(workdir: str) -> str:
  return os.path.join(workdir, 'prepare_manifest.json')


def _read_manifest(workdir: str) -> dict:
  path = _manifest_path(workdir)
  return read_json(path) if os.path.exists(path) else {}


def _write_manifest(workdir: str, manifest: dict) -> None:
  write_json(_manifest_path(workdir), manifest)


def _files(domain: str, data_dir: str, settings) -> List[str]:
  patterns = [p.strip() for p in settings.files.get(domain, '').split(',')
              if p.strip()]
  return domains_lib.domain_files(domain, data_dir, settings.layout, patterns)


def _domain_stage(domain: str, files: List[str], data_dir: str, settings,
                  manifest: dict, workdir: str) -> Dict[str, Any]:
  """Reads and splits one domain, or reuses its cached split.

  Returns:
    The domain's manifest entry: {'key', 'report', 'seconds'}.
  """
  key = _hash({
      'version': _FORMAT_VERSION,
      'files': [_file_fingerprint(f) for f in files],
      'seed': settings.data_seed,
      'sizes': [settings.train_size, settings.valid_size, settings.test_size],
      'max_per_class': settings.max_per_class,
  })
  path = _texts_path(workdir, domain)
  cached = manifest.get('domains', {}).get(domain)
  if cached and cached['key'] == key and os.path.exists(path):
    return cached
  start = time.time()
  records, report = domains_lib.read_domain(files, settings.max_per_class)
  sizes = {'train': settings.train_size, 'valid': settings.valid_size,
           'test': settings.test_size}
  splits = domains_lib.balanced_split(records, settings.data_seed, sizes,
                                      domain)
  # No mtime and no (temporary) file name in the gzip header: the same
  # split gives the same bytes.
  with atomic_write(path) as raw, gzip.GzipFile(fileobj=raw, mode='wb',
                                                filename='', mtime=0) as f:
    for split in domains_lib.SPLITS:
      for r in splits[split]:
        f.write(json.dumps({'split': split, 'label': r.label,
                            'text': r.text}).encode('utf-8') + b'\n')
  entry = {
      'key': key,
      'report': {
          'files': [_display_path(f, data_dir) for f in files],
          'records_read': report.records_read,
          'duplicates_removed': report.duplicates_removed,
          'neutral_dropped': report.neutral_dropped,
          'skipped': report.skipped,
          'unique_per_class': report.available,
      },
      'seconds': round(time.time() - start, 3),
  }
  logging.info('%s: %d records read, %d duplicates, %d neutral, skipped %s',
               domain, report.records_read, report.duplicates_removed,
               report.neutral_dropped, report.skipped)
  return entry


# texts(domain) -> the split texts of a domain, {split: [row]}.
_Texts = Callable[[str], Dict[str, List[dict]]]


def _read_texts(workdir: str, domain: str) -> Dict[str, List[dict]]:
  path = _texts_path(workdir, domain)
  splits = {s: [] for s in domains_lib.SPLITS}
  try:
    with gzip.open(path, 'rt', encoding='utf-8') as f:
      for line in f:
        row = json.loads(line)
        splits[row['split']].append(row)
  except (EOFError, OSError, zlib.error, ValueError, KeyError, TypeError) as e:
    raise domains_lib.DataError(
        f'{path}: cut short or corrupt ({type(e).__name__})') from e
  return splits


def _texts_reader(workdir: str, rebuild: Callable[[str], Any]) -> _Texts:
  """`_read_texts`, once per domain and run; a file that does not read back
  (cut from outside: all are written atomically) is rebuilt by
  `rebuild(domain)` as it was (a function of the key) after a warning."""

  @functools.lru_cache(maxsize=None)
  def texts(domain: str) -> Dict[str, List[dict]]:
    try:
      return _read_texts(workdir, domain)
    except domains_lib.DataError as e:
      logging.warning('%s; rebuilding it', e)
    os.remove(_texts_path(workdir, domain))
    rebuild(domain)
    return _read_texts(workdir, domain)

  return texts


def _normalise(text: str, settings) -> str:
  return text.lower() if settings.lowercase else text


def _vocab_stage(names: Sequence[str], entries: Dict[str, Any], settings,
                 manifest: dict, workdir: str, texts: _Texts) -> str:
  """Trains the shared vocabulary on the training splits, or reuses it.

  Args:
    names: the domains of this run.
    entries: {domain: its `_domain_stage` entry}.
    settings: the data settings.
    manifest: read and updated ('vocab_key'; 'encoded' is dropped on a
      retrain, as every encoding used the old vocabulary).
    workdir: where spm.model is.
    texts: the split texts of a domain.

  Returns:
    The vocabulary's key.
  """
  vocab_key = _hash({
      'version': _FORMAT_VERSION,
      'domains': {d: entries[d]['key'] for d in names},
      'lowercase': settings.lowercase, 'vocab_size': settings.vocab_size,
      'character_coverage': settings.character_coverage,
      'model_type': settings.model_type,
  })
  spm_path = _spm_path(workdir)
  if manifest.get('vocab_key') == vocab_key and os.path.exists(spm_path):
    return vocab_key
  train_texts = [_normalise(row['text'], settings)
                 for d in names for row in texts(d)['train']]
  vocab_lib.train_vocab(train_texts, spm_path, settings.vocab_size,
                        settings.character_coverage, settings.model_type)
  manifest['vocab_key'] = vocab_key
  manifest.pop('encoded', None)
  # Splits of domains outside this run were encoded with the old
  # vocabulary: remove them rather than leave them to be loaded.
  shutil.rmtree(os.path.join(workdir, 'data'), ignore_errors=True)
  _write_manifest(workdir, manifest)
  return vocab_key


def _encode_split(sp, rows: List[dict], settings, path: str
                  ) -> Dict[str, Any]:
  """Encodes one split's rows to `path`; returns its manifest stats."""
  ids, length, full_length, counts = vocab_lib.encode(
      sp, [_normalise(r['text'], settings) for r in rows], settings.max_length)
  label = np.asarray([r['label'] for r in rows], np.int32)
  with atomic_write(path) as f:
    np.savez(f, ids=ids, length=length, full_length=full_length,
             label=label, unigram_counts=counts)
  return {
      'examples': int(len(label)),
      'negative': int((label == 0).sum()),
      'positive': int((label == 1).sum()),
      'tokens': int(length.sum()),
      'truncated': int((full_length > settings.max_length).sum()),
      'length_percentiles': data_report.length_percentiles(full_length),
  }


def _encode_stage(domain: str, domain_key: str, vocab_key: str, sp, settings,
                  manifest: dict, workdir: str,
                  texts: _Texts) -> Dict[str, Any]:
  """Encodes one domain's three splits, or reuses them.

  Returns:
    {split: stats} of the domain (as in the manifest's 'encoded' entry).
  """
  key = _hash([vocab_key, domain_key, settings.max_length])
  encoded = manifest.setdefault('encoded', {})
  paths = [split_path(workdir, domain, s) for s in domains_lib.SPLITS]
  if encoded.get(domain, {}).get('key') == key and all(
      map(os.path.exists, paths)):
    return encoded[domain]['splits']
  stats = {split: _encode_split(sp, texts(domain)[split], settings, path)
           for split, path in zip(domains_lib.SPLITS, paths)}
  encoded[domain] = {'key': key, 'splits': stats}
  _write_manifest(workdir, manifest)
  return stats


@contextlib.contextmanager
def _timed(timings: Dict[str, float], stage: str) -> Iterator[None]:
  start = time.time()
  yield
  timings[stage] = time.time() - start


def prepare(data_dir: Optional[str], workdir: str,
            settings: Optional[config_lib.DataSettings] = None
            ) -> Dict[str, Any]:
  """Prepares every domain's encoded splits and the shared vocabulary.

  Args:
    data_dir: the review files' root (default: $LOTTERY_JAX_DATA_DIR).
    workdir: where outputs go; existing outputs with the same keys are reused.
    settings: the data settings (default: SPEC.md's).

  Returns:
    The data report (also written to ``workdir/data_report.json``).

  Raises:
    DataError, input_pipeline.ReviewFileError: bad data or settings; the
      message names the file, domain or flag.
  """
  settings = settings or config_lib.DataSettings()
  data_dir = resolve_data_dir(data_dir)
  names = list(settings.domains)
  os.makedirs(workdir, exist_ok=True)
  manifest = _read_manifest(workdir)
  files = {d: _files(d, data_dir, settings) for d in names}  # Fails early.
  # Texts are read only by the stages that must be rebuilt.
  texts = _texts_reader(workdir, lambda d: _domain_stage(
      d, files[d], data_dir, settings, manifest, workdir))
  timings = {}

  with _timed(timings, 'read_and_split'):
    entries = {d: _domain_stage(d, files[d], data_dir, settings, manifest,
                                workdir) for d in names}
    manifest['domains'] = {**manifest.get('domains', {}), **entries}
    _write_manifest(workdir, manifest)
  with _timed(timings, 'vocab'):
    vocab_key = _vocab_stage(names, entries, settings, manifest, workdir,
                             texts)
  with _timed(timings, 'encode'):
    sp = vocab_lib.load_vocab(_spm_path(workdir))
    splits = {d: _encode_stage(d, entries[d]['key'], vocab_key, sp, settings,
                               manifest, workdir, texts) for d in names}

  report = data_report.build_report(
      data_dir, settings, sp.get_piece_size(),
      {d: {**entries[d]['report'], 'splits': splits[d]} for d in names},
      timings)
  write_json(os.path.join(workdir, 'data_report.json'), report)
  return report

