"""Seeds at chance: counted per round, and tested against TICKET-RESET."""

from scipy import stats

from lottery_jax import failures
from lottery_jax import results

SPARSITY = [0.0, 0.55, 0.7975, 0.9089, 0.959, 0.9815]
TRAINED = [0.80, 0.81, 0.79, 0.80, 0.82]


def _rows(per_round, domain):
  """Rows from {strategy: [per-seed accuracies of round 1, 2, ...]}."""
  rows = []
  for strategy, rounds in per_round.items():
    for r, accs in enumerate(rounds, start=1):
      for seed, acc in enumerate(accs):
        rows.append(dict(
            experiment='tickets', source=domain, target=domain,
            strategy=strategy, seed=seed, round=r, sparsity=SPARSITY[r],
            sparsity_all=SPARSITY[r] * 0.9, valid_accuracy=acc,
            test_accuracy=acc, best_epoch=1, epochs_run=8, wall_time=1.0))
  return rows


def _study(rounds=5):
  """RESET always trains; RANDOM has 1 seed at chance at 90.9% (the round
  nearest 90%) and 3 in each round beyond it, in both domains."""
  random = [TRAINED, TRAINED, [0.5] + TRAINED[1:],
            [0.5, 0.505, 0.5] + TRAINED[3:], [0.5, 0.5, 0.5] + TRAINED[3:]]
  return results.Results([
      row for domain in ('books', 'home') for row in _rows(
          {'ticket_reset': [TRAINED] * rounds,
           'ticket_random': random[:rounds]}, domain)])


def test_seeds_at_chance_per_round_and_pooled_beyond_the_cut():
  table = failures.chance_table(_study()).splitlines()
  assert table[0] == (
      '| strategy | round 1 (55.0%) | round 2 (79.8%) | round 3 (90.9%) | '
      'round 4 (95.9%) | round 5 (98.2%) | beyond 90.9%, pooled (Fisher p '
      'vs RESET) |')
  assert table[2] == '| TICKET-RESET | 0/10 | 0/10 | 0/10 | 0/10 | 0/10 | 0/20 |'
  # Rounds 4 and 5 pooled: 12 of 20 RANDOM seeds at chance, none of RESET's.
  p = stats.fisher_exact([[12, 8], [0, 20]], alternative='greater')[1]
  assert p < 0.001
  assert table[3] == ('| TICKET-RANDOM | 0/10 | 0/10 | 2/10 | 6/10 | 6/10 | '
                      '12/20 (p=<0.001) |')


def test_failure_test_is_one_sided():
  assert failures.more_failures_p((12, 20), (0, 20)) < 0.001
  assert failures.more_failures_p((0, 20), (12, 20)) == 1.0
  # Equal counts are no evidence either way.
  assert failures.more_failures_p((3, 20), (3, 20)) > 0.5


def test_no_pooled_column_without_rounds_beyond_the_cut():
  table = failures.chance_table(_study(rounds=3)).splitlines()
  assert table[0].endswith('| round 3 (90.9%) |')
  assert table[3] == '| TICKET-RANDOM | 0/10 | 0/10 | 2/10 |'
  assert failures.chance_table(results.Results([])) == ''
