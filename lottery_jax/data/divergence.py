"""Jensen-Shannon divergence between domains (SPEC.md section 2, Figure 1).

This module owns the numbers of Figure 1: unigram distributions, the
divergence and `domain_divergence` over a prepared work directory. Drawing
them is `plots.plot_heatmap`'s; nothing here imports matplotlib.
"""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np


def unigram_distribution(ids: np.ndarray, vocab_size: int) -> np.ndarray:
  """The subword unigram distribution of a token stream.

  Args:
    ids: int [n], token ids (padding excluded).
    vocab_size: the vocabulary's size.

  Returns:
    float64 [vocab_size], summing to 1.
  """
  counts = np.bincount(np.asarray(ids).ravel(), minlength=vocab_size)
  if counts.sum() == 0:
    raise ValueError('no tokens: the distribution is undefined')
  return counts / counts.sum()


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
  """KL(p || q) in nats; terms with p = 0 contribute 0."""
  support = p > 0
  return float(np.sum(p[support] * np.log(p[support] / q[support])))


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
  """JSD(p, q) = KL(p || m) / 2 + KL(q || m) / 2 with m = (p + q) / 2, nats.

  Equals ``scipy.spatial.distance.jensenshannon(p, q) ** 2``.
  """
  m = 0.5 * (p + q)
  return 0.5 * kl_divergence(p, m) + 0.5 * kl_divergence(q, m)


def divergence_matrix(distributions: Sequence[np.ndarray]) -> np.ndarray:
  """[n, n] pairwise JSD: symmetric, zero diagonal."""
  n = len(distributions)
  jsd = np.zeros((n, n))
  for i in range(n):
    for j in range(i + 1, n):
      jsd[i, j] = jsd[j, i] = jensen_shannon(distributions[i],
                                             distributions[j])
  return jsd


def domain_divergence(workdir: str, domains: Sequence[str]) -> Dict:
  """The JSD matrix of the prepared training splits in `workdir`.

  Uses the unigram counts of the whole reviews, before truncation.

  Returns:
    {'domains': [...], 'jsd': [[...]]} (nats).
  """
  from lottery_jax.data import dataset  # pylint: disable=g-import-not-at-top
  dists = []
  for d in domains:
    counts = dataset.load_split_arrays(workdir, d, 'train')['unigram_counts']
    dists.append(counts / counts.sum())
  return {'domains': list(domains),
          'jsd': divergence_matrix(dists).tolist()}
