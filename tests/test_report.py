"""Figures and the findings' verdicts from synthetic result rows."""

import os

import numpy as np
import pytest

from lottery_jax import files
from lottery_jax import plots
from lottery_jax import report
from lottery_jax import results

SPARSITY = [0.0, 0.55, 0.7975, 0.9089, 0.959, 0.9815]


def _rows(curves, seeds=5, noise=0.01):
  """Rows from {(experiment, source, target, strategy): [mean per round]}.
  FULL-MODEL has one value (round 0); the others start at round 1."""
  rng = np.random.default_rng(0)
  rows = []
  for (experiment, source, target, strategy), means in curves.items():
    first = 0 if strategy == 'full_model' else 1
    for i, mean in enumerate(means):
      r = first + i
      for seed in range(seeds):
        acc = mean + noise * rng.standard_normal()
        rows.append(dict(experiment=experiment, source=source, target=target,
                         strategy=strategy, seed=seed, round=r,
                         sparsity=SPARSITY[r], sparsity_all=SPARSITY[r] * 0.9,
                         valid_accuracy=acc, test_accuracy=acc, best_epoch=1,
                         epochs_run=2, wall_time=1.0))
  return rows


def _paper_like(random_gap_from=4, transfer_drop=0.02):
  curves = {}
  for d in ('books', 'home'):
    reset = [0.82, 0.83, 0.82, 0.80, 0.74]
    random = [m - (0.12 if r + 1 >= random_gap_from else 0.0)
              for r, m in enumerate(reset)]
    curves[('tickets', d, d, 'full_model')] = [0.81]
    curves[('tickets', d, d, 'ticket_reset')] = reset
    curves[('tickets', d, d, 'ticket_random')] = random
  for s, t in (('books', 'home'), ('home', 'books')):
    target_reset = curves[('tickets', t, t, 'ticket_reset')]
    curves[('transfer', s, t, 'masks_reset')] = [m - transfer_drop
                                                 for m in target_reset]
    curves[('transfer', s, t, 'masks_random')] = [m - 0.1
                                                  for m in target_reset]
  return _rows(curves)


def _write(tmp_path, rows):
  results.write_rows(str(tmp_path / 'results.jsonl'), rows)
  return str(tmp_path)


def test_paper_like_results_reproduce_every_finding(tmp_path):
  text = report.make_report(_write(tmp_path, _paper_like()))
  assert '(a) TICKET-RESET matches or beats FULL-MODEL up to ~90% ' \
         'sparsity: REPRODUCED' in text
  assert 'phase transition): REPRODUCED' in text
  assert 'books: up to 91% close (no significant gap)' in text
  assert 'stays significantly above from 95.9% on' in text
  assert 'TICKET-TARGET up to ~90%: REPRODUCED' in text
  assert '| books | TICKET-RESET | 0.81' in text
  assert '| books -> home |' in text and '| mean over pairs |' in text


def test_findings_that_do_not_hold_are_reported_as_such(tmp_path):
  rows = _paper_like(random_gap_from=1, transfer_drop=0.08)
  for row in rows:  # RESET far below FULL-MODEL in books.
    if row['source'] == 'books' and row['strategy'] == 'ticket_reset' and \
        row['experiment'] == 'tickets':
      row['test_accuracy'] -= 0.1
  text = report.make_report(_write(tmp_path, rows))
  assert 'sparsity: PARTLY REPRODUCED (1 of 2)' in text
  assert 'significantly below at 55.0%' in text
  assert 'phase transition): NOT REPRODUCED' in text
  assert 'already apart at 55.0%, 79.8%, 90.9%' in text
  # books' own RESET is now below the home masks moved to books.
  assert 'TICKET-TARGET up to ~90%: PARTLY REPRODUCED (1 of 2)' in text
  assert '(books -> home); within 5 points in 1 of 2 pairs' in text


def test_welch_handles_constant_and_single_samples():
  chance = np.full(5, 0.5)
  assert report._welch(np.full(5, 0.6), chance, 'greater') == 0.0
  assert report._welch(np.full(5, 0.6), chance, 'less') == 1.0
  assert report._welch(chance, chance, 'two-sided') == 1.0
  assert report._welch(np.array([0.9]), np.array([0.1]), 'greater') == 1.0
  rng = np.random.default_rng(0)
  assert report._welch(0.8 + 0.01 * rng.standard_normal(5),
                       0.6 + 0.01 * rng.standard_normal(5), 'greater') < 1e-4


def test_a_phase_transition_that_never_comes_is_not_reproduced(tmp_path):
  text = report.make_report(_write(tmp_path, _paper_like(random_gap_from=9)))
  assert 'phase transition): NOT REPRODUCED' in text
  assert 'beyond it RESET significantly above RANDOM in no round' in text


def test_figures_are_written_as_png_and_pdf_with_sparsity_ticks(tmp_path):
  summary = results.summarize(_paper_like())
  rounds, sparsity, mean, std = plots.curve(summary, 'tickets', 'books',
                                            'books', 'ticket_reset')
  np.testing.assert_array_equal(rounds, [1, 2, 3, 4, 5])
  np.testing.assert_allclose(sparsity, SPARSITY[1:])
  assert mean.shape == std.shape == (5,) and (std > 0).all()
  paths = plots.plot_tickets(summary, str(tmp_path / 'tickets'))
  paths += plots.plot_transfer(summary, str(tmp_path / 'transfer'))
  assert [os.path.basename(p) for p in paths] == [
      'tickets.png', 'tickets.pdf', 'transfer.png', 'transfer.pdf']
  with open(paths[0], 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  with open(paths[1], 'rb') as f:
    assert f.read(5) == b'%PDF-'


def test_sparsity_tick_labels_follow_the_rounds():
  from matplotlib import figure  # pylint: disable=g-import-not-at-top
  ax = figure.Figure().subplots()
  plots._sparsity_ticks(ax, np.arange(4), np.array(SPARSITY[:4]))
  np.testing.assert_array_equal(ax.get_xticks(), np.arange(4))
  assert [t.get_text() for t in ax.get_xticklabels()] == [
      '0', '55', '79.8', '90.9']


def test_sparsity_labels_keep_the_paper_rounds_apart():
  paper = [1 - 0.65 ** r for r in range(21)]
  labels = plots.sparsity_labels(paper)
  assert len(set(labels)) == 21
  assert labels[:3] == ['0', '35', '57.75']
  assert labels[-1].startswith('99.98')


def test_no_results_is_an_error(tmp_path):
  with pytest.raises(ValueError, match='no ticket results'):
    plots.plot_tickets([], str(tmp_path / 'x'))


def test_a_corrupt_results_file_is_named(tmp_path):
  path = tmp_path / 'results.jsonl'
  path.write_text('{"experiment": "tickets"}\n{"experiment": \n')
  with pytest.raises(files.CorruptFileError, match=r'results.jsonl:2: not'):
    results.read_rows(str(path))
  (tmp_path / 'study.json').write_text('{')
  with pytest.raises(files.CorruptFileError, match='study.json: not valid'):
    files.read_json(str(tmp_path / 'study.json'))
