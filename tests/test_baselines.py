"""Tests of the TF-IDF logistic-regression baseline: fit, choice of C, cache
and table."""

import gzip
import json
import os
import shutil

import pytest

from lottery_jax import baselines
from lottery_jax import config as config_lib
from lottery_jax.data import dataset
from lottery_jax.data import domains

GRID = (0.25, 1.0, 4.0, 16.0, 64.0)


@pytest.fixture(scope='module')
def prepared(tiny_data_dir_shared, tmp_path_factory):
  """A prepared work directory of the tiny synthetic domains (read only)."""
  config = config_lib.data_config()
  config.vocab_size = 200
  workdir = str(tmp_path_factory.mktemp('baselines') / 'prepared')
  dataset.prepare(tiny_data_dir_shared, workdir,
                  config_lib.data_settings(config))
  return workdir


@pytest.fixture
def workdir(prepared, tmp_path):
  """A copy of `prepared` that a test may change."""
  path = str(tmp_path / 'work')
  shutil.copytree(prepared, path)
  return path


def test_words_give_the_label_and_c_is_from_the_grid(prepared):
  result = baselines.linear_baseline(prepared, 'books', grid=GRID)
  # The synthetic sentiment words decide the label: far above chance (0.5).
  assert result['test_accuracy'] >= 0.8
  assert result['valid_accuracy'] >= 0.8
  assert result['C'] in GRID
  texts = baselines.read_split_texts(prepared, 'books')
  assert result['train_size'] == len(texts['train'][0]) > 0
  assert result['features'] > 0
  assert set(result) >= {'valid_accuracy', 'test_accuracy', 'C',
                         'train_size', 'features', 'seconds'}


def test_c_is_chosen_by_validation_accuracy(prepared):
  result = baselines.linear_baseline(prepared, 'electronics', grid=GRID)
  by_c = result['valid_by_C']
  assert sorted(map(float, by_c)) == sorted(GRID)
  assert result['valid_accuracy'] == max(by_c.values())
  # Ties go to the smallest C.
  best = [float(c) for c, a in by_c.items() if a == max(by_c.values())]
  assert result['C'] == min(best)
  # Deterministic.
  again = baselines.linear_baseline(prepared, 'electronics', grid=GRID)
  assert {k: v for k, v in again.items() if k != 'seconds'} == {
      k: v for k, v in result.items() if k != 'seconds'}


def test_a_one_value_grid_is_that_value(prepared):
  result = baselines.linear_baseline(prepared, 'home', grid=(2.0,))
  assert result['C'] == 2.0
  assert list(result['valid_by_C']) == ['2']


@pytest.mark.parametrize('grid', [(), (1.0, 0.0), (-1.0,)])
def test_a_bad_grid_is_refused(prepared, grid):
  with pytest.raises(ValueError, match='grid'):
    baselines.linear_baseline(prepared, 'books', grid=grid)


def test_a_missing_domain_names_the_file(prepared, tmp_path):
  with pytest.raises(domains.DataError, match='nowhere.json.gz'):
    baselines.all_baselines(prepared, ['nowhere'])
  with pytest.raises(domains.DataError, match='books.json.gz'):
    baselines.linear_baseline(str(tmp_path), 'books')


def _refit_fails(*args, **kwargs):
  raise AssertionError('refitted a cached baseline')


def _rewrite_splits(workdir, domain, keep):
  """Rewrites a domain's split file with the rows that `keep(row)` keeps."""
  path = os.path.join(workdir, 'splits', f'{domain}.json.gz')
  with gzip.open(path, 'rt', encoding='utf-8') as f:
    rows = [json.loads(line) for line in f]
  with gzip.open(path, 'wt', encoding='utf-8') as f:
    for row in rows:
      if keep(row):
        f.write(json.dumps(row) + '\n')


def test_the_cache_is_read_and_a_changed_split_recomputes(workdir,
                                                          monkeypatch):
  names = ['books', 'home']
  first = baselines.all_baselines(workdir, names, grid=GRID)
  assert list(first) == names
  cache_path = os.path.join(workdir, baselines.CACHE_FILE)
  with open(cache_path, 'rb') as f:
    written = f.read()
  mtime = os.stat(cache_path).st_mtime_ns

  # Nothing changed: the cached results, no fit, no write.
  with monkeypatch.context() as m:
    m.setattr(baselines, 'linear_baseline', _refit_fails)
    assert baselines.all_baselines(workdir, names, grid=GRID) == first
  assert os.stat(cache_path).st_mtime_ns == mtime
  with open(cache_path, 'rb') as f:
    assert f.read() == written

  # A changed split of one domain refits that domain only.
  # Drops the first five training reviews.
  drop = iter(range(5))
  _rewrite_splits(workdir, 'home', lambda r: r['split'] != 'train' or next(
      drop, None) is None)
  fitted = []
  real = baselines.linear_baseline
  monkeypatch.setattr(baselines, 'linear_baseline',
                      lambda w, d, **kw: fitted.append(d) or real(w, d, **kw))
  second = baselines.all_baselines(workdir, names, grid=GRID)
  assert fitted == ['home']
  assert second['books'] == first['books']
  assert second['home']['train_size'] == first['home']['train_size'] - 5

  # Another grid is another key.
  baselines.all_baselines(workdir, ['books'], grid=(1.0,))
  assert fitted == ['home', 'books']


def test_table_has_each_domain_and_the_gap():
  results = {'books': {'test_accuracy': 0.85, 'C': 4.0},
             'home': {'test_accuracy': 0.881, 'C': 0.25}}
  table = baselines.baseline_table(results)
  lines = table.splitlines()
  assert len(lines) == 4 and 'gap' not in table
  assert lines[2] == '| books | 0.850 | 4 |'
  assert lines[3] == '| home | 0.881 | 0.25 |'

  table = baselines.baseline_table(results, {'books': (0.87, 0.004)})
  lines = table.splitlines()
  assert 'CNN full model' in lines[0] and 'gap (points)' in lines[0]
  assert lines[2] == '| books | 0.850 | 4 | 0.870 +- 0.004 | +2.0 |'
  assert lines[3] == '| home | 0.881 | 0.25 | - | - |'
  assert len({line.count('|') for line in lines}) == 1
