"""The shared SentencePiece vocabulary (SPEC.md section 1)."""

from __future__ import annotations

import io
import os
import re
from typing import Iterable, NamedTuple, Sequence

import numpy as np
import sentencepiece as spm

from lottery_jax import files
from lottery_jax.data import domains

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
MAX_LENGTH = 500


def train_vocab(texts: Iterable[str], model_path: str, vocab_size: int = 8000,
                character_coverage: float = 0.9995,
                model_type: str = 'bpe') -> spm.SentencePieceProcessor:
  """Trains a SentencePiece model and writes it to `model_path` atomically.

  Ids 0-3 are pad, unk, bos and eos. Training is deterministic: every text is
  used, in the order given.

  Args:
    texts: training texts (the concatenated training splits).
    model_path: where the ``.model`` file goes.
    vocab_size: the number of pieces, reserved ids included.
    character_coverage: the share of characters the alphabet covers.
    model_type: 'bpe' (the paper's) or 'unigram'.

  Returns:
    The trained processor.

  Raises:
    domains.DataError: `vocab_size` is more than the texts allow.
  """
  model = io.BytesIO()
  try:
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        vocab_size=vocab_size,
        character_coverage=character_coverage,
        model_type=model_type,
        pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
        # Reviews run to tens of kilobytes; the default (4192 bytes) would
        # silently drop the long ones from training.
        max_sentence_length=1 << 20,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        num_threads=os.cpu_count() or 1,
        minloglevel=2,
    )
  except RuntimeError as e:
    # sentencepiece: "Vocabulary size too high (8000). Please set it to a
    # value <= 761."
    limit = re.search(r'too high .*<= (\d+)', str(e))
    if not limit:
      raise
    raise domains.DataError(
        f'--config.data.vocab_size={vocab_size} is more than the training '
        f'texts allow; set it to at most {limit.group(1)}') from e
  with files.atomic_write(model_path) as f:
    f.write(model.getvalue())
  return load_vocab(model_path)


def load_vocab(model_path: str) -> spm.SentencePieceProcessor:
  """Loads a SentencePiece model written by `train_vocab`."""
  return spm.SentencePieceProcessor(model_file=model_path)


class Encoded(NamedTuple):
  """Encoded texts; see `encode`."""
  ids: np.ndarray           # int32 [sum(lengths)], truncated, concatenated
  lengths: np.ndarray       # int32 [n], ids kept per text (<= max_length)
  full_lengths: np.ndarray  # int32 [n], ids per text before truncation
  counts: np.ndarray        # int64 [vocab], untruncated unigram counts


def encode(sp: spm.SentencePieceProcessor, texts: Sequence[str],
           max_length: int = MAX_LENGTH) -> Encoded:
  """Encodes texts with SentencePiece's batch API, no bos/eos.

  Args:
    sp: the vocabulary.
    texts: n texts.
    max_length: ids kept per text.

  Returns:
    `Encoded`: the truncated ids with their lengths, and the unigram counts
    of the whole texts (for divergences that must not depend on truncation).
  """
  pieces = sp.encode(list(texts), out_type=int, num_threads=os.cpu_count() or 1)
  full = [np.asarray(p, np.int32) for p in pieces] + [np.zeros(0, np.int32)]
  full_lengths = np.fromiter(map(len, pieces), np.int32, len(pieces))
  lengths = np.minimum(full_lengths, max_length)
  ids = np.concatenate([p[:max_length] for p in full])
  counts = np.bincount(np.concatenate(full), minlength=sp.get_piece_size())
  return Encoded(ids, lengths, full_lengths, counts)


def decode(sp: spm.SentencePieceProcessor, ids: Sequence[int]) -> str:
  """The text of a sequence of ids; pad ids are ignored."""
  return sp.decode([int(i) for i in ids if i != PAD_ID])
