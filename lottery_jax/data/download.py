"""Streaming downloader for McAuley Amazon review category files.

This module owns fetching: the McAuley URLs of each domain, the streaming
download and download_report.json. Which domains exist and where their files
go in a data directory is the registry's (`domains.DOMAINS` and
``domains.LAYOUTS['mcauley']``), so what `download_all` writes is what
``--config.data.layout=mcauley`` reads.

The category files are gigabytes, but the experiments need only a few
thousand reviews of each class per domain. `download_domain` therefore reads
the gzip stream straight from the HTTP response, keeps the raw JSON line of
each 1-2 star (negative) and 4-5 star (positive) review until it has
`per_class` of both, then closes the connection. 3-star reviews and records
that `input_pipeline.parse_json_line` cannot read are dropped and counted by
reason.

The kept lines are written gzip-compressed to a temporary file in the
destination folder and renamed into place at the end, so an interrupted or
failed download leaves nothing half-written behind. The output is an ordinary
McAuley JSON-lines file that `input_pipeline.read_reviews` reads. The
network side (user agent, gunzipping, byte counts, network errors as
`DownloadError`) is `http_lines`'s.

`download_all` does this for the five domains of the paper and writes
``{out_dir}/mcauley/{domain}.jsonl.gz`` plus ``download_report.json``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import gzip
import logging
import os
import time
from typing import (BinaryIO, Dict, Iterable, List, Optional, Sequence,
                    Tuple)

from lottery_jax import files
from lottery_jax.data import domains as domains_lib
from lottery_jax.data import http_lines
from lottery_jax.data import input_pipeline
from lottery_jax.data.http_lines import DownloadError

RELEASES = ('2023', '2018')

# The remote file name of each domain of `domains.DOMAINS`.
_FILE_STEMS = {
    'books': 'Books',
    'electronics': 'Electronics',
    'movies': 'Movies_and_TV',
    'cds': 'CDs_and_Vinyl',
    'home': 'Home_and_Kitchen',
}
_BASE_URLS = {
    '2023': ('https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_2023/'
             'raw/review_categories'),
    '2018': 'https://jmcauleylab.net/data/amazon_v2/categoryFiles',
}
_SUFFIXES = {'2023': '.jsonl.gz', '2018': '.json.gz'}

# MCAULEY_URLS[release][domain] -> URL of the full category file.
MCAULEY_URLS: Dict[str, Dict[str, str]] = {
    release: {
        domain: f'{_BASE_URLS[release]}/{_FILE_STEMS[domain]}'
                f'{_SUFFIXES[release]}'
        for domain in domains_lib.DOMAINS
    } for release in RELEASES
}

# Written beside the domain files, in the folder of the 'mcauley' layout.
REPORT_NAME = 'download_report.json'
# Skip reason for 3-star reviews, which have no binary label.
THREE_STAR = 'three_star'

DEFAULT_TIMEOUT = 60.0
_PROGRESS_EVERY = 1_000_000  # lines

_log = logging.getLogger(__name__)


def domain_url(domain: str, release: str = '2023',
               base_url: Optional[str] = None) -> str:
  """Returns the URL of one domain's category file.

  Args:
    domain: one of `domains.DOMAINS`.
    release: '2023' or '2018'.
    base_url: when set, replaces everything before the file name (a mirror,
      or a local server in tests).

  Raises:
    ValueError: unknown domain or release.
  """
  if release not in MCAULEY_URLS:
    raise ValueError(
        f'unknown release {release!r}; choose from {", ".join(RELEASES)}')
  if domain not in domains_lib.DOMAINS:
    raise ValueError(f'unknown domain {domain!r}; choose from '
                     f'{", ".join(domains_lib.DOMAINS)}')
  url = MCAULEY_URLS[release][domain]
  if base_url:
    url = base_url.rstrip('/') + '/' + url.rsplit('/', 1)[1]
  return url


def _count_existing(url: str, path: str, per_class: int) -> dict:
  """The report for an output that already exists and is reused."""
  skipped = collections.Counter()
  kept = [0, 0]
  try:
    for review in input_pipeline.read_reviews(path, skipped, fmt='json_lines'):
      if review.label is not None:
        kept[review.label] += 1
  except input_pipeline.ReviewFileError as e:
    raise DownloadError(
        f'{path} exists but cannot be read ({e}); download it again with '
        'overwrite=True (--overwrite)') from None
  complete = min(kept) >= per_class
  if not complete:
    _log.warning(
        '%s: reused, but it has %d negative and %d positive reviews (asked for '
        '%d each); pass overwrite=True (--overwrite) to download it again',
        path, kept[0], kept[1], per_class)
  return {
      'url': url,
      'path': path,
      'per_class': per_class,
      'reused': True,
      'kept': {'negative': kept[0], 'positive': kept[1]},
      'complete': complete,
  }


@dataclasses.dataclass
class _Tally:
  """What one download has read, kept and skipped so far."""
  kept: List[int] = dataclasses.field(default_factory=lambda: [0, 0])
  skipped: collections.Counter = dataclasses.field(
      default_factory=collections.Counter)
  lines_read: int = 0
  stopped_early: bool = False  # Enough of both labels before the end.


def _keep_balanced(lines: Iterable[bytes], out: BinaryIO, url: str,
                   per_class: int, tally: _Tally) -> None:
  """Copies to `out` the first `per_class` raw lines of each label.

  Reading `lines` stops as soon as both labels have `per_class` lines;
  `tally` counts what was read, kept and skipped.
  """
  kept, skipped = tally.kept, tally.skipped
  for line in lines:
    tally.lines_read += 1
    if tally.lines_read % _PROGRESS_EVERY == 0:
      _log.info('%s: %d lines read, kept %d negative and %d positive',
                url, tally.lines_read, kept[0], kept[1])
    if not line.strip():
      continue
    try:
      review = input_pipeline.parse_json_line(line)
    except input_pipeline.SkipRecord as s:
      skipped[s.reason] += 1
      continue
    if review.label is None:
      skipped[THREE_STAR] += 1
      continue
    if kept[review.label] >= per_class:
      continue  # This label is full; wait for the other one.
    out.write(line if line.endswith(b'\n') else line + b'\n')
    kept[review.label] += 1
    if min(kept) >= per_class:
      tally.stopped_early = True
      break


def _download_balanced(url: str, out_path: str, per_class: int,
                       timeout: float
                       ) -> Tuple[_Tally, http_lines.LineStream]:
  """Streams `url` into `out_path` (gzip) through `_keep_balanced`.

  Returns:
    The tally of the download, and the stream it read (for its byte counts
    and whether it was cut short).

  Raises:
    DownloadError: HTTP or network error, or no usable review; atomic_write
      then leaves nothing at `out_path`.
  """
  tally = _Tally()
  response = http_lines.open_url(url, timeout)
  # atomic_write: on any error, including the check below, nothing is left
  # at out_path.
  with contextlib.closing(response), files.atomic_write(out_path) as raw_out:
    lines = http_lines.LineStream(response, url)
    # mtime=0: the same kept lines give the same bytes.
    with gzip.GzipFile(filename='', mode='wb', fileobj=raw_out,
                       mtime=0) as out:
      _keep_balanced(lines, out, url, per_class, tally)
    if not any(tally.kept):
      reasons = ', '.join(
          f'{k}: {v}' for k, v in sorted(tally.skipped.items()))
      raise DownloadError(
          f'{url}: no usable review in {tally.lines_read} lines read'
          + (f' (skipped {reasons})' if reasons else '')
          + '; is this a McAuley JSON-lines file?')
  return tally, lines


def _downloaded_report(url: str, out_path: str, per_class: int,
                       tally: _Tally, lines: http_lines.LineStream,
                       start: float) -> dict:
  """The report of `download_domain` for a file it has just written."""
  kept, skipped = tally.kept, tally.skipped
  complete = min(kept) >= per_class
  if not complete:
    _log.warning(
        '%s: the stream ended%s with only %d negative and %d positive reviews '
        '(asked for %d each); kept what there is in %s', url,
        ' (gzip cut short)' if lines.truncated else '', kept[0], kept[1],
        per_class, out_path)
  if lines.truncated:
    skipped[input_pipeline.TRUNCATED_GZIP] += 1
  return {
      'url': url,
      'path': out_path,
      'per_class': per_class,
      'reused': False,
      'lines_read': tally.lines_read,
      'kept': {'negative': kept[0], 'positive': kept[1]},
      'skipped': dict(sorted(skipped.items())),
      'bytes_downloaded': lines.bytes_read,
      'bytes_total': lines.bytes_total,
      'stopped_early': tally.stopped_early,
      'reached_end': not tally.stopped_early,
      'truncated': lines.truncated,
      'complete': complete,
      'seconds': round(time.monotonic() - start, 3),
  }


def download_domain(url: str,
                    out_path: str,
                    per_class: int,
                    timeout: float = DEFAULT_TIMEOUT,
                    overwrite: bool = False) -> dict:
  """Streams one category file and keeps `per_class` reviews of each label.

  Args:
    url: a McAuley JSON-lines file, gzip or plain.
    out_path: where the kept raw lines are written, gzip-compressed.
    per_class: how many negative (1-2 star) and positive (4-5 star) reviews
      to keep; reading stops as soon as both are reached.
    timeout: seconds to wait for the connection and for each read.
    overwrite: download again when `out_path` exists (otherwise it is reused).

  Returns:
    A JSON-serialisable report: url, path, per_class, reused, lines_read,
    kept {'negative', 'positive'}, skipped {reason: count} (3-star reviews as
    'three_star'), bytes_downloaded (compressed), bytes_total (Content-Length
    or None), stopped_early (enough of both labels before the end),
    reached_end (the stream ended), truncated (the gzip stream was cut),
    complete (enough of both labels), seconds. A reused file's report has only
    url, path, per_class, reused, kept and complete.

  Raises:
    DownloadError: HTTP or network error, an existing output that cannot be
      read, or a stream with no usable review; nothing is left at `out_path`.
    ValueError: per_class < 1.
  """
  if per_class < 1:
    raise ValueError(f'per_class must be at least 1, got {per_class}')
  if os.path.exists(out_path) and not overwrite:
    _log.info('%s exists, reusing it', out_path)
    return _count_existing(url, out_path, per_class)
  # The folder exists even when the download fails, as it would after a
  # success: only the file is all-or-nothing.
  os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
  start = time.monotonic()
  tally, lines = _download_balanced(url, out_path, per_class, timeout)
  return _downloaded_report(url, out_path, per_class, tally, lines, start)


def output_path(out_dir: str, domain: str) -> str:
  """Where `download_all` writes `domain`: the file that the 'mcauley' layout
  of `domains.LAYOUTS` reads, under `out_dir`."""
  (pattern,) = domains_lib.LAYOUTS['mcauley'][domain]
  return os.path.join(out_dir, pattern)


def _read_report(path: str) -> dict:
  """The domains of an earlier report, or {} when there is none usable."""
  try:
    domains = files.read_json(path).get('domains', {})
  except (OSError, ValueError, AttributeError):  # CorruptFileError included.
    return {}
  return domains if isinstance(domains, dict) else {}


def download_all(out_dir: str,
                 per_class: int,
                 domains: Optional[Sequence[str]] = None,
                 release: str = '2023',
                 base_url: Optional[str] = None,
                 overwrite: bool = False,
                 timeout: float = DEFAULT_TIMEOUT) -> Dict[str, dict]:
  """Downloads each domain to `output_path` (``mcauley/{domain}.jsonl.gz``).

  Also writes ``{out_dir}/mcauley/download_report.json`` (atomically, after
  each domain, so a failure keeps the report of the domains already done);
  entries of domains from earlier runs that are not downloaded now are kept.

  Args:
    out_dir: the data folder.
    per_class: reviews of each label to keep per domain.
    domains: a subset of `domains.DOMAINS`; all five when None.
    release: '2023' or '2018' (see MCAULEY_URLS).
    base_url: replaces everything before the file name in each URL.
    overwrite: download again files that exist.
    timeout: seconds to wait for the connection and for each read.

  Returns:
    {domain: report of `download_domain`}, for the domains of this call.

  Raises:
    ValueError: unknown domain or release, or per_class < 1.
    DownloadError: see `download_domain`.
  """
  # dict.fromkeys: drops repeats, keeps the order.
  domains = list(dict.fromkeys(
      domains_lib.DOMAINS if domains is None else domains))
  if not domains:
    raise ValueError('no domain given; choose from '
                     f'{", ".join(domains_lib.DOMAINS)}')
  urls = {d: domain_url(d, release, base_url) for d in domains}  # Validates.
  if per_class < 1:
    raise ValueError(f'per_class must be at least 1, got {per_class}')
  folder = os.path.join(out_dir, domains_lib.MCAULEY_DIR)
  os.makedirs(folder, exist_ok=True)
  report_path = os.path.join(folder, REPORT_NAME)
  all_reports = _read_report(report_path)
  reports = {}
  for domain in domains:
    out_path = output_path(out_dir, domain)
    _log.info('%s: %s -> %s', domain, urls[domain], out_path)
    report = download_domain(urls[domain], out_path, per_class,
                             timeout=timeout, overwrite=overwrite)
    report['release'] = release
    reports[domain] = report
    all_reports[domain] = report
    files.write_json(report_path, {'domains': all_reports})
  return reports
