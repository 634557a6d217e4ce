"""Tests of the shared SentencePiece vocabulary."""

import numpy as np
import pytest

from lottery_jax.data import vocab
from tests.conftest import synthetic_reviews


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  texts = [t for t, _ in synthetic_reviews(400, 0, ('novel', 'battery'))]
  path = str(tmp_path_factory.mktemp('vocab') / 'spm.model')
  return vocab.train_vocab(texts, path, vocab_size=120), path, texts


def test_reserved_ids(trained):
  sp, _, _ = trained
  assert sp.get_piece_size() == 120
  assert (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id()) == (0, 1, 2, 3)


def test_training_is_deterministic(trained, tmp_path):
  _, path, texts = trained
  again = str(tmp_path / 'again.model')
  vocab.train_vocab(texts, again, vocab_size=120)
  with open(path, 'rb') as a, open(again, 'rb') as b:
    assert a.read() == b.read()


def test_round_trip(trained):
  sp, _, texts = trained
  ids, lengths, full, _ = vocab.encode(sp, texts[:20])
  assert ids.dtype == lengths.dtype == np.int32
  starts = np.concatenate([[0], np.cumsum(lengths)])
  for i, text in enumerate(texts[:20]):
    piece = ids[starts[i]:starts[i + 1]]
    assert vocab.decode(sp, piece) == text
    assert not np.isin(piece, [vocab.PAD_ID, vocab.BOS_ID,
                               vocab.EOS_ID]).any()
  np.testing.assert_array_equal(lengths, full)


def test_truncation_keeps_true_length(trained):
  sp, _, _ = trained
  long_text = ' '.join(['great novel battery'] * 100)
  ids, lengths, full, counts = vocab.encode(sp, [long_text, 'great'],
                                           max_length=10)
  assert lengths.tolist() == [10, len(sp.encode('great'))]
  assert full[0] > 10
  assert len(ids) == lengths.sum()
  np.testing.assert_array_equal(ids[:10], sp.encode(long_text)[:10])
  # Counts are of the whole texts, not of the kept ids.
  assert counts.sum() == full.sum() and len(counts) == sp.get_piece_size()
  np.testing.assert_array_equal(
      counts, np.bincount(sp.encode(long_text) + sp.encode('great'),
                          minlength=sp.get_piece_size()))


def test_encode_matches_one_by_one(trained):
  sp, _, texts = trained
  ids, lengths, _, _ = vocab.encode(sp, texts[:50], max_length=500)
  expected = [i for t in texts[:50] for i in sp.encode(t)]
  np.testing.assert_array_equal(ids, expected)
  assert vocab.encode(sp, [])[0].shape == (0,)
