"""Executes colab/lottery_tickets.ipynb top to bottom with a real notebook
runner (nbclient and an IPython kernel) on the real reviews, so that the
notebook cannot rot and its models are seen to learn."""

import os

import nbclient
import nbformat
import numpy as np

from lottery_jax import results

NOTEBOOK = os.path.join(os.path.dirname(__file__), '..', 'colab',
                        'lottery_tickets.ipynb')


def _text(cell) -> str:
  parts = []
  for output in cell.get('outputs', []):
    parts.append(output.get('text', ''))
    parts.append(output.get('data', {}).get('text/plain', ''))
  return ''.join(parts)


def test_notebook_runs_top_to_bottom(real_data_dir, tmp_path, monkeypatch):
  workdir = tmp_path / 'work'
  monkeypatch.setenv('LOTTERY_JAX_DATA_DIR', real_data_dir)
  monkeypatch.setenv('LOTTERY_JAX_WORKDIR', str(workdir))
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  client = nbclient.NotebookClient(
      notebook, timeout=900, kernel_name='python3',
      resources={'metadata': {'path': os.path.dirname(NOTEBOOK)}})
  client.execute()  # Raises CellExecutionError on the first failing cell.

  code = [c for c in notebook.cells if c.cell_type == 'code']
  assert all(c.get('execution_count') for c in code)
  outputs = '\n'.join(_text(c) for c in code)
  for strategy in ('full_model', 'ticket_reset', 'ticket_random',
                   'masks_reset', 'masks_random'):
    assert strategy in outputs
  images = sum('image/png' in o.get('data', {})
               for c in code for o in c.get('outputs', []))
  assert images >= 3
  for name in ('tickets.png', 'tickets.pdf', 'transfer.png', 'transfer.pdf',
               'divergence.png'):
    assert (workdir / 'figures' / name).stat().st_size > 0
  report = (workdir / 'results' / 'report.md').read_text()
  assert '(a) TICKET-RESET' in report and 'books -> home' in report
  rows = results.read_rows(str(workdir / 'results' / 'results.jsonl'))
  for domain in ('books', 'home'):  # Models that learn: well above chance.
    full = [r['test_accuracy'] for r in rows
            if (r['target'], r['strategy']) == (domain, 'full_model')]
    assert len(full) == 2 and np.mean(full) > 0.6, (domain, full)
