"""Which review format a file is in, and how to read one record of each.

This module owns the knowledge of the formats (SPEC.md section 1):
`detect_format` tells them apart from a file's first bytes, and one record
parser per file format turns the raw bytes of one record into a `Review` or
raises `SkipRecord` with the reason:

* ``json_lines``: `parse_json_line`, McAuley JSON lines, 2014/2018 keys
  (``reviewText``, ``overall``, ``summary``) or 2023 keys (``text``,
  ``rating``, ``title``), strict JSON or Python-literal lines.
* ``amazon_tsv``: `amazon_tsv_parser`, the Amazon Customer Reviews TSV
  (``star_rating``, ``review_headline``, ``review_body``); the parser is built
  from the file's header.
* ``blitzer``: `parse_blitzer_block`, Blitzer et al. 2007 ``.review``
  pseudo-XML, one ``<review>`` block.
* ``webis_xml``: `parse_webis_block`, one Webis-CLS-10 ``<item>`` block.
* ``label_tsv``: `parse_label_line`, ``label<TAB>text`` lines (FDU-MTL).

``tfds`` directories are only recognised here; `tfds_reader` reads them.
"""

from __future__ import annotations

import ast
import json
import os
import re
import xml.etree.ElementTree as ET

from lottery_jax.data import file_streams
from lottery_jax.data import reviews
from lottery_jax.data.reviews import Review
from lottery_jax.data.reviews import ReviewFileError
from lottery_jax.data.reviews import SkipRecord

FORMATS = (
    'json_lines', 'amazon_tsv', 'tfds', 'blitzer', 'webis_xml', 'label_tsv')


def detect_format(path: str) -> str:
  """Returns the name of the file's format (one of FORMATS).

  Raises:
    ReviewFileError: missing file, empty file, a gzip of which nothing
      decompresses, or unknown format.
  """
  if os.path.isdir(path):
    if os.path.exists(os.path.join(path, 'dataset_info.json')):
      return 'tfds'
    raise ReviewFileError(
        f'{path}: a directory, but not a prepared TFDS dataset (no '
        'dataset_info.json)')
  if not os.path.exists(path):
    raise ReviewFileError(f'{path}: no such file')
  try:
    head = file_streams.sniff(path).lstrip(b'\xef\xbb\xbf \t\r\n')
  except file_streams.TruncatedGzip as e:
    raise ReviewFileError(f'{path}: {e}, before any review: the file is cut '
                          'short or corrupt') from e
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


def parse_json_line(line: bytes) -> Review:
  """Parses one McAuley JSON line (2014/2018 or 2023 keys)."""
  text = reviews.decode_utf8(line).strip()
  try:
    obj = json.loads(text)
  except ValueError:
    # The 2014 files are Python dict literals (single quotes, True/False).
    try:
      obj = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
      # TypeError: an unhashable dict key or set member, e.g. {[1]: 2}.
      raise SkipRecord(reviews.BAD_JSON) from None
  if not isinstance(obj, dict):
    raise SkipRecord(reviews.BAD_JSON)
  if 'reviewText' in obj or 'overall' in obj:
    body, rating, title = obj.get('reviewText'), obj.get('overall'), obj.get(
        'summary')
  else:
    body, rating, title = obj.get('text'), obj.get('rating'), obj.get('title')
  return reviews.make_review(body, title, reviews.parse_rating(rating))


def amazon_tsv_parser(path: str) -> file_streams.Parser:
  """The parser of the data lines of one Amazon TSV, from its header.

  Raises:
    ReviewFileError: the header lacks the star_rating or review_body column.
  """
  header = next(iter(file_streams.lines(path)), b'')
  columns = header.decode('utf-8', 'replace').rstrip('\r\n').split('\t')
  index = {name: i for i, name in enumerate(columns)}
  missing = {'star_rating', 'review_body'} - set(index)
  if missing:
    raise ReviewFileError(f'{path}: the TSV header has no '
                          f'{", ".join(sorted(missing))} column')

  def parse(line: bytes) -> Review:
    values = reviews.decode_utf8(line).rstrip('\r\n').split('\t')
    if len(values) != len(columns):
      raise SkipRecord(reviews.BAD_COLUMNS)
    title = (values[index['review_headline']]
             if 'review_headline' in index else '')
    return reviews.make_review(
        values[index['review_body']], title,
        reviews.parse_rating(values[index['star_rating']]))

  return parse


def parse_blitzer_block(block: bytes) -> Review:
  """Parses one ``<review>...</review>`` block of a Blitzer .review file."""
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
    raise SkipRecord(reviews.MISSING_RATING)
  return reviews.make_review(fields.get('review_text'), fields.get('title'),
                             reviews.parse_rating(fields['rating']))


def parse_webis_block(block: bytes) -> Review:
  """Parses one ``<item>...</item>`` block of a Webis-CLS-10 file."""
  reviews.decode_utf8(block)
  try:
    item = ET.fromstring(block)
  except ET.ParseError:
    raise SkipRecord(reviews.BAD_XML) from None
  rating = item.findtext('rating')
  if rating is None:
    raise SkipRecord(reviews.MISSING_RATING)
  return reviews.make_review(item.findtext('text'), item.findtext('summary'),
                             reviews.parse_rating(rating))


def parse_label_line(line: bytes) -> Review:
  """Parses one `label<TAB>text` line (label 0 negative, 1 positive)."""
  text = reviews.decode_utf8(line).rstrip('\r\n')
  if '\t' not in text:
    raise SkipRecord(reviews.BAD_COLUMNS)
  label, body = text.split('\t', 1)
  if label.strip() not in ('0', '1'):
    raise SkipRecord(reviews.BAD_LABEL)
  return reviews.make_review(body, '', None, label=int(label))
