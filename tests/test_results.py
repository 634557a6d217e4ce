"""Tests of lottery_jax.results: rows on disk and their summary, and the one
line that names a file whose rows have other keys."""

import json
import os

import pytest

from lottery_jax import checkpoints
from lottery_jax import files
from lottery_jax import results


def _row(seed=0, **changes):
  row = {k: 0 for k in results.COLUMNS}
  row.update(experiment='tickets', source='home', target='home',
             strategy='full_model', seed=seed, test_accuracy=0.5 + seed)
  row.update(changes)
  return row


def test_rows_round_trip_without_extra_keys(tmp_path):
  path = str(tmp_path / 'results.jsonl')
  results.write_rows(path, [_row(0, note='dropped'), _row(1)])
  assert results.read_rows(path) == [_row(0), _row(1)]
  [summary] = results.summarize(results.read_rows(path))
  assert summary['seeds'] == 2 and summary['test_accuracy_mean'] == 1.0


def test_read_rows_names_the_file_line_and_keys(tmp_path):
  path = tmp_path / 'results.jsonl'
  renamed = _row(1)
  renamed['best'] = renamed.pop('best_epoch')
  renamed['epochs'] = renamed.pop('epochs_run')
  path.write_text(json.dumps(_row(0)) + '\n\n' + json.dumps(renamed) + '\n')
  with pytest.raises(results.RowError) as e:
    results.read_rows(str(path))
  assert str(e.value) == (
      f'{path}:3: a result row without best_epoch, epochs_run (it has best, '
      'epochs instead); was it written by another version of lottery_jax?')
  assert isinstance(e.value, files.CorruptFileError)  # runs.USER_ERRORS


def test_read_rows_extra_keys_are_kept(tmp_path):
  path = tmp_path / 'results.jsonl'
  path.write_text(json.dumps(_row(note='x')) + '\n')
  assert results.read_rows(str(path)) == [_row(note='x')]


def test_a_row_that_is_not_an_object(tmp_path):
  path = tmp_path / 'results.jsonl'
  path.write_text('[1, 2]\n')
  with pytest.raises(results.RowError, match=r'results.jsonl:1: not a '
                     r'result row \(a JSON object with the keys experiment,'):
    results.read_rows(str(path))


def test_a_json_error_is_named_before_missing_keys(tmp_path):
  path = tmp_path / 'results.jsonl'
  path.write_text('{"experiment": "tickets"}\n{"experiment": \n')
  with pytest.raises(files.CorruptFileError, match='results.jsonl:2: not a '
                     'JSON row'):
    results.read_rows(str(path))


def test_write_rows_rejects_and_writes_nothing(tmp_path):
  path = str(tmp_path / 'results.jsonl')
  bad = _row(1)
  del bad['wall_time']
  with pytest.raises(results.RowError) as e:
    results.write_rows(path, [_row(0), bad])
  assert str(e.value) == (
      f'{path}: row 2 to write: a result row without wall_time; was it '
      'written by another version of lottery_jax?')
  assert os.listdir(tmp_path) == []


def test_summarize_names_the_row():
  bad = _row(1)
  del bad['round']
  with pytest.raises(results.RowError, match='^result row 2: a result row '
                     'without round;'):
    results.summarize([_row(0), bad])


def test_finished_rows_checks_rows_json(tmp_path):
  round_dir = tmp_path / 'round_001'
  round_dir.mkdir()
  (round_dir / 'rows.json').write_text(json.dumps([{'seed': 0}]))
  with pytest.raises(results.RowError, match=r'rows.json: row 1: a result '
                     r'row without experiment, source'):
    checkpoints.finished_rows(str(round_dir))
  (round_dir / 'rows.json').write_text('{}')
  with pytest.raises(files.CorruptFileError, match='rows.json: not a list'):
    checkpoints.finished_rows(str(round_dir))
