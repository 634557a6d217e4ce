"""Raw records streamed from plain or gzip review files, skips counted.

This module owns the bytes: opening a file whether or not it is gzip, its
lines (byte order mark dropped, a gzip cut short ending the stream with a
`TruncatedGzip` that says how far it got), the head that format detection
sniffs, the ``<tag>...</tag>`` blocks of the XML-ish formats, and the two
loops (`read_lines`, `read_blocks`) that hand each raw record to a format's
parser and count the records it rejects. What a record means is the business
of `file_formats`.
"""

from __future__ import annotations

import collections
import gzip
import os
from typing import BinaryIO, Callable, Iterable, Iterator
import zlib

from lottery_jax.data import reviews

_GZIP_MAGIC = b'\x1f\x8b'
_SNIFF_BYTES = 1 << 16

# parse(raw record) -> Review, or raises reviews.SkipRecord.
Parser = Callable[[bytes], reviews.Review]

# No `yield` here sits inside a `try` whose `except` names this module's
# globals: a generator left suspended (`next(iter(read_reviews(...)))`) is
# closed at interpreter exit, when those globals may already be None, and
# the except clause would then print a traceback.


def open_binary(path: str) -> BinaryIO:
  """`path` opened for reading bytes, decompressed when it is gzip."""
  with open(path, 'rb') as f:
    magic = f.read(2)
  return gzip.open(path, 'rb') if magic == _GZIP_MAGIC else open(path, 'rb')


class TruncatedGzip(Exception):
  """A gzip file that ends (or is corrupt) before its end of stream; the
  message says how far into the file it got."""


def _stopped(path: str, f: BinaryIO, error: Exception) -> TruncatedGzip:
  """The TruncatedGzip of `error`, raised while `f` decompressed `path`."""
  # The compressed bytes consumed: the whole file when it was cut short,
  # within a read buffer of the damage when it is corrupt.
  raw = getattr(f, 'fileobj', f)
  where = f'after {raw.tell():,} of {os.path.getsize(path):,} bytes'
  if isinstance(error, EOFError):
    return TruncatedGzip(f'gzip stream truncated {where}')
  return TruncatedGzip(f'gzip stream corrupt ({error}) {where}')


def lines(path: str) -> Iterator[bytes]:
  """Yields the raw lines of a plain or gzip file.

  Raises:
    TruncatedGzip: after the last line that decompressed, if the gzip stream
      is cut short or corrupt.
  """
  with open_binary(path) as f:
    first = True
    while True:
      try:
        line = next(f, None)
      except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise _stopped(path, f, e) from e
      if line is None:
        return
      if first:  # A UTF-8 byte order mark would spoil the first record.
        line, first = line.removeprefix(b'\xef\xbb\xbf'), False
      yield line


def sniff(path: str) -> bytes:
  """The first bytes of the file's content (decompressed if gzip).

  Raises:
    TruncatedGzip: a gzip file of which nothing decompresses.
  """
  with open_binary(path) as f:
    try:
      return f.read(_SNIFF_BYTES)
    except (EOFError, zlib.error, gzip.BadGzipFile):
      # A gzip cut short before the sniff window: read what decompresses.
      pass
  head = b''
  try:
    for line in lines(path):
      head += line
      if len(head) >= _SNIFF_BYTES:
        break
  except TruncatedGzip:
    if not head:
      raise
  return head


def blocks(line_stream: Iterable[bytes], start: bytes,
           end: bytes) -> Iterator[bytes]:
  """Yields each `start ... end` span of a line stream.

  Raises:
    reviews.SkipRecord: TRUNCATED_RECORD, after the complete spans, when the
      stream ends inside an open one.
  """
  buf = b''
  for line in line_stream:
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
    raise reviews.SkipRecord(reviews.TRUNCATED_RECORD)


def read_lines(path: str, parse: Parser, skipped: collections.Counter,
               header: bool = False) -> Iterator[reviews.Review]:
  """Yields `parse` of each non-blank line; skips are counted in `skipped`.

  Args:
    path: a plain or gzip file with one record a line.
    parse: the format's record parser.
    skipped: receives a count per skip reason.
    header: the first line is a header, not a record.

  Raises:
    TruncatedGzip: after the records before the damage (the caller, who
      knows how many it kept, counts and reports it).
  """
  line_stream = lines(path)
  if header:
    next(line_stream, None)
  yield from _parsed((line for line in line_stream if line.strip()), parse,
                     skipped)


def read_blocks(path: str, start: bytes, end: bytes, parse: Parser,
                skipped: collections.Counter) -> Iterator[reviews.Review]:
  """Yields `parse` of each `start ... end` block; skips counted, and
  TruncatedGzip raised, as above."""
  yield from _parsed(blocks(lines(path), start, end), parse, skipped)


def _parsed(records: Iterator[bytes], parse: Parser,
            skipped: collections.Counter) -> Iterator[reviews.Review]:
  """`parse` of each record; a SkipRecord (from `parse`, or from `records`
  for a record cut at the end of the file) is counted by its reason."""
  while True:
    try:
      review = parse(next(records))
    except StopIteration:
      return
    except reviews.SkipRecord as s:
      skipped[s.reason] += 1
      continue
    yield review
