"""Streaming reads of every Amazon review format the library supports.

One entry point, `read_reviews(path)`, detects the format from the file's
content and yields `Review` records one at a time, never holding a whole file
in memory. This module owns that dispatch; the work is in its parts, which
with it are the only code that opens review files:

  reviews       the `Review` record, text cleaning, rating -> label, the skip
                reasons, `SkipRecord` and `ReviewFileError`
  file_streams  plain or gzip byte streams: lines, tagged blocks, the sniffed
                head, the loops that count skipped records
  file_formats  `detect_format` and the record parser of each file format
  tfds_reader   prepared TFDS directories (needs tensorflow-datasets)

Supported formats (SPEC.md section 1):

* ``json_lines``: McAuley JSON lines, 2014/2018 keys (``reviewText``,
  ``overall``, ``summary``) or 2023 keys (``text``, ``rating``, ``title``);
  strict JSON or Python-literal lines; plain or gzip.
* ``amazon_tsv``: the Amazon Customer Reviews TSV (``star_rating``,
  ``review_headline``, ``review_body``), plain or gzip.
* ``tfds``: a prepared TFDS ``amazon_us_reviews`` directory (needs
  tensorflow-datasets).
* ``blitzer``: Blitzer et al. 2007 ``.review`` pseudo-XML.
* ``webis_xml``: Webis-CLS-10 XML (``<items><item>...``).
* ``label_tsv``: ``label<TAB>text`` lines (FDU-MTL).

A record that cannot be read is skipped and counted by reason in the
``skipped`` counter that the caller passes; a file with no usable record
raises `ReviewFileError` naming the file.

The record, the skip reasons, the errors, `detect_format` and the public
parsers are re-exported here, so callers need import only this module.
"""

from __future__ import annotations

import collections
import os
from typing import Iterator, Optional

from absl import logging

from lottery_jax.data import file_streams
from lottery_jax.data import tfds_reader
from lottery_jax.data.file_formats import amazon_tsv_parser
from lottery_jax.data.file_formats import detect_format
from lottery_jax.data.file_formats import FORMATS
from lottery_jax.data.file_formats import parse_blitzer_block
from lottery_jax.data.file_formats import parse_json_line
from lottery_jax.data.file_formats import parse_label_line
from lottery_jax.data.file_formats import parse_webis_block
from lottery_jax.data.reviews import BAD_COLUMNS
from lottery_jax.data.reviews import BAD_JSON
from lottery_jax.data.reviews import BAD_LABEL
from lottery_jax.data.reviews import BAD_RATING
from lottery_jax.data.reviews import BAD_XML
from lottery_jax.data.reviews import clean_text
from lottery_jax.data.reviews import EMPTY_TEXT
from lottery_jax.data.reviews import INVALID_UTF8
from lottery_jax.data.reviews import label_from_rating
from lottery_jax.data.reviews import MISSING_RATING
from lottery_jax.data.reviews import Review
from lottery_jax.data.reviews import ReviewFileError
from lottery_jax.data.reviews import SkipRecord
from lottery_jax.data.reviews import TRUNCATED_GZIP
from lottery_jax.data.reviews import TRUNCATED_RECORD

__all__ = [
    'BAD_COLUMNS', 'BAD_JSON', 'BAD_LABEL', 'BAD_RATING', 'BAD_XML',
    'EMPTY_TEXT', 'FORMATS', 'INVALID_UTF8', 'MISSING_RATING',
    'TRUNCATED_GZIP', 'TRUNCATED_RECORD', 'Review', 'ReviewFileError',
    'SkipRecord', 'clean_text', 'detect_format', 'label_from_rating',
    'parse_json_line', 'parse_label_line', 'read_reviews',
]


def _records(path: str, fmt: str,
             skipped: collections.Counter) -> Iterator[Review]:
  """The reader of format `fmt` over `path`."""
  if fmt == 'json_lines':
    return file_streams.read_lines(path, parse_json_line, skipped)
  if fmt == 'amazon_tsv':
    return file_streams.read_lines(path, amazon_tsv_parser(path), skipped,
                                   header=True)
  if fmt == 'label_tsv':
    return file_streams.read_lines(path, parse_label_line, skipped)
  if fmt == 'blitzer':
    return file_streams.read_blocks(path, b'<review>', b'</review>',
                                    parse_blitzer_block, skipped)
  if fmt == 'webis_xml':
    return file_streams.read_blocks(path, b'<item>', b'</item>',
                                    parse_webis_block, skipped)
  if fmt == 'tfds':
    return tfds_reader.read_tfds(path, skipped)
  raise ReviewFileError(f'{path}: unknown format {fmt!r}; supported: '
                        f'{", ".join(FORMATS)}')


def read_reviews(path: str,
                 skipped: Optional[collections.Counter] = None,
                 fmt: Optional[str] = None) -> Iterator[Review]:
  """Streams the reviews of one file in any supported format.

  A gzip stream cut short or corrupt ends the reviews: it is counted as
  TRUNCATED_GZIP, and a warning names the file and says how far it got.

  Args:
    path: a review file (plain or gzip) or a prepared TFDS directory.
    skipped: a counter that receives, per reason, the records that could not
      be read (for example ``invalid_utf8``, ``bad_json``, ``empty_text``).
    fmt: the format, one of FORMATS; detected from the content when None.

  Yields:
    `Review` records in file order, 3-star reviews included (label None).

  Raises:
    ReviewFileError: the file is missing, of unknown format, or has no usable
      record (a gzip cut short before one is named as such).
  """
  if skipped is None:
    skipped = collections.Counter()
  fmt = fmt or detect_format(path)
  if not os.path.exists(path):  # When fmt was given, detect_format is skipped.
    raise ReviewFileError(f'{path}: no such file')
  n = 0
  stopped = ''
  records = _records(path, fmt, skipped)
  while True:  # No yield inside the try: see file_streams.
    try:
      record = next(records, None)
    except file_streams.TruncatedGzip as e:
      skipped[TRUNCATED_GZIP] += 1
      stopped = f'{path}: {e} ({n:,} reviews read)'
      break
    if record is None:
      break
    n += 1
    yield record
  if n == 0:
    reasons = ', '.join(f'{k}: {v}' for k, v in sorted(skipped.items()))
    raise ReviewFileError(
        f'{stopped or path}: no usable review in this {fmt} file'
        + (f' (skipped {reasons})' if reasons else ''))
  if stopped:
    # The skip counts say only `truncated_gzip: 1`; this says how much of
    # the file was lost.
    logging.warning('%s; the rest of the file is lost', stopped)
