"""Tests of the figures that need no results file: the divergence heatmap.

The ticket and transfer figures are tested with the report, in
test_report.py.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from lottery_jax import files
from lottery_jax import plots

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

JSD = np.array([[0.0, 0.1, 0.3],
                [0.1, 0.0, 0.2],
                [0.3, 0.2, 0.0]])


def test_heatmap_is_written_as_png_and_pdf(tmp_path):
  paths = plots.plot_heatmap(JSD, ['books', 'cds', 'home'],
                             str(tmp_path / 'divergence'))
  assert paths == [str(tmp_path / 'divergence.png'),
                   str(tmp_path / 'divergence.pdf')]
  with open(paths[0], 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  with open(paths[1], 'rb') as f:
    assert f.read(5) == b'%PDF-'
  assert sorted(os.listdir(tmp_path)) == ['divergence.pdf', 'divergence.png']


def test_heatmap_leaves_the_backend_and_pyplot_alone(tmp_path):
  # In a fresh interpreter with a non-Agg backend, as a notebook user has:
  # the old heatmap switched it to Agg with matplotlib.use.
  code = f'''
import sys
import matplotlib
from lottery_jax import plots
before = matplotlib.get_backend()
paths = plots.plot_heatmap([[0.0, 0.5], [0.5, 0.0]], ['a', 'b'],
                           {str(tmp_path / 'heatmap')!r})
print(before, matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)
'''
  env = dict(os.environ, MPLBACKEND='svg')
  result = subprocess.run([sys.executable, '-c', code], cwd=REPO, env=env,
                          capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stderr
  assert result.stdout.split() == ['svg', 'svg', 'False']
  assert (tmp_path / 'heatmap.png').stat().st_size > 0


def test_draw_all_draws_the_heatmap_from_divergence_json(tmp_path):
  files.write_json(str(tmp_path / 'divergence.json'),
                   {'domains': ['books', 'cds', 'home'],
                    'jsd': JSD.tolist()})
  (tmp_path / 'results.jsonl').write_text('')  # No ticket run yet.
  written = plots.draw_all(str(tmp_path))
  assert written == [str(tmp_path / 'divergence.png'),
                     str(tmp_path / 'divergence.pdf')]


def test_heatmap_shape_must_match_the_domains(tmp_path):
  with pytest.raises(ValueError, match='3 domains'):
    plots.plot_heatmap(JSD[:2, :2], ['books', 'cds', 'home'],
                       str(tmp_path / 'x'))
  assert not os.listdir(tmp_path)
