"""The lines of a remote file, read over HTTP(S) as they arrive.

This module owns the network side of `download`: opening a URL with the
library's user agent and a timeout, counting the compressed bytes received,
gunzipping content that is gzip, ending the stream quietly where a gzip is
cut short, and turning every network error into a `DownloadError` that names
the URL. Nothing here knows about reviews.
"""

from __future__ import annotations

import gzip
import http.client
import io
from typing import BinaryIO, Iterator, Optional
import urllib.error
import urllib.request
import zlib

# Some servers refuse urllib's default agent.
_USER_AGENT = 'lottery_jax-downloader/1.0 (+python urllib)'
_READ_BUFFER = 1 << 16


class DownloadError(RuntimeError):
  """A download that cannot be done; the message names the URL or file."""


def open_url(url: str, timeout: float):
  """The HTTP response of `url`; DownloadError when it cannot be had."""
  try:
    request = urllib.request.Request(url,
                                     headers={'User-Agent': _USER_AGENT})
    return urllib.request.urlopen(request, timeout=timeout)
  except urllib.error.HTTPError as e:
    raise DownloadError(f'{url}: HTTP error {e.code} {e.reason}') from None
  except urllib.error.URLError as e:
    raise DownloadError(f'{url}: cannot connect ({e.reason})') from None
  except (OSError, http.client.HTTPException, ValueError) as e:
    # ValueError: a malformed URL, e.g. without a scheme.
    raise DownloadError(f'{url}: cannot download ({e})') from None


class _CountingReader(io.RawIOBase):
  """Counts the (compressed) bytes read from the HTTP response."""

  def __init__(self, response: BinaryIO):
    super().__init__()
    self._response = response
    self.bytes_read = 0

  def readable(self) -> bool:
    return True

  def readinto(self, buffer) -> int:
    n = self._response.readinto(buffer)
    self.bytes_read += n or 0
    return n


class LineStream:
  """The lines of an open HTTP response's content, gunzipped if gzip.

  Iterate once; stop whenever enough has been read (the caller closes the
  response).

  Attributes:
    bytes_total: the Content-Length, or None when the server sent none.
    truncated: whether the gzip stream turned out to be cut short (the lines
      before the cut were yielded).
  """

  def __init__(self, response, url: str):
    """Wraps `response` (from `open_url`) and peeks at its first bytes.

    Raises:
      DownloadError: the first read fails.
    """
    self._url = url
    length = response.headers.get('Content-Length')
    self.bytes_total: Optional[int] = (
        int(length) if length and length.isdigit() else None)
    self.truncated = False
    self._counter = _CountingReader(response)
    buffered = io.BufferedReader(self._counter, buffer_size=_READ_BUFFER)
    try:
      is_gzip = buffered.peek(2)[:2] == b'\x1f\x8b'
    except (OSError, http.client.HTTPException) as e:
      raise DownloadError(f'{url}: download failed while reading: {e}') from e
    self._source = gzip.GzipFile(fileobj=buffered) if is_gzip else buffered

  @property
  def bytes_read(self) -> int:
    """Compressed bytes received so far."""
    return self._counter.bytes_read

  def __iter__(self) -> Iterator[bytes]:
    """Yields the raw lines; a cut gzip ends them and sets `truncated`.

    Network errors become DownloadError here, so that errors writing the
    output are not blamed on the URL.
    """
    stream = iter(self._source)
    while True:
      try:
        line = next(stream)
      except StopIteration:
        return
      # BadGzipFile is an OSError, so it must come before the network errors.
      except (EOFError, zlib.error, gzip.BadGzipFile):
        self.truncated = True
        return
      except (OSError, http.client.HTTPException) as e:
        raise DownloadError(
            f'{self._url}: download failed while reading: {e}') from e
      yield line
