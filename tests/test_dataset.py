"""Tests of data preparation: splits, encoding, report, caching, errors."""

import gzip
import json
import logging
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from lottery_jax import config as config_lib
from lottery_jax.data import dataset
from lottery_jax.data import domains
from lottery_jax.data import vocab

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _small_config(files=None, **overrides):
  config = config_lib.data_config()
  config.vocab_size = 200
  for k, v in overrides.items():
    setattr(config, k, v)
  for domain, patterns in (files or {}).items():
    config.files[domain] = patterns
  return config_lib.data_settings(config)


@pytest.fixture
def prepared(tiny_data_dir, tmp_path):
  workdir = str(tmp_path / 'out')
  report = dataset.prepare(tiny_data_dir, workdir, _small_config())
  return workdir, report


def test_prepare_writes_balanced_disjoint_splits(prepared):
  workdir, report = prepared
  assert set(report['domains']) == set(domains.DOMAINS)
  for name in domains.DOMAINS:
    texts = {}
    for split in domains.SPLITS:
      data = dataset.load_split_arrays(workdir, name, split)
      counts = report['domains'][name]['splits'][split]
      assert counts['negative'] == counts['positive'] == np.sum(
          data['label'] == 0) == np.sum(data['label'] == 1)
      assert len(data['length']) == counts['examples']
      texts[split] = set()
    raw = dataset._read_texts(workdir, name)
    for split in domains.SPLITS:
      texts[split] = {domains.dedup_key(r['text']) for r in raw[split]}
    assert not texts['train'] & texts['valid']
    assert not texts['train'] & texts['test']
    assert not texts['valid'] & texts['test']
    sizes = [report['domains'][name]['splits'][s]['examples']
             for s in domains.SPLITS]
    assert sizes[0] == 2 * sizes[1] == 2 * sizes[2]


def test_report_counts(prepared, tiny_data_dir):
  workdir, report = prepared
  with open(os.path.join(workdir, 'data_report.json')) as f:
    assert json.load(f) == report
  movies = report['domains']['movies']
  assert movies['records_read'] > 0
  assert movies['neutral_dropped'] > 0  # Webis files carry 3-star reviews.
  assert set(movies['skipped']) <= {'invalid_utf8'}
  assert 'fdu_mtl/video.task.train' in movies['files']
  p = movies['splits']['train']['length_percentiles']
  assert 0 < p['p50'] <= p['p90'] <= p['p99'] <= p['max']


def test_encoded_split_decodes_to_the_split_text(prepared):
  workdir, _ = prepared
  sp = vocab.load_vocab(os.path.join(workdir, 'spm.model'))
  raw = dataset._read_texts(workdir, 'books')['valid']
  batch = dataset.load_split(workdir, 'books', 'valid', max_length=500)
  assert batch['tokens'].dtype == np.int32
  assert batch['tokens'].shape == (len(raw), 500)
  for i in (0, len(raw) - 1):
    n = batch['length'][i]
    assert (batch['tokens'][i, n:] == 0).all()
    assert vocab.decode(sp, batch['tokens'][i, :n]) == raw[i]['text'].lower()
    assert batch['label'][i] == raw[i]['label']


def test_second_run_reuses_and_changes_invalidate(prepared, tiny_data_dir):
  workdir, report = prepared
  spm_path = os.path.join(workdir, 'spm.model')
  mtime = os.stat(spm_path).st_mtime_ns
  again = dataset.prepare(tiny_data_dir, workdir, _small_config())
  assert os.stat(spm_path).st_mtime_ns == mtime
  assert again['domains'] == report['domains']
  # A different data seed re-splits and so retrains the vocabulary.
  other = dataset.prepare(tiny_data_dir, workdir, _small_config(data_seed=1))
  assert os.stat(spm_path).st_mtime_ns != mtime
  assert other['domains']['books']['splits']['train']['examples'] == (
      report['domains']['books']['splits']['train']['examples'])
  leftovers = [f for _, _, files in os.walk(workdir) for f in files
               if '.tmp-' in f]
  assert not leftovers


def test_split_does_not_depend_on_anything_but_data_and_seed(
    tiny_data_dir, tmp_path):
  a = dataset.prepare(tiny_data_dir, str(tmp_path / 'a'), _small_config())
  b = dataset.prepare(tiny_data_dir, str(tmp_path / 'b'), _small_config())
  for name in domains.DOMAINS:
    for split in domains.SPLITS:
      x = dataset.load_split_arrays(str(tmp_path / 'a'), name, split)
      y = dataset.load_split_arrays(str(tmp_path / 'b'), name, split)
      for key in x:
        np.testing.assert_array_equal(x[key], y[key])
  assert a['domains'] == b['domains']


def test_user_files_by_config(tiny_data_dir, tmp_path):
  own = tmp_path / 'Books.json'
  own.write_text(''.join(
      json.dumps({'reviewText': f'book review {i} ' + ('good' if i % 2 else
                                                       'bad'),
                  'overall': 5.0 if i % 2 else 1.0}) + '\n'
      for i in range(40)))
  config = _small_config(domains='books,home', files={'books': str(own)})
  report = dataset.prepare(tiny_data_dir, str(tmp_path / 'out'), config)
  assert report['domains']['books']['files'] == [str(own)]
  assert report['domains']['books']['splits']['train']['examples'] == 20


@pytest.mark.parametrize('overrides, message', [
    ({'domains': 'books,toys'}, "unknown domain 'toys'"),
    ({'train_size': 10_000, 'valid_size': 2, 'test_size': 2},
     'train_size'),
    ({'layout': 'nope'}, 'layout'),
])
def test_bad_settings_stop_before_work(tiny_data_dir, tmp_path, overrides,
                                       message):
  workdir = tmp_path / 'out'
  with pytest.raises(domains.DataError, match=message):
    dataset.prepare(tiny_data_dir, str(workdir), _small_config(**overrides))
  assert not (workdir / 'spm.model').exists()


def test_missing_data_dir(tmp_path, monkeypatch):
  monkeypatch.delenv(dataset.ENV_DATA_DIR, raising=False)
  with pytest.raises(domains.DataError, match='--data_dir'):
    dataset.prepare(None, str(tmp_path), _small_config())
  with pytest.raises(domains.DataError, match='not a directory'):
    dataset.prepare(str(tmp_path / 'x'), str(tmp_path), _small_config())


def _run(*args, env=None):
  return subprocess.run([sys.executable, '-m', *args], cwd=REPO,
                        capture_output=True, text=True, env=env, timeout=300)


def test_entry_point_errors_are_one_clear_line(tiny_data_dir, tmp_path):
  (tmp_path / 'bad').mkdir()
  (tmp_path / 'bad' / 'fdu_mtl').mkdir()
  (tmp_path / 'bad' / 'fdu_mtl' / 'music.task.train').write_text(
      'not a review file\n')
  result = _run('experiments.prepare_data', f'--data_dir={tmp_path / "bad"}',
                f'--workdir={tmp_path / "out"}', '--config.data.domains=cds',
                '--config.data.files.cds=fdu_mtl/music.task.train')
  assert result.returncode == 1
  assert 'Traceback' not in result.stderr
  assert result.stderr.strip().splitlines()[-1].startswith(
      'prepare_data: error:')
  assert 'music.task.train' in result.stderr
  result = _run('experiments.prepare_data', f'--data_dir={tiny_data_dir}',
                f'--workdir={tmp_path / "out"}',
                '--config.data.domains=books,toys')
  assert result.returncode == 1 and 'Traceback' not in result.stderr
  assert "unknown domain 'toys'" in result.stderr


def test_real_data_prepare_and_divergence(real_data_dir, tmp_path_factory):
  """The whole pipeline on the real reviews, as a user runs it."""
  workdir = str(tmp_path_factory.mktemp('real'))
  start = time.time()
  result = _run('experiments.prepare_data', f'--data_dir={real_data_dir}',
                f'--workdir={workdir}')
  cold = time.time() - start
  assert result.returncode == 0, result.stderr
  report = dataset.read_json(os.path.join(workdir, 'data_report.json'))
  for name in ('electronics', 'home'):
    train = report['domains'][name]['splits']['train']
    assert 1800 <= train['examples'] <= 2000
  for name in ('books', 'movies'):
    assert report['domains'][name]['splits']['train']['examples'] > 3000
  assert report['domains']['movies']['skipped'] == {'invalid_utf8': 1}
  # The linear baseline of every domain: what the real data supports.
  assert 'Linear baseline' in result.stdout
  fitted = dataset.read_json(os.path.join(workdir, 'baselines.json'))
  assert sorted(fitted) == sorted(report['domains'])
  for entry in fitted.values():
    assert entry['result']['test_accuracy'] > 0.8
  result = _run('experiments.prepare_data', f'--data_dir={real_data_dir}',
                f'--workdir={workdir}')
  assert result.returncode == 0
  assert report == dataset.read_json(
      os.path.join(workdir, 'data_report.json')) | {
          'seconds': report['seconds']}
  result = _run('experiments.divergence', f'--workdir={workdir}')
  assert result.returncode == 0, result.stderr
  jsd = np.array(dataset.read_json(
      os.path.join(workdir, 'divergence.json'))['jsd'])
  np.testing.assert_array_equal(jsd, jsd.T)
  np.testing.assert_array_equal(np.diag(jsd), 0)
  assert os.path.getsize(os.path.join(workdir, 'divergence.png')) > 1000
  del cold


def test_divergence_does_not_depend_on_truncation(tiny_data_dir, tmp_path):
  from lottery_jax.data import divergence
  short = str(tmp_path / 'short')
  dataset.prepare(tiny_data_dir, short, _small_config(max_length=8))
  full = str(tmp_path / 'full')
  dataset.prepare(tiny_data_dir, full, _small_config())
  names = list(domains.DOMAINS)
  a = divergence.domain_divergence(short, names)['jsd']
  b = divergence.domain_divergence(full, names)['jsd']
  np.testing.assert_allclose(a, b, atol=1e-12)
  assert np.max(a) > 0


def test_retrained_vocabulary_removes_stale_splits(tiny_data_dir, tmp_path):
  workdir = str(tmp_path / 'out')
  dataset.prepare(tiny_data_dir, workdir, _small_config())
  assert os.path.exists(dataset.split_path(workdir, 'cds', 'train'))
  dataset.prepare(tiny_data_dir, workdir,
                  _small_config(domains='books,home', vocab_size=150))
  assert not os.path.exists(dataset.split_path(workdir, 'cds', 'train'))
  assert os.path.exists(dataset.split_path(workdir, 'home', 'train'))


@pytest.mark.parametrize('damage', ['cut', 'not_gzip', 'not_rows'])
def test_damaged_split_texts_are_rebuilt_with_one_warning(
    prepared, tiny_data_dir, caplog, damage):
  # A cut file was an EOFError that named no file.
  workdir, report = prepared
  path = os.path.join(workdir, 'splits', 'books.json.gz')
  with open(path, 'rb') as f:
    whole = f.read()
  with open(path, 'wb') as f:
    f.write({'cut': whole[:len(whole) // 2], 'not_gzip': b'{"split": 1}\n',
             'not_rows': gzip.compress(b'[1, 2]\n')}[damage])
  reason = {'cut': 'EOFError', 'not_gzip': 'BadGzipFile',
            'not_rows': 'TypeError'}[damage]
  # Another vocabulary size: the vocabulary stage reads every domain's texts.
  with caplog.at_level(logging.WARNING):
    again = dataset.prepare(tiny_data_dir, workdir,
                            _small_config(vocab_size=190))
  assert [r.getMessage() for r in caplog.records] == [
      f'{path}: cut short or corrupt ({reason}); rebuilding it']
  with open(path, 'rb') as f:
    assert f.read() == whole
  assert again['domains']['books']['splits']['train']['examples'] == (
      report['domains']['books']['splits']['train']['examples'])


def test_unreadable_split_texts_name_the_file(tmp_path):
  (tmp_path / 'splits').mkdir()
  (tmp_path / 'splits' / 'home.json.gz').write_bytes(b'\x1f\x8b\x08')
  with pytest.raises(domains.DataError) as e:
    dataset._read_texts(str(tmp_path), 'home')
  assert str(e.value) == (f'{tmp_path}/splits/home.json.gz: cut short or '
                          'corrupt (EOFError)')
