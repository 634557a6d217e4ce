"""Seeds that never learn: counted per round, and tested against RESET's.

At extreme sparsity some seeds of a fresh init stay at chance while the
others train, so a strategy's accuracies over the seeds are bimodal and a
t-test of their means over a few seeds has little power. `chance_table`
counts the seeds at chance per strategy and pruned round over every
domain and, beyond the round nearest ~90% sparsity, pools them and tests
whether each strategy fails more often than TICKET-RESET: a one-sided
Fisher exact test (`scipy.stats.fisher_exact`) of at-chance against
trained seeds.
"""

from __future__ import annotations

from typing import Sequence, Tuple

from scipy import stats

from lottery_jax import findings
from lottery_jax import phase
from lottery_jax.findings import NAMES
from lottery_jax.results import Results

RESET = 'ticket_reset'
# A seed at most this test accuracy is "at chance" (balanced splits: 0.5).
CHANCE = 0.51
ROWS = ('ticket_reset', 'ticket_rewind', 'ticket_random', 'ticket_reinit',
        'random_pruning')


_percent, _p = phase._percent, phase._p  # pylint: disable=protected-access


def at_chance(res: Results, strategy: str, rounds: Sequence[int],
              chance: float = CHANCE) -> Tuple[int, int]:
  """(seeds at chance, seeds) of `strategy` in `rounds`, every domain."""
  seeds = [a for d in res.domains for r in rounds
           for a in res.acc.get(res.ticket(d, strategy, r), [])]
  return sum(a <= chance for a in seeds), len(seeds)


def more_failures_p(failed: Tuple[int, int], reset: Tuple[int, int]) -> float:
  """One-sided Fisher exact p that a strategy with `failed` = (at chance,
  seeds) fails more often than RESET with `reset`."""
  (k, n), (k0, n0) = failed, reset
  return float(stats.fisher_exact([[k, n - k], [k0, n0 - k0]],
                                  alternative='greater')[1])


def chance_table(res: Results, up_to: float = findings.UP_TO_TARGET,
                 chance: float = CHANCE) -> str:
  """Seeds at chance (test accuracy <= `chance`) per strategy and pruned
  round over every domain, 'k/n' of the n seeds, and the rounds beyond the
  one nearest `up_to` pooled, with the Fisher p against RESET (markdown;
  columns headed by the first domain's RESET sparsity)."""
  strategies = phase.present(res, ROWS)
  rounds = sorted({k[4] for k in res.acc if k[0] == 'tickets' and k[4] > 0})
  if not strategies or not rounds:
    return ''
  first = res.domains[0]
  at = {r: res.sparsity.get(res.ticket(first, RESET, r)) for r in rounds}
  cut = findings.sparsity_cut(res, up_to)
  beyond = [r for r in rounds if None not in (at[r], cut)
            and at[r] > cut + 1e-9]
  pooled = bool(beyond) and RESET in strategies
  lines = ['| strategy | ' + ' | '.join(
      f'round {r}' + (f' ({_percent(at[r])})' if at[r] else '')
      for r in rounds) + (f' | beyond {_percent(cut)}, pooled (Fisher p vs '
                          'RESET)' if pooled else '') + ' |',
           '|---|' + '---:|' * (len(rounds) + pooled)]
  reset = at_chance(res, RESET, beyond, chance) if pooled else None
  for strategy in strategies:
    cells = []
    for r in rounds:
      k, n = at_chance(res, strategy, [r], chance)
      cells.append(f'{k}/{n}' if n else '-')
    if pooled:
      k, n = at_chance(res, strategy, beyond, chance)
      cells.append(f'{k}/{n}' + ('' if strategy == RESET or not n else
                                 f' (p={_p(more_failures_p((k, n), reset))})'))
    lines.append(f'| {NAMES[strategy]} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)
