"""Tests of the Jensen-Shannon divergence (SPEC.md section 2)."""

import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.spatial import distance

from lottery_jax.data import divergence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_unigram_distribution():
  p = divergence.unigram_distribution(np.array([0, 1, 1, 3]), 5)
  np.testing.assert_allclose(p, [0.25, 0.5, 0, 0.25, 0])
  with pytest.raises(ValueError):
    divergence.unigram_distribution(np.array([], np.int32), 5)


def test_hand_computed_value():
  # Disjoint supports: JSD = ln 2.
  p, q = np.array([1.0, 0.0]), np.array([0.0, 1.0])
  assert divergence.jensen_shannon(p, q) == pytest.approx(np.log(2))
  assert divergence.jensen_shannon(p, p) == 0.0


def test_agrees_with_scipy():
  rng = np.random.default_rng(0)
  for _ in range(20):
    p = rng.dirichlet(np.full(50, 0.3))
    q = rng.dirichlet(np.full(50, 0.3))
    q[rng.integers(0, 50, 10)] = 0  # Zeros on one side only.
    q /= q.sum()
    assert divergence.jensen_shannon(p, q) == pytest.approx(
        distance.jensenshannon(p, q) ** 2, abs=1e-6)


def test_matrix_is_symmetric_with_zero_diagonal():
  rng = np.random.default_rng(1)
  dists = [rng.dirichlet(np.ones(30)) for _ in range(4)]
  jsd = divergence.divergence_matrix(dists)
  np.testing.assert_array_equal(jsd, jsd.T)
  np.testing.assert_array_equal(np.diag(jsd), 0)
  assert (jsd[~np.eye(4, dtype=bool)] > 0).all()


def test_imports_no_matplotlib():
  # Importing the math must not load matplotlib, let alone pick its backend:
  # drawing is plots.py's, imported only when a figure is drawn.
  code = ('import sys; from lottery_jax.data import divergence; '
          'print(sorted(m for m in sys.modules if m.startswith("matplotlib")))')
  result = subprocess.run([sys.executable, '-c', code], cwd=REPO,
                          capture_output=True, text=True, check=True)
  assert result.stdout.strip() == '[]'
