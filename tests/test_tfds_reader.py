"""Reading a prepared TFDS amazon_us_reviews copy (needs tensorflow-datasets).

The reader is lottery_jax.data.tfds_reader, used through
`input_pipeline.read_reviews` as callers use it.

The test prepares a real TFDS dataset in tmp_path with a tiny builder whose
features copy those of TFDS `amazon_us_reviews` (Books_v1_00), then reads it
with `read_reviews`.
"""

import collections
import os

import pytest

tfds = pytest.importorskip('tensorflow_datasets')
np = pytest.importorskip('numpy')

from lottery_jax.data import input_pipeline  # pylint: disable=g-import-not-at-top


def _row(rating, headline, body, review_id):
  return {
      'marketplace': 'US', 'customer_id': '1', 'review_id': review_id,
      'product_id': 'P1', 'product_parent': '2', 'product_title': 'A book',
      'product_category': 'Books', 'star_rating': rating, 'helpful_votes': 0,
      'total_votes': 0, 'vine': 'N', 'verified_purchase': 'Y',
      'review_headline': headline, 'review_body': body,
      'review_date': '2015-08-31',
  }


_SPLITS = {
    'train': [
        _row(5, 'Great', 'Loved it &amp; more<br />again', 'r1'),
        _row(1, 'Bad', 'Hated it', 'r2'),
        _row(3, 'Meh', 'So-so', 'r3'),
        _row(0, 'Zero', 'Out of range', 'r4'),
        _row(4, 'No body', '', 'r5'),
        _row(2, 'Caf\u00e9', 'Not great, caf\u00e9 \u2713', 'r6'),
    ],
    'test': [
        _row(9, 'Nine', 'Out of range too', 'r7'),
        _row(4, '', 'Good enough', 'r8'),
    ],
    # More than one read batch (1024 records).
    'extra': [_row(5, f'T{i}', f'Body {i}', f'e{i}') for i in range(1030)],
}


class AmazonUsReviews(tfds.core.GeneratorBasedBuilder,
                      skip_registration=True):
  """A tiny stand-in for TFDS amazon_us_reviews, with the same features."""

  name = 'amazon_us_reviews'
  VERSION = tfds.core.Version('0.1.0')
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name='Books_v1_00')]

  def _info(self):
    text = tfds.features.Text()
    return tfds.core.DatasetInfo(
        builder=self,
        features=tfds.features.FeaturesDict({'data': {
            'marketplace': text, 'customer_id': text, 'review_id': text,
            'product_id': text, 'product_parent': text,
            'product_title': text, 'product_category': text,
            'star_rating': np.int32, 'helpful_votes': np.int32,
            'total_votes': np.int32,
            'vine': tfds.features.ClassLabel(names=['Y', 'N']),
            'verified_purchase': tfds.features.ClassLabel(names=['Y', 'N']),
            'review_headline': text, 'review_body': text, 'review_date': text,
        }}))

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download.
    return {name: self._generate_examples(rows)
            for name, rows in _SPLITS.items()}

  def _generate_examples(self, rows):
    for row in rows:
      yield row['review_id'], {'data': row}


def _prepare(builder_cls, data_dir, file_format):
  builder = builder_cls(data_dir=str(data_dir), config='Books_v1_00',
                        file_format=file_format)
  builder.download_and_prepare(download_dir=str(data_dir / 'downloads'))
  found = [root for root, _, files in os.walk(data_dir)
           if 'dataset_info.json' in files]
  assert len(found) == 1, found
  return found[0]


# TFRecord is the TFDS default (and how amazon_us_reviews copies are stored);
# it needs TensorFlow. array_record is read without TensorFlow.
@pytest.fixture(scope='module', params=['tfrecord', 'array_record'])
def prepared_dir(request, tmp_path_factory):
  if request.param == 'tfrecord':
    pytest.importorskip('tensorflow')
  path = _prepare(AmazonUsReviews, tmp_path_factory.mktemp(request.param),
                  request.param)
  assert path.endswith(os.path.join('amazon_us_reviews', 'Books_v1_00',
                                    '0.1.0'))
  return path


def test_detect_format_tfds(prepared_dir):
  assert input_pipeline.detect_format(prepared_dir) == 'tfds'


def test_read_reviews_from_prepared_tfds(prepared_dir):
  skipped = collections.Counter()
  reviews = list(input_pipeline.read_reviews(prepared_dir, skipped))
  Review = input_pipeline.Review
  # Splits in name order ('extra', 'test', 'train'); TFDS stores a split's
  # examples in the order of their keys' hashes, so compare sets per split.
  extra_records = {Review(f'Body {i}', f'T{i}', 5.0, 1) for i in range(1030)}
  test_records = {Review('Good enough', '', 4.0, 1)}
  train_records = {
      Review('Loved it & more again', 'Great', 5.0, 1),
      Review('Hated it', 'Bad', 1.0, 0),
      Review('So-so', 'Meh', 3.0, None),
      Review('Not great, caf\u00e9 \u2713', 'Caf\u00e9', 2.0, 0),
  }
  assert len(reviews) == 1035
  assert set(reviews[:1030]) == extra_records
  assert set(reviews[1030:1031]) == test_records
  assert set(reviews[1031:]) == train_records
  assert all(isinstance(r.text, str) and isinstance(r.title, str)
             for r in reviews)
  assert skipped == {input_pipeline.BAD_RATING: 2,
                     input_pipeline.EMPTY_TEXT: 1}
  # The order is deterministic: a second read gives the same sequence.
  assert list(input_pipeline.read_reviews(prepared_dir)) == reviews


class NotReviews(AmazonUsReviews, skip_registration=True):
  """A TFDS dataset without the amazon_us_reviews features."""

  name = 'not_reviews'

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self, features=tfds.features.FeaturesDict({
            'data': {'review_body': tfds.features.Text()}}))

  def _generate_examples(self, rows):
    for row in rows:
      yield row['review_id'], {'data': {'review_body': row['review_body']}}


def test_other_tfds_dataset_is_an_error(tmp_path):
  path = _prepare(NotReviews, tmp_path, 'array_record')
  with pytest.raises(input_pipeline.ReviewFileError,
                     match='not an amazon_us_reviews dataset'):
    list(input_pipeline.read_reviews(path))
