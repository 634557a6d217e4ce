"""Tickets on disk with orbax: one directory per round, written atomically.

orbax writes a checkpoint under a temporary name and renames it when it is
complete, so a run killed at any moment (kill -9 included) leaves either a
whole round or none. A round counts as finished once its `rows.json` (written
after the checkpoint) exists; a resumed run skips finished rounds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sys
from typing import Any, Dict, Iterator, List, Optional

import orbax.checkpoint as ocp

from lottery_jax import files
from lottery_jax import results

ROWS = 'rows.json'
CHECKPOINT = 'checkpoint'


def _drop_none(tree):
  """Nested dicts without their None leaves (orbax stores arrays only)."""
  if isinstance(tree, dict):
    return {k: _drop_none(v) for k, v in tree.items() if v is not None}
  return tree


def fill_none(template, tree):
  """Puts back the None leaves of `template` into a `_drop_none` tree."""
  if isinstance(template, dict):
    return {k: None if v is None else fill_none(v, tree[k])
            for k, v in template.items()}
  return tree


class CheckpointError(ValueError):
  """A round directory whose checkpoint cannot be read or saved; the message
  is one line that names it."""


def save_round(round_dir: str, tree: Optional[Dict[str, Any]],
               rows: List[Dict[str, Any]]) -> None:
  """Saves a finished round: the arrays (unless None), then the result rows
  that mark it finished.

  Raises:
    CheckpointError: the disk is full (or another OS error) while orbax
      saves. No rows.json is written, so the round stays unfinished, and
      orbax's temporary directory is removed (here, or by the next save).
  """
  os.makedirs(round_dir, exist_ok=True)
  # A save killed midway leaves orbax's temporary directory: remove it.
  _remove_partial(round_dir)
  if tree is not None:
    path = os.path.abspath(os.path.join(round_dir, CHECKPOINT))
    try:
      with _quiet_unless_ok():
        checkpointer = ocp.StandardCheckpointer()
        try:
          checkpointer.save(path, _drop_none(tree), force=True)
          checkpointer.wait_until_finished()
        finally:
          checkpointer.close()
    except Exception as e:  # pylint: disable=broad-except
      reason = disk_error(e)
      if reason is None:
        raise
      _remove_partial(round_dir)  # Best effort: see _quiet_unless_ok.
      raise CheckpointError(
          f'{round_dir}: cannot save the checkpoint: {reason}; the rounds '
          'before it are kept: make room and run again') from e
  files.write_json(os.path.join(round_dir, ROWS), rows)


def _remove_partial(round_dir: str) -> None:
  for name in os.listdir(round_dir):
    if name.startswith(CHECKPOINT) and name != CHECKPOINT:
      shutil.rmtree(os.path.join(round_dir, name), ignore_errors=True)


_OS_ERROR_CODE = re.compile(r"os_error_code='?(\d+)")


def disk_error(error: BaseException) -> Optional[str]:
  """What the OS said ('no space left on device') if `error`, or an
  exception it wraps, is an OS error; else None.

  orbax raises OSError from its Python writes, but tensorstore's C++ writes
  of the arrays arrive as a ValueError whose text holds the errno.
  """
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    code = error.errno if isinstance(error, OSError) else None
    match = _OS_ERROR_CODE.search(str(error))
    if code is None and match:
      code = int(match.group(1))
    if code:
      reason = os.strerror(code)
      return reason[0].lower() + reason[1:]
    error = error.__cause__ or error.__context__
  return None


@contextlib.contextmanager
def _quiet_unless_ok() -> Iterator[None]:
  """Keeps orbax's noise about a disk error out of the one-line error.

  orbax logs a failed write from each of its threads with a traceback (some
  300 lines): the block's absl log records are held and emitted after it,
  unless it raised a disk error. And when one write fails, orbax closes its
  event loop while tensorstore still has other writes in flight (they may
  recreate parts of the temporary directory, which the next save removes);
  each one's completion then calls into the closed loop and reaches
  sys.unraisablehook as "RuntimeError: Event loop is closed", a traceback
  apiece, even after the error is printed: from a failed save on, those and
  only those are dropped.
  """
  logger = logging.getLogger('absl')
  held = []

  def hold(record):
    held.append(record)
    return False

  previous = sys.unraisablehook

  def hook(unraisable):
    if not (isinstance(unraisable.exc_value, RuntimeError) and
            str(unraisable.exc_value) == 'Event loop is closed'):
      previous(unraisable)

  logger.addFilter(hold)
  sys.unraisablehook = hook
  failed = False
  try:
    yield
  except Exception as e:  # pylint: disable=broad-except
    failed = disk_error(e) is not None
    raise
  finally:
    logger.removeFilter(hold)
    if not failed:
      sys.unraisablehook = previous
      for record in held:
        logger.handle(record)


def load_round(round_dir: str) -> Dict[str, Any]:
  """The arrays of a finished round as numpy (None leaves dropped).

  Raises:
    CheckpointError: the checkpoint is missing or unreadable.
  """
  path = os.path.abspath(os.path.join(round_dir, CHECKPOINT))
  checkpointer = ocp.StandardCheckpointer()
  try:
    return checkpointer.restore(path)
  except Exception as e:  # pylint: disable=broad-except
    raise CheckpointError(
        f'{path}: cannot read this checkpoint ({type(e).__name__}); delete '
        f'{os.path.join(round_dir, ROWS)} to train the round again') from e
  finally:
    checkpointer.close()


def finished_rows(round_dir: str) -> Optional[List[Dict[str, Any]]]:
  """The round's result rows if it finished, else None.

  Raises:
    files.CorruptFileError: rows.json is not JSON, or not result rows.
  """
  path = os.path.join(round_dir, ROWS)
  if not os.path.exists(path):
    return None
  rows = files.read_json(path)
  if not isinstance(rows, list):
    raise files.CorruptFileError(f'{path}: not a list of result rows; delete '
                                 'it to train the round again')
  for i, row in enumerate(rows, 1):
    results.check_row(row, f'{path}: row {i}')
  return rows
