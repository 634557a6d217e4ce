"""Tests of the domain registry, deduplication and the balanced split."""

import collections
import random

import pytest

from lottery_jax.data import domains
from lottery_jax.data.input_pipeline import Review


def _reviews(n_neg, n_pos, prefix='r'):
  return ([Review(f'{prefix} negative number {i}', '', 1.0, 0)
           for i in range(n_neg)] +
          [Review(f'{prefix} positive number {i}', '', 5.0, 1)
           for i in range(n_pos)])


def test_dedup_key_ignores_case_punctuation_and_tokenisation():
  assert domains.dedup_key("Don't buy IT!") == domains.dedup_key(
      'do n\'t buy it')
  assert domains.dedup_key('A b') == 'ab'
  assert len(domains.dedup_key('x' * 500)) == 150
  # Only the first 150 letters and digits count.
  assert domains.dedup_key('y' * 150 + 'a') == domains.dedup_key(
      'y' * 150 + 'b')


def test_split_sizes_default_is_largest_balanced_2_1_1():
  assert domains.split_sizes(1951, {}, 'home') == {
      'train': 974, 'valid': 487, 'test': 487}
  assert domains.split_sizes(8, {'train': 0}, 'x') == {
      'train': 4, 'valid': 2, 'test': 2}


def test_split_sizes_explicit_and_errors():
  assert domains.split_sizes(100, {'train': 40, 'valid': 20, 'test': 20},
                             'x') == {'train': 20, 'valid': 10, 'test': 10}
  with pytest.raises(domains.DataError, match=r"'home'.*train_size"):
    domains.split_sizes(100, {'train': 200, 'valid': 2, 'test': 2}, 'home')
  with pytest.raises(domains.DataError, match='even'):
    domains.split_sizes(100, {'train': 3, 'valid': 2, 'test': 2}, 'x')
  with pytest.raises(domains.DataError, match='too few'):
    domains.split_sizes(3, {}, 'tiny')


def test_balanced_split_is_balanced_disjoint_and_2_1_1():
  records = _reviews(103, 150)
  splits = domains.balanced_split(records, data_seed=0)
  assert [len(splits[s]) for s in domains.SPLITS] == [100, 50, 50]
  for split in splits.values():
    counts = collections.Counter(r.label for r in split)
    assert counts[0] == counts[1]
  texts = [r.text for s in splits.values() for r in s]
  assert len(texts) == len(set(texts))


def test_balanced_split_depends_only_on_data_and_seed():
  records = _reviews(40, 60)
  shuffled = list(records)
  random.Random(7).shuffle(shuffled)
  a = domains.balanced_split(records, data_seed=3)
  b = domains.balanced_split(shuffled, data_seed=3)
  c = domains.balanced_split(records, data_seed=4)
  assert a == b
  assert a['train'] != c['train']


def test_read_domain_counts_duplicates_neutral_and_skips(tmp_path):
  a = tmp_path / 'a.task.train'
  a.write_text('1\tGreat product, works!\n0\tbroken on day one\n'
               'x\tbad label line\n', encoding='utf-8')
  b = tmp_path / 'b.json'
  b.write_text(
      '{"reviewText": "great product works", "overall": 5.0}\n'  # duplicate
      '{"reviewText": "it is fine", "overall": 3.0}\n'  # neutral
      '{"reviewText": "awful", "overall": 1.0}\n'
      '{"reviewText": "no rating"}\n', encoding='utf-8')
  records, report = domains.read_domain([str(a), str(b)])
  assert [r.text for r in records] == [
      'Great product, works!', 'broken on day one', 'awful']
  assert report.records_read == 5
  assert report.duplicates_removed == 1
  assert report.neutral_dropped == 1
  assert report.skipped == {'bad_label': 1, 'missing_rating': 1}
  assert report.available == {'negative': 2, 'positive': 1}


def test_read_domain_max_per_class_stops_early(tmp_path):
  path = tmp_path / 'x.task.train'
  path.write_text(''.join(f'{i % 2}\treview {i}\n' for i in range(1000)))
  records, report = domains.read_domain([str(path)], max_per_class=5)
  assert collections.Counter(r.label for r in records) == {0: 5, 1: 5}
  assert report.records_read == 10


def test_domain_files_layout_override_and_errors(tiny_data_dir, tmp_path):
  files = domains.domain_files('movies', tiny_data_dir)
  names = sorted(f.split('reviews/')[1] for f in files)
  assert names == ['blitzer/dvd/negative.review', 'blitzer/dvd/positive.review',
                   'fdu_mtl/dvd.task.test', 'fdu_mtl/dvd.task.train',
                   'fdu_mtl/video.task.test', 'fdu_mtl/video.task.train',
                   'webis_cls10/dvd/train.review']
  own = tmp_path / 'Books.json.gz'
  own.write_bytes(b'')
  assert domains.domain_files('books', tiny_data_dir,
                              patterns=[str(own)]) == [str(own)]
  with pytest.raises(domains.DataError, match="unknown domain 'toys'"):
    domains.domain_files('toys', tiny_data_dir)
  with pytest.raises(domains.DataError, match='no file matches'):
    domains.domain_files('books', str(tmp_path / 'nowhere'))


def test_real_domains_have_expected_sizes(real_data_dir):
  for name, low, high in (('electronics', 1850, 2000), ('home', 1900, 2000)):
    records, report = domains.read_domain(
        domains.domain_files(name, real_data_dir))
    assert low <= min(report.available.values()) <= high, report
    assert report.duplicates_removed > 0
