"""Writing files so that an interrupted run never leaves half of one."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'wb') -> Iterator[Any]:
  """Opens a temporary file that replaces `path` only if the block succeeds.

  The temporary name keeps `path`'s extension, for writers (matplotlib) that
  choose the format by it.
  """
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  root, extension = os.path.splitext(path)
  tmp = f'{root}.tmp-{os.getpid()}{extension}'
  try:
    with open(tmp, mode) as f:
      yield f
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
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
