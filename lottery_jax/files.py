"""Writing files so that an interrupted run never leaves half of one."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Iterator


class WriteError(OSError):
  """A file that could not be written (a full disk, no permission); the
  message is one line that names it."""

  def __str__(self) -> str:
    reason = self.strerror or 'error'
    return f'{self.filename}: cannot write it: {reason[0].lower()}{reason[1:]}'


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'wb') -> Iterator[Any]:
  """Opens a temporary file that replaces `path` only if the block succeeds.

  The temporary name keeps `path`'s extension, for writers (matplotlib) that
  choose the format by it.

  Raises:
    WriteError: `path` (or its directory) could not be written; the
      temporary file is removed.
  """
  directory = os.path.dirname(path) or '.'
  root, extension = os.path.splitext(path)
  tmp = f'{root}.tmp-{os.getpid()}{extension}'
  try:
    os.makedirs(directory, exist_ok=True)
    with open(tmp, mode) as f:
      yield f
    os.replace(tmp, path)
  except OSError as e:
    # A failed write or flush names no file (ENOSPC says only "No space left
    # on device"); an error of another file the block opened is left as is.
    if e.errno is None or e.filename not in (None, tmp, directory):
      raise
    raise WriteError(e.errno, e.strerror, path) from e
  finally:
    with contextlib.suppress(OSError):
      os.remove(tmp)


def write_json(path: str, obj: Any) -> None:
  with atomic_write(path, 'w') as f:
    json.dump(obj, f, indent=2)
    f.write('\n')


class CorruptFileError(ValueError):
  """A file that exists but does not parse; the message names it."""


def read_json(path: str) -> Any:
  with open(path) as f:
    try:
      return json.load(f)
    except json.JSONDecodeError as e:
      raise CorruptFileError(f'{path}: not valid JSON ({e}); delete or '
                             'restore it') from e
