"""Executes colab/lottery_tickets.ipynb top to bottom with a real notebook
runner (nbclient and an IPython kernel), on the smoke preset and small
synthetic data, so that the notebook cannot rot."""

import os

import nbclient
import nbformat

NOTEBOOK = os.path.join(os.path.dirname(__file__), '..', 'colab',
                        'lottery_tickets.ipynb')


def _text(cell) -> str:
  parts = []
  for output in cell.get('outputs', []):
    parts.append(output.get('text', ''))
    parts.append(output.get('data', {}).get('text/plain', ''))
  return ''.join(parts)


def test_notebook_runs_top_to_bottom(tiny_data_dir, tmp_path, monkeypatch):
  workdir = tmp_path / 'work'
  monkeypatch.setenv('LOTTERY_JAX_DATA_DIR', tiny_data_dir)
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
