"""Streaming readers for every Amazon review format the library supports.

This module is the only code that opens review files. One entry point,
`read_reviews(path)`, detects the format from the file's content and yields
`Review` records one at a time, never holding a whole file in memory.

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
"""

from __future__ import annotations

import ast
import collections
import dataclasses
import gzip
import html
import json
import os
import re
from typing import BinaryIO, Callable, Iterable, Iterator, Optional
import xml.etree.ElementTree as ET
import zlib

FORMATS = (
    'json_lines', 'amazon_tsv', 'tfds', 'blitzer', 'webis_xml', 'label_tsv')

# Skip reasons, so that reports and tests use the same spelling.
INVALID_UTF8 = 'invalid_utf8'
BAD_JSON = 'bad_json'
BAD_XML = 'bad_xml'
BAD_COLUMNS = 'bad_columns'
BAD_LABEL = 'bad_label'
MISSING_RATING = 'missing_rating'
BAD_RATING = 'bad_rating'
EMPTY_TEXT = 'empty_text'
TRUNCATED_RECORD = 'truncated_record'
TRUNCATED_GZIP = 'truncated_gzip'

_GZIP_MAGIC = b'\x1f\x8b'
_SNIFF_BYTES = 1 << 16


class ReviewFileError(ValueError):
  """A review file that cannot be used at all; the message names the file."""


@dataclasses.dataclass(frozen=True)
class Review:
  """One review.

  Attributes:
    text: the review body, HTML entities decoded, whitespace collapsed.
    title: the review's title or summary ('' when the format has none).
    rating: star rating in [1, 5], or None when the format only has a label.
    label: 1 positive (4-5 stars), 0 negative (1-2 stars), None for 3 stars.
  """
  text: str
  title: str
  rating: Optional[float]
  label: Optional[int]


def label_from_rating(rating: float) -> Optional[int]:
  """1-2 stars -> 0, 4-5 stars -> 1, 3 stars -> None (SPEC.md section 1)."""
  if rating < 3:
    return 0
  if rating > 3:
    return 1
  return None


_BREAK_TAG = re.compile(r'<br\s*/?>', re.IGNORECASE)
_SPACES = re.compile(r'\s+')
# Only complete entities: html.unescape alone would also turn a bare
# "&notebook" into "\u00acebook".
_ENTITY = re.compile(r'&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);')


def clean_text(text: str) -> str:
  """Decodes HTML entities, turns <br> tags into spaces, collapses spaces."""
  text = _ENTITY.sub(lambda m: html.unescape(m.group(0)),
                     _BREAK_TAG.sub(' ', text))
  return _SPACES.sub(' ', text).strip()


class SkipRecord(Exception):
  """Raised by a record parser: the record is skipped and counted as `reason`."""

  def __init__(self, reason: str):
    super().__init__(reason)
    self.reason = reason


def _parse_rating(value) -> float:
  if value is None or (isinstance(value, str) and not value.strip()):
    raise SkipRecord(MISSING_RATING)
  try:
    rating = float(value)
  except (TypeError, ValueError):
    raise SkipRecord(BAD_RATING) from None
  if not 1.0 <= rating <= 5.0:  # Also rejects NaN.
    raise SkipRecord(BAD_RATING)
  return rating


def _make_review(text, title, rating: Optional[float],
                 label: Optional[int] = None) -> Review:
  text = clean_text(text) if isinstance(text, str) else ''
  if not text:
    raise SkipRecord(EMPTY_TEXT)
  title = clean_text(title) if isinstance(title, str) else ''
  if rating is not None:
    label = label_from_rating(rating)
  return Review(text=text, title=title, rating=rating, label=label)


def _decode_utf8(raw: bytes) -> str:
  try:
    return raw.decode('utf-8')
  except UnicodeDecodeError:
    raise SkipRecord(INVALID_UTF8) from None


# ---------------------------------------------------------------------------
# Byte streams.


def _open_binary(path: str) -> BinaryIO:
  with open(path, 'rb') as f:
    magic = f.read(2)
  return gzip.open(path, 'rb') if magic == _GZIP_MAGIC else open(path, 'rb')


class _TruncatedGzip(Exception):
  pass


def _lines(path: str) -> Iterator[bytes]:
  """Yields the raw lines of a plain or gzip file; a cut gzip ends the file."""
  with _open_binary(path) as f:
    try:
      # A UTF-8 byte order mark would otherwise spoil the first record.
      yield next(f, b'').removeprefix(b'\xef\xbb\xbf')
      yield from f
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
      raise _TruncatedGzip(str(e)) from e


def _sniff(path: str) -> bytes:
  """The first bytes of the file's content (decompressed if gzip)."""
  with _open_binary(path) as f:
    try:
      return f.read(_SNIFF_BYTES)
    except (EOFError, zlib.error, gzip.BadGzipFile):
      # A gzip cut short before the sniff window: read what decompresses.
      pass
  head = b''
  try:
    for line in _lines(path):
      head += line
      if len(head) >= _SNIFF_BYTES:
        break
  except _TruncatedGzip:
    pass
  return head


def _blocks(lines: Iterable[bytes], start: bytes,
            end: bytes) -> Iterator[bytes]:
  """Yields each `start ... end` span of a line stream; a trailing open span
  raises SkipRecord(TRUNCATED_RECORD) after the complete ones."""
  buf = b''
  for line in lines:
    buf += line
    while True:
      i = buf.find(start)
      if i < 0:
        # Keep a tail in case a start tag is split across lines.
        buf = buf[-len(start):]
        break
      j = buf.find(end, i)
      k = buf.find(start, i + len(start))
      if k >= 0 and (j < 0 or k < j):
        # An unclosed record: yield it alone (its parser rejects or reads it)
        # rather than merging it with the next record.
        yield buf[i:k]
        buf = buf[k:]
        continue
      if j < 0:
        buf = buf[i:]
        break
      yield buf[i:j + len(end)]
      buf = buf[j + len(end):]
  if buf.find(start) >= 0:
    raise SkipRecord(TRUNCATED_RECORD)


# ---------------------------------------------------------------------------
# Format detection.


def detect_format(path: str) -> str:
  """Returns the name of the file's format (one of FORMATS).

  Raises:
    ReviewFileError: missing file, empty file or unknown format.
  """
  if os.path.isdir(path):
    if os.path.exists(os.path.join(path, 'dataset_info.json')):
      return 'tfds'
    raise ReviewFileError(
        f'{path}: a directory, but not a prepared TFDS dataset (no '
        'dataset_info.json)')
  if not os.path.exists(path):
    raise ReviewFileError(f'{path}: no such file')
  head = _sniff(path).lstrip(b'\xef\xbb\xbf \t\r\n')
  if not head:
    raise ReviewFileError(f'{path}: the file is empty')
  first_line = head.split(b'\n', 1)[0].rstrip(b'\r')
  if head.startswith(b'{'):
    return 'json_lines'
  if b'<review>' in head and (b'<review_text>' in head or
                              b'<unique_id>' in head or b'<rating>' in head):
    return 'blitzer'
  if (head.startswith(b'<?xml') or head.startswith(b'<items')) and (
      b'<item>' in head or b'<items' in head):
    return 'webis_xml'
  columns = first_line.split(b'\t')
  if b'star_rating' in columns and b'review_body' in columns:
    return 'amazon_tsv'
  if re.match(rb'^[01]\t', first_line):
    return 'label_tsv'
  raise ReviewFileError(
      f'{path}: unknown review format (starts with {first_line[:60]!r}); '
      f'supported: {", ".join(FORMATS)}')


# ---------------------------------------------------------------------------
# Record parsers: raw bytes of one record -> Review, or raise SkipRecord.


def parse_json_line(line: bytes) -> Review:
  """Parses one McAuley JSON line (2014/2018 or 2023 keys)."""
  text = _decode_utf8(line).strip()
  try:
    obj = json.loads(text)
  except ValueError:
    # The 2014 files are Python dict literals (single quotes, True/False).
    try:
      obj = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
      # TypeError: an unhashable dict key or set member, e.g. {[1]: 2}.
      raise SkipRecord(BAD_JSON) from None
  if not isinstance(obj, dict):
    raise SkipRecord(BAD_JSON)
  if 'reviewText' in obj or 'overall' in obj:
    body, rating, title = obj.get('reviewText'), obj.get('overall'), obj.get(
        'summary')
  else:
    body, rating, title = obj.get('text'), obj.get('rating'), obj.get('title')
  return _make_review(body, title, _parse_rating(rating))


def _parse_blitzer_block(block: bytes) -> Review:
  try:
    text = block.decode('utf-8')
  except UnicodeDecodeError:
    # The Blitzer crawl mixes UTF-8 and Latin-1 (data README); Latin-1 decodes
    # any byte, so such a record is read rather than skipped.
    text = block.decode('latin-1')
  fields = {}
  for name in ('rating', 'title', 'review_text'):
    m = re.search(rf'<{name}>(.*?)</{name}>', text, re.DOTALL)
    if m:
      fields[name] = m.group(1)
  if 'rating' not in fields:
    raise SkipRecord(MISSING_RATING)
  return _make_review(fields.get('review_text'), fields.get('title'),
                      _parse_rating(fields['rating']))


def _parse_webis_block(block: bytes) -> Review:
  _decode_utf8(block)
  try:
    item = ET.fromstring(block)
  except ET.ParseError:
    raise SkipRecord(BAD_XML) from None
  rating = item.findtext('rating')
  if rating is None:
    raise SkipRecord(MISSING_RATING)
  return _make_review(item.findtext('text'), item.findtext('summary'),
                      _parse_rating(rating))


def parse_label_line(line: bytes) -> Review:
  """Parses one `label<TAB>text` line (label 0 negative, 1 positive)."""
  text = _decode_utf8(line).rstrip('\r\n')
  if '\t' not in text:
    raise SkipRecord(BAD_COLUMNS)
  label, body = text.split('\t', 1)
  if label.strip() not in ('0', '1'):
    raise SkipRecord(BAD_LABEL)
  return _make_review(body, '', None, label=int(label))


# ---------------------------------------------------------------------------
# Readers: path -> records, skip reasons counted.


def _read_lines(path: str, parse: Callable[[bytes], Review],
                skipped: collections.Counter, header: bool = False):
  lines = _lines(path)
  try:
    if header:
      next(lines, None)
    for line in lines:
      if not line.strip():
        continue
      try:
        yield parse(line)
      except SkipRecord as s:
        skipped[s.reason] += 1
  except _TruncatedGzip:
    skipped[TRUNCATED_GZIP] += 1


def _read_blocks(path: str, start: bytes, end: bytes,
                 parse: Callable[[bytes], Review],
                 skipped: collections.Counter):
  try:
    for block in _blocks(_lines(path), start, end):
      try:
        yield parse(block)
      except SkipRecord as s:
        skipped[s.reason] += 1
  except SkipRecord as s:
    skipped[s.reason] += 1
  except _TruncatedGzip:
    skipped[TRUNCATED_GZIP] += 1


def _amazon_tsv_parser(path: str) -> Callable[[bytes], Review]:
  header = next(iter(_lines(path)), b'')
  columns = header.decode('utf-8', 'replace').rstrip('\r\n').split('\t')
  index = {name: i for i, name in enumerate(columns)}
  missing = {'star_rating', 'review_body'} - set(index)
  if missing:
    raise ReviewFileError(f'{path}: the TSV header has no '
                          f'{", ".join(sorted(missing))} column')

  def parse(line: bytes) -> Review:
    values = _decode_utf8(line).rstrip('\r\n').split('\t')
    if len(values) != len(columns):
      raise SkipRecord(BAD_COLUMNS)
    title = values[index['review_headline']] if 'review_headline' in index else ''
    return _make_review(values[index['review_body']], title,
                        _parse_rating(values[index['star_rating']]))

  return parse


def _read_tfds(path: str, skipped: collections.Counter):
  """Reads a prepared TFDS amazon_us_reviews directory, splits in name order.

  A TFRecord copy (the TFDS default) is read through TensorFlow, in batches;
  an array_record or parquet copy is read without it.
  """
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ReviewFileError(
        f'{path}: a TFDS dataset, but tensorflow-datasets is not installed '
        "(pip install 'lottery_jax[tfds]')") from None
  fields = ('star_rating', 'review_headline', 'review_body')
  try:
    builder = tfds.builder_from_directory(path)
    features = builder.info.features
    ok = 'data' in features and all(k in features['data'] for k in fields)
  except Exception as e:  # pylint: disable=broad-except
    raise ReviewFileError(f'{path}: cannot read this TFDS dataset: {e}') from e
  if not ok:
    raise ReviewFileError(
        f'{path}: not an amazon_us_reviews dataset (needs the features '
        f'{", ".join("data/" + k for k in fields)})')
  try:
    sources = builder.as_data_source()  # {split: examples}; no TensorFlow.
  except (NotImplementedError, ValueError):  # A TFRecord copy.
    try:
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise ReviewFileError(
          f'{path}: a TFRecord TFDS dataset, but TensorFlow is not installed '
          "(pip install 'lottery_jax[tfds]')") from None
    try:
      tf.config.set_visible_devices([], 'GPU')  # Leave the GPUs to JAX.
    except RuntimeError:  # TensorFlow has already set up its devices.
      pass
    sources = None

  def examples(split):
    if sources is not None:
      source = sources[split]
      return (example['data'] for i in range(0, len(source), 1024)
              for example in source.__getitems__(
                  range(i, min(i + 1024, len(source)))))
    batches = tfds.as_numpy(builder.as_dataset(split=split, batch_size=1024))
    return ({k: batch['data'][k][i] for k in fields} for batch in batches
            for i in range(len(batch['data']['star_rating'])))

  def text(value):
    return _decode_utf8(value) if isinstance(value, bytes) else value

  for split in sorted(builder.info.splits.keys()):
    for data in examples(split):
      try:
        body = text(data['review_body'])
        yield _make_review(body, text(data['review_headline']),
                           _parse_rating(data['star_rating']))
      except SkipRecord as s:
        skipped[s.reason] += 1


def read_reviews(path: str,
                 skipped: Optional[collections.Counter] = None,
                 fmt: Optional[str] = None) -> Iterator[Review]:
  """Streams the reviews of one file in any supported format.

  Args:
    path: a review file (plain or gzip) or a prepared TFDS directory.
    skipped: a counter that receives, per reason, the records that could not
      be read (for example ``invalid_utf8``, ``bad_json``, ``empty_text``).
    fmt: the format, one of FORMATS; detected from the content when None.

  Yields:
    `Review` records in file order, 3-star reviews included (label None).

  Raises:
    ReviewFileError: the file is missing, of unknown format, or has no usable
      record.
  """
  if skipped is None:
    skipped = collections.Counter()
  fmt = fmt or detect_format(path)
  if not os.path.exists(path):  # When fmt was given, detect_format is skipped.
    raise ReviewFileError(f'{path}: no such file')
  if fmt == 'json_lines':
    records = _read_lines(path, parse_json_line, skipped)
  elif fmt == 'amazon_tsv':
    records = _read_lines(path, _amazon_tsv_parser(path), skipped, header=True)
  elif fmt == 'label_tsv':
    records = _read_lines(path, parse_label_line, skipped)
  elif fmt == 'blitzer':
    records = _read_blocks(path, b'<review>', b'</review>',
                           _parse_blitzer_block, skipped)
  elif fmt == 'webis_xml':
    records = _read_blocks(path, b'<item>', b'</item>', _parse_webis_block,
                           skipped)
  elif fmt == 'tfds':
    records = _read_tfds(path, skipped)
  else:
    raise ReviewFileError(f'{path}: unknown format {fmt!r}; supported: '
                          f'{", ".join(FORMATS)}')
  n = 0
  for record in records:
    n += 1
    yield record
  if n == 0:
    reasons = ', '.join(f'{k}: {v}' for k, v in sorted(skipped.items()))
    raise ReviewFileError(
        f'{path}: no usable review in this {fmt} file'
        + (f' (skipped {reasons})' if reasons else ''))
