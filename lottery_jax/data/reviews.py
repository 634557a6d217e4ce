"""The review record and the rules that every review reader applies.

This module owns what a review is once read, whatever its file format: the
`Review` record, text cleaning, the star rating -> label rule (SPEC.md
section 1), the names of the reasons a record is skipped, `SkipRecord` (how a
record parser rejects one record) and `ReviewFileError` (a file that cannot be
used at all). The readers themselves are in `file_formats` and `tfds_reader`,
behind `input_pipeline.read_reviews`.
"""

from __future__ import annotations

import dataclasses
import html
import re
from typing import Optional

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
  """Raised by a record parser: the record is skipped, counted as `reason`."""

  def __init__(self, reason: str):
    super().__init__(reason)
    self.reason = reason


def parse_rating(value) -> float:
  """A star rating in [1, 5] from a number or string; else SkipRecord."""
  if value is None or (isinstance(value, str) and not value.strip()):
    raise SkipRecord(MISSING_RATING)
  try:
    rating = float(value)
  except (TypeError, ValueError):
    raise SkipRecord(BAD_RATING) from None
  if not 1.0 <= rating <= 5.0:  # Also rejects NaN.
    raise SkipRecord(BAD_RATING)
  return rating


def make_review(text, title, rating: Optional[float],
                label: Optional[int] = None) -> Review:
  """A cleaned `Review`; the label comes from `rating` unless it is None.

  Raises:
    SkipRecord: EMPTY_TEXT when nothing is left of the text once cleaned.
  """
  text = clean_text(text) if isinstance(text, str) else ''
  if not text:
    raise SkipRecord(EMPTY_TEXT)
  title = clean_text(title) if isinstance(title, str) else ''
  if rating is not None:
    label = label_from_rating(rating)
  return Review(text=text, title=title, rating=rating, label=label)


def decode_utf8(raw: bytes) -> str:
  """`raw` as UTF-8 text; SkipRecord(INVALID_UTF8) when it is not."""
  try:
    return raw.decode('utf-8')
  except UnicodeDecodeError:
    raise SkipRecord(INVALID_UTF8) from None
