"""Tickets on disk with orbax: one directory per round, written atomically.

orbax writes a checkpoint under a temporary name and renames it when it is
complete, so a run killed at any moment (kill -9 included) leaves either a
whole round or none. A round counts as finished once its `rows.json` (written
after the checkpoint) exists; a resumed run skips finished rounds.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, Dict, List, Optional

import orbax.checkpoint as ocp

from lottery_jax import files

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
  """A round directory whose checkpoint cannot be read."""


def save_round(round_dir: str, tree: Optional[Dict[str, Any]],
               rows: List[Dict[str, Any]]) -> None:
  """Saves a finished round: the arrays (unless None), then the result rows
  that mark it finished."""
  os.makedirs(round_dir, exist_ok=True)
  # A save killed midway leaves orbax's temporary directory: remove it.
  for name in os.listdir(round_dir):
    if name.startswith(CHECKPOINT) and name != CHECKPOINT:
      shutil.rmtree(os.path.join(round_dir, name), ignore_errors=True)
  if tree is not None:
    path = os.path.abspath(os.path.join(round_dir, CHECKPOINT))
    checkpointer = ocp.StandardCheckpointer()
    try:
      checkpointer.save(path, _drop_none(tree), force=True)
      checkpointer.wait_until_finished()
    finally:
      checkpointer.close()
  files.write_json(os.path.join(round_dir, ROWS), rows)


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
  """The round's result rows if it finished, else None."""
  path = os.path.join(round_dir, ROWS)
  if not os.path.exists(path):
    return None
  return files.read_json(path)
