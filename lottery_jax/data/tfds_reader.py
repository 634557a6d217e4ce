"""Reviews from a prepared TFDS ``amazon_us_reviews`` directory.

This module owns the one review source that is not a file: a dataset that
tensorflow-datasets has prepared (``tfds`` in `file_formats.FORMATS`). It
checks that the directory holds the amazon_us_reviews features and reads its
splits in name order. A TFRecord copy (the TFDS default) is read through
TensorFlow, in batches; an array_record or parquet copy is read without it.
tensorflow-datasets (and TensorFlow for TFRecord) are imported only here, and
only when such a directory is read.
"""

from __future__ import annotations

import collections
from typing import Callable, Iterator

from lottery_jax.data import reviews
from lottery_jax.data.reviews import ReviewFileError

_FIELDS = ('star_rating', 'review_headline', 'review_body')
_BATCH = 1024
_INSTALL = "(pip install 'lottery_jax[tfds]')"

# examples(split) -> the {field: value} of each of the split's records.
_Examples = Callable[[str], Iterator[dict]]


def _load_builder(path: str):
  """The tfds module and the dataset's builder, its features checked.

  Raises:
    ReviewFileError: tensorflow-datasets is missing, the directory cannot be
      read, or the dataset is not amazon_us_reviews.
  """
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ReviewFileError(
        f'{path}: a TFDS dataset, but tensorflow-datasets is not installed '
        + _INSTALL) from None
  try:
    builder = tfds.builder_from_directory(path)
    features = builder.info.features
    ok = 'data' in features and all(k in features['data'] for k in _FIELDS)
  except Exception as e:  # pylint: disable=broad-except
    raise ReviewFileError(f'{path}: cannot read this TFDS dataset: {e}') from e
  if not ok:
    raise ReviewFileError(
        f'{path}: not an amazon_us_reviews dataset (needs the features '
        f'{", ".join("data/" + k for k in _FIELDS)})')
  return tfds, builder


def _split_examples(tfds, builder, path: str) -> _Examples:
  """The examples of each split, read without TensorFlow when possible.

  Raises:
    ReviewFileError: a TFRecord copy, but TensorFlow is not installed.
  """
  try:
    sources = builder.as_data_source()  # {split: examples}; no TensorFlow.
  except (NotImplementedError, ValueError):  # A TFRecord copy.
    try:
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise ReviewFileError(
          f'{path}: a TFRecord TFDS dataset, but TensorFlow is not installed '
          + _INSTALL) from None
    try:
      tf.config.set_visible_devices([], 'GPU')  # Leave the GPUs to JAX.
    except RuntimeError:  # TensorFlow has already set up its devices.
      pass
    sources = None

  def examples(split):
    if sources is not None:
      source = sources[split]
      return (example['data'] for i in range(0, len(source), _BATCH)
              for example in source.__getitems__(
                  range(i, min(i + _BATCH, len(source)))))
    batches = tfds.as_numpy(builder.as_dataset(split=split,
                                               batch_size=_BATCH))
    return ({k: batch['data'][k][i] for k in _FIELDS} for batch in batches
            for i in range(len(batch['data']['star_rating'])))

  return examples


def _text(value) -> str:
  # Text features come back as bytes from TensorFlow, str from a data source.
  return reviews.decode_utf8(value) if isinstance(value, bytes) else value


def read_tfds(path: str,
              skipped: collections.Counter) -> Iterator[reviews.Review]:
  """Yields the reviews of a prepared amazon_us_reviews directory.

  Args:
    path: the directory that holds dataset_info.json.
    skipped: receives a count per skip reason.

  Yields:
    `Review` records, splits in name order.

  Raises:
    ReviewFileError: tensorflow-datasets (or, for a TFRecord copy,
      TensorFlow) is missing, or the directory is not a readable
      amazon_us_reviews dataset.
  """
  tfds, builder = _load_builder(path)
  examples = _split_examples(tfds, builder, path)
  for split in sorted(builder.info.splits.keys()):
    for data in examples(split):
      try:  # The yield outside the try: see file_streams.
        review = reviews.make_review(_text(data['review_body']),
                                     _text(data['review_headline']),
                                     reviews.parse_rating(
                                         data['star_rating']))
      except reviews.SkipRecord as s:
        skipped[s.reason] += 1
        continue
      yield review
