"""The per-domain phase transition, the ablation table and the report's
sections that show them, from small synthetic result rows."""

import numpy as np

from lottery_jax import files
from lottery_jax import findings
from lottery_jax import phase
from lottery_jax import plots
from lottery_jax import report
from lottery_jax import results

SPARSITY = [0.0, 0.55, 0.7975, 0.9089, 0.959, 0.9815]
# Per-seed offsets with mean 0: means are exact, and two runs with the same
# mean and offsets are identical samples (one-sided Welch p = 0.5).
OFFSETS = np.array([-0.02, -0.01, 0.0, 0.01, 0.02])


def _rows(curves, offsets=OFFSETS, grid=SPARSITY, domain='books',
          experiment='tickets', target=None):
  """Rows from {strategy: [mean per round]}: FULL-MODEL has one value
  (round 0), the others start at round 1, round r at sparsity grid[r].
  A value may also be a list of per-round offset arrays' scales:
  {strategy: ([means], [scales])} multiplies `offsets` per round."""
  rows = []
  for strategy, means in curves.items():
    means, scales = means if isinstance(means, tuple) else (
        means, [1.0] * len(means))
    first = 0 if strategy == 'full_model' else 1
    for i, (mean, scale) in enumerate(zip(means, scales)):
      r = first + i
      for seed, offset in enumerate(offsets):
        acc = mean + scale * offset
        rows.append(dict(
            experiment=experiment, source=domain, target=target or domain,
            strategy=strategy, seed=seed, round=r, sparsity=grid[r],
            sparsity_all=grid[r] * 0.9, valid_accuracy=acc,
            test_accuracy=acc, best_epoch=1, epochs_run=2, wall_time=1.0))
  return rows


def _parting_at(round_, gap=0.1, n=5):
  """RESET flat at 0.82; RANDOM equal to it before `round_`, `gap` below
  from it on."""
  return {'full_model': [0.82], 'ticket_reset': [0.82] * n,
          'ticket_random': [0.82 - (gap if r >= round_ else 0.0)
                            for r in range(1, n + 1)]}


def test_reset_parting_from_random_at_round_3_is_the_transition():
  res = results.Results(_rows(_parting_at(3)))
  found = phase.transition(res, 'books')
  assert found.round == 3 and found.sparsity == 0.9089
  assert found.p < 1e-4 and not found.first and found.why is None
  assert phase.transition_cell(found).startswith('90.9% (round 3, p=<0.001)')


def test_never_parting_is_none():
  res = results.Results(_rows(_parting_at(99)))
  found = phase.transition(res, 'books')
  assert found.round is None and found.why is None
  assert phase.transition_cell(found) == 'none'


def test_apart_only_in_a_middle_round_is_no_transition():
  curves = _parting_at(99)
  curves['ticket_random'][1] -= 0.1  # Round 2 only.
  assert phase.transition(results.Results(_rows(curves)), 'books').round \
      is None


def test_apart_from_the_first_round_says_so():
  found = phase.transition(results.Results(_rows(_parting_at(1))), 'books')
  assert found.round == 1 and found.first
  assert phase.transition_cell(found).endswith('apart from the first round')


def test_too_few_seeds_or_chance_is_inconclusive():
  res = results.Results(_rows(_parting_at(3), offsets=OFFSETS[:2]))
  found = phase.transition(res, 'books')
  assert found.round is None and '2 seeds' in found.why
  assert phase.transition_cell(found).startswith('INCONCLUSIVE (2 seeds')
  chance = {k: [0.5] * len(v) for k, v in _parting_at(3).items()}
  found = phase.transition(results.Results(_rows(chance)), 'books')
  assert 'within 5 points of chance' in found.why


def test_reinit_is_a_control_only_when_present():
  curves = _parting_at(3)
  res = results.Results(_rows(curves))
  assert phase.transition(res, 'books', 'ticket_reinit') is None
  table = phase.phase_table(res)
  assert 'vs RANDOM' in table and 'REINIT' not in table
  curves['ticket_reinit'] = [0.82, 0.82, 0.82, 0.82, 0.7]
  res = results.Results(_rows(curves))
  assert phase.transition(res, 'books', 'ticket_reinit').round == 5
  table = phase.phase_table(res)
  assert 'phase transition vs REINIT' in table and '| RESET - REINIT |' in \
      table
  assert '| books | 90.9% (round 3, p=<0.001) | 98.2% (round 5' in table


def test_brown_forsythe_finds_the_clearly_smaller_spread():
  offsets = np.linspace(-1, 1, 8)
  curves = {'ticket_reset': ([0.82] * 5, [0.002] * 5),
            'ticket_random': ([0.82, 0.82, 0.6, 0.6, 0.6],
                              [0.002, 0.002, 0.08, 0.08, 0.08])}
  res = results.Results(_rows(curves, offsets=offsets))
  start, tests = phase.spread(res, 'books')
  assert start == 0.9089  # From the transition, round 3, on.
  assert [t.sparsity for t in tests] == SPARSITY[3:]
  assert all(t.p < 0.01 and t.std_reset < t.std_control for t in tests)
  cell = phase.spread_cell(start, tests)
  assert cell.startswith('from 90.9% on (3 rounds): RESET smaller std in 3; '
                         'significantly steadier: RESET 3, RANDOM 0')
  assert '(RESET steadier' in cell
  w, p = phase.brown_forsythe(np.full(5, 0.5), np.full(5, 0.6))
  assert p == 1.0  # Constant sides: no test.


def test_without_a_transition_every_pruned_round_is_tested():
  start, tests = phase.spread(results.Results(_rows(_parting_at(99))),
                              'books')
  assert start is None and len(tests) == 5
  assert all(t.p == 1.0 for t in tests)  # Identical spreads.
  cell = phase.spread_cell(start, tests)
  assert cell.startswith('every pruned round') and '(equal std' in cell


def test_at_most_one_point_below_full_model():
  def within(reset):
    res = results.Results(_rows({'full_model': [0.80],
                                 'ticket_reset': reset}))
    return phase.within_full(res, 'books')
  found = within([0.805, 0.795, 0.81, 0.78, 0.8])  # 0.81: exactly 1 point.
  assert found.reach == 0.9089 and found.out[0] == 0.959
  np.testing.assert_allclose(found.out[1], -0.02)
  assert within([0.80, 0.80, 0.80, 0.79, 0.81]) == (0.9815, None)
  # Above FULL-MODEL is never out: the paper's "matches or beats".
  assert within([0.85, 0.83, 0.8, 0.8, 0.8]) == (0.9815, None)
  found = within([0.78, 0.8, 0.8, 0.8, 0.8])
  assert found.reach == 0.0 and found.out[0] == 0.55
  assert phase.within_cell(within([0.805, 0.795, 0.81, 0.78, 0.8])) == (
      'up to 90.9% sparsity (then 95.9%: RESET - FULL-MODEL -2.0 points)')
  assert phase.within_cell(found) == (
      'not even at the first pruned round (55.0%: RESET - FULL-MODEL -2.0 '
      'points)')
  assert phase.within_cell(within([0.8] * 5)) == ('up to 98.2% sparsity '
                                                  '(every round)')
  assert phase.within_full(results.Results(_rows({'ticket_reset': [0.8]})),
                           'books') is None


def test_gaps_at_90_percent_only_for_strategies_present():
  curves = _parting_at(3)
  curves['ticket_rewind'] = [0.83] * 5
  curves['random_pruning'] = [0.72] * 5
  res = results.Results(_rows(curves))
  at, gaps = phase.gaps_near(res, 'books')
  assert at == 0.9089 and sorted(gaps) == ['random_pruning', 'ticket_random',
                                           'ticket_rewind']
  np.testing.assert_allclose(gaps['ticket_rewind'][0], -0.01)
  table = phase.phase_table(res)
  head = table.splitlines()[0]
  assert head.endswith('| round ~90% | RESET - RANDOM | RESET - REWIND | '
                       'RESET - RANDOM-PRUNING |')
  assert table.splitlines()[2].endswith(
      '| 90.9% | +10.0 (p=<0.001) | -1.0 (p=0.347) | +10.0 (p=<0.001) |')


def test_ablation_table_shows_both_labels_and_the_gap():
  short = _rows(_parting_at(3, gap=0.02), domain='home')
  long = _rows(_parting_at(1, gap=0.08), domain='home')
  table = phase.ablation_table({'4 epochs': short, 'converged': long})
  lines = table.splitlines()
  assert lines[0] == 'Domain: home.'
  body = [line for line in lines if line.startswith('| 4 epochs')]
  assert [line.split(' | ')[2] for line in body] == ['55.0%', '79.8%',
                                                     '90.9%']
  assert body[0].endswith('| +0.0 | 1.000 |')  # Identical samples.
  assert '| +2.0 | ' in body[2]
  converged = [line for line in lines if line.startswith('| converged')]
  assert len(converged) == 3 and all('| +8.0 | <0.001 |' in line
                                     for line in converged)
  assert '| converged | 0.820 +- 0.014 |' in converged[0]


def _study(tmp_path, extra=True, pairs=True):
  curves = _parting_at(3)
  if extra:
    curves.update(ticket_reinit=[0.8] * 5, ticket_rewind=[0.83] * 5,
                  random_pruning=[0.7] * 5)
  rows = _rows(curves) + _rows(_parting_at(4), domain='home')
  if pairs:
    for s, t in (('books', 'home'), ('home', 'books')):
      rows += _rows({'masks_reset': [0.8] * 5, 'masks_random': [0.7] * 5},
                    domain=s, target=t, experiment='transfer')
  results.write_rows(str(tmp_path / 'results.jsonl'), rows)
  return str(tmp_path)


def test_report_has_the_phase_section_and_new_strategies(tmp_path):
  text = report.make_report(_study(tmp_path))
  assert '## Phase transition' in text
  assert '| books | 90.9% (round 3, p=<0.001) |' in text
  assert '| home | 95.9% (round 4, p=<0.001) | - |' in text
  for name in ('TICKET-REINIT', 'TICKET-REWIND', 'RANDOM-PRUNING'):
    assert f'| books | {name} | 0.820 +- 0.014 |' in text
    assert f'| home | {name} |' not in text  # home has none of them.
  assert 'MASKS-RESET starts from the source\'s theta_0' in text
  assert 'the 2 pairs are distinct trainings, but not independent' in text
  assert '## FULL-MODEL against a linear baseline' not in text
  assert '## Training budget' not in text


def test_old_results_without_the_new_strategies(tmp_path):
  text = report.make_report(_study(tmp_path, extra=False, pairs=False))
  assert '## Phase transition' in text and 'REINIT' not in text
  assert 'REWIND' not in text and 'RANDOM-PRUNING' not in text
  assert 'theta_0' not in text  # No transfer section.


def test_report_has_the_baseline_and_ablation_when_their_files_exist(
    tmp_path):
  results_dir = _study(tmp_path)
  files.write_json(str(tmp_path / 'baselines.json'), {
      'books': {'test_accuracy': 0.85, 'valid_accuracy': 0.86, 'C': 4.0},
      'cds': {'test_accuracy': 0.8, 'valid_accuracy': 0.8, 'C': 1.0}})
  results.write_rows(str(tmp_path / 'old.jsonl'),
                     _rows(_parting_at(3, gap=0.02), domain='home'))
  files.write_json(str(tmp_path / 'ablation.json'), {
      'labels': {'4 epochs (old cpu preset)': 'old.jsonl',
                 'converged (cpu preset)': 'results.jsonl'},
      'domain': 'home'})
  text = report.make_report(results_dir)
  assert '## FULL-MODEL against a linear baseline' in text
  assert '| books | 0.820 +- 0.014 | 0.850 | -3.0 |' in text
  assert '| home | 0.820 +- 0.014 | - | - |' in text
  assert '| cds | - | 0.800 | - |' in text
  assert '## Training budget (ablation)' in text and 'Domain: home.' in text
  assert '| 4 epochs (old cpu preset) | 0.820 +- 0.014 | 90.9% |' in text
  assert '| converged (cpu preset) | 0.820 +- 0.014 | 90.9% |' in text


def test_an_ablation_jsonl_alone_is_compared_with_the_study(tmp_path):
  results_dir = _study(tmp_path)
  results.write_rows(str(tmp_path / 'ablation.jsonl'),
                     _rows(_parting_at(3, gap=0.02)))
  text = report.make_report(results_dir)
  assert 'Domain: books.' in text
  assert '| ablation.jsonl | ' in text and '| results.jsonl | ' in text


def test_new_names_and_the_cut_are_unchanged_for_old_rows():
  assert findings.NAMES['ticket_reinit'] == 'TICKET-REINIT'
  assert findings.NAMES['random_pruning'] == 'RANDOM-PRUNING'
  res = results.Results(_rows(_parting_at(3)))
  assert phase.present(res, phase.GAPS) == ['ticket_random']
  assert phase.ablation_rounds(res, 'books') == [1, 2, 3]


def test_plot_tickets_draws_the_new_strategies(tmp_path, monkeypatch):
  saved = []
  monkeypatch.setattr(plots, '_save', lambda fig, stem: saved.append(fig))
  curves = _parting_at(3)
  curves.update(ticket_reinit=[0.8] * 5, ticket_rewind=[0.83] * 5,
                random_pruning=[0.7] * 5)
  plots.plot_tickets(results.summarize(_rows(curves)), str(tmp_path / 't'))
  _, labels = saved[0].axes[0].get_legend_handles_labels()
  assert labels == ['TICKET-RESET', 'TICKET-RANDOM', 'TICKET-REINIT',
                    'TICKET-REWIND', 'RANDOM-PRUNING', 'FULL-MODEL']
  lines = saved[0].axes[0].get_lines()
  assert len({(l.get_color(), l.get_linestyle(), l.get_marker())
              for l in lines}) == len(lines)
