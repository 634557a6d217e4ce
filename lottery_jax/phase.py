"""Where TICKET-RESET parts from its controls, decided per domain (issue 12).

The paper reports a phase transition: TICKET-RESET and TICKET-RANDOM close
until very high sparsity, then apart. Finding (b) (`findings.finding_b`)
judges that against a fixed cut; this module measures it on each domain's
own rounds, from the saved rows alone:

  `transition`    the first round from which TICKET-RESET stays above a
                  control (TICKET-RANDOM, or TICKET-REINIT when present) in
                  every later round: one-sided Welch t-test over the seeds,
                  p < `findings.ALPHA`, in that round and each one after it
  `spread`        Brown-Forsythe tests (`scipy.stats.levene`, median
                  centred) of RESET's spread against the control's, per
                  round from the transition on (every pruned round when
                  there is none)
  `within_full`   the sparsity up to which RESET's mean is at most `WITHIN`
                  (1 point) below FULL-MODEL's ("matches or beats")
  `gaps_near`     RESET minus each control at the round nearest ~90%
  `phase_table`   the markdown table of all four, a row per domain
  `ablation_table` one domain under several training budgets: FULL-MODEL and
                  RESET - RANDOM at moderate sparsity and ~90%

Seeds at chance per strategy and round, and their test: `failures`.

Strategies a study lacks (older results have no TICKET-REINIT,
TICKET-REWIND or RANDOM-PRUNING) get no column. A domain whose rows cannot
decide (`findings.untestable`: fewer than `findings.MIN_SEEDS` seeds, or
every mean near chance) is INCONCLUSIVE, with the reason.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence
from typing import Tuple

import numpy as np
from scipy import stats

from lottery_jax import findings
from lottery_jax.findings import NAMES
from lottery_jax.results import Results

RESET = 'ticket_reset'
# The controls a phase transition is judged against, in column order.
CONTROLS = ('ticket_random', 'ticket_reinit')
# RESET minus each of these at the round nearest ~90%, in column order.
GAPS = ('ticket_random', 'ticket_reinit', 'ticket_rewind', 'random_pruning')
WITHIN = 0.01  # "Within 1 point of FULL-MODEL", as a fraction.
# "Moderate sparsity" in the ablation table: the rounds between these.
MODERATE = (0.5, 0.8)
_welch = findings._welch  # pylint: disable=protected-access


def _p(p: float) -> str:
  return '<0.001' if p < 0.001 else f'{p:.3f}'


def _percent(sparsity: float) -> str:
  return f'{100 * sparsity:.1f}%'


def present(res: Results, strategies: Sequence[str]) -> List[str]:
  """Those of `strategies` with a 'tickets' row in some domain."""
  have = {k[3] for k in res.acc if k[0] == 'tickets'}
  return [s for s in strategies if s in have]


def _common(res: Results, domain: str, control: str) -> List[int]:
  """The pruned rounds where both RESET and `control` have rows."""
  return [r for r in res.rounds('tickets', domain, domain, RESET)
          if r > 0 and res.ticket(domain, control, r) in res.acc]


def _pair(res: Results, domain: str, control: str,
          round_: int) -> Tuple[np.ndarray, np.ndarray]:
  return (res.acc[res.ticket(domain, RESET, round_)],
          res.acc[res.ticket(domain, control, round_)])


class Transition(NamedTuple):
  """Where TICKET-RESET parts from one control in one domain.

  round, sparsity and p (one-sided Welch at that round) are None when RESET
  never stays above, or when `why` (`findings.untestable`'s reason) says
  the rows cannot tell. `first`: apart already in the first round compared,
  so there is no close stretch before the parting.
  """
  round: Optional[int]
  sparsity: Optional[float]
  p: Optional[float]
  first: bool
  why: Optional[str]


def transition(res: Results, domain: str,
               control: str = 'ticket_random') -> Optional[Transition]:
  """The phase transition of `domain` against `control`, or None when the
  two have no round in common (e.g. `control` was not run)."""
  rounds = _common(res, domain, control)
  if not rounds:
    return None
  why = findings.untestable([a for r in rounds
                             for a in _pair(res, domain, control, r)])
  if why:
    return Transition(None, None, None, False, why)
  found = None
  for r in reversed(rounds):  # From the last round down while still above.
    p = _welch(*_pair(res, domain, control, r), 'greater')
    if p >= findings.ALPHA:
      break
    found = r, p
  if found is None:
    return Transition(None, None, None, False, None)
  r, p = found
  return Transition(r, res.sparsity[res.ticket(domain, RESET, r)], p,
                    r == rounds[0], None)


class Levene(NamedTuple):
  """A Brown-Forsythe test of RESET's spread against a control's, one round.
  p is 1 when the test cannot be made (a constant or single-seed side)."""
  sparsity: float
  statistic: float
  p: float
  std_reset: float
  std_control: float


def brown_forsythe(a: np.ndarray, b: np.ndarray) -> Tuple[float, float]:
  """(statistic, p) of Levene's test centred on the medians."""
  if len(a) < 2 or len(b) < 2:
    return math.nan, 1.0
  with warnings.catch_warnings():  # Constant samples: nan, taken as p = 1.
    warnings.simplefilter('ignore', RuntimeWarning)
    result = stats.levene(a, b, center='median')
  p = float(result.pvalue)
  return float(result.statistic), 1.0 if math.isnan(p) else p


def spread(res: Results, domain: str,
           control: str = 'ticket_random') -> Tuple[Optional[float],
                                                    List[Levene]]:
  """Brown-Forsythe tests of RESET against `control`, per round.

  Returns:
    (the sparsity of the transition the rounds start at, None when every
    pruned round is tested because there is no transition, one `Levene`
    per round tested). No rounds: the two share none, or the rows cannot
    decide (`transition`'s why).
  """
  found = transition(res, domain, control)
  if found is None or found.why:
    return None, []
  rounds = [r for r in _common(res, domain, control)
            if found.round is None or r >= found.round]
  tests = []
  for r in rounds:
    a, b = _pair(res, domain, control, r)
    w, p = brown_forsythe(a, b)
    tests.append(Levene(res.sparsity[res.ticket(domain, RESET, r)], w, p,
                        float(a.std()), float(b.std())))
  return found.sparsity, tests


class Within(NamedTuple):
  """How far TICKET-RESET stays within a margin of FULL-MODEL, one domain.

  reach: the highest sparsity up to which no pruned round is more than the
  margin below FULL-MODEL (0.0: not even the first).
  out: (sparsity, mean RESET - mean FULL-MODEL) of the first round beyond.
  """
  reach: float
  out: Optional[Tuple[float, float]]


def within_full(res: Results, domain: str,
                within: float = WITHIN) -> Optional[Within]:
  """How far RESET's mean stays at most `within` below FULL-MODEL's (a
  `Within`); None without FULL-MODEL or a pruned RESET round."""
  full = res.acc.get(res.ticket(domain, 'full_model', 0))
  rounds = [r for r in res.rounds('tickets', domain, domain, RESET) if r > 0]
  if full is None or not rounds:
    return None
  reach = 0.0
  for r in rounds:
    key = res.ticket(domain, RESET, r)
    diff = float(res.acc[key].mean() - full.mean())
    # Rounded so that float noise cannot push an exact 1 point outside.
    if round(-diff, 9) > within:
      return Within(reach, (res.sparsity[key], diff))
    reach = res.sparsity[key]
  return Within(reach, None)


def nearest(res: Results, domain: str, target: float,
            strategy: str = RESET) -> Optional[int]:
  """The pruned round of `strategy` nearest `target` if `findings.is_near`
  (by the weights kept; the lower of two equally near), else None."""
  def ratio(r):
    return findings.kept_ratio(
        res.sparsity[res.ticket(domain, strategy, r)], target)
  rounds = [r for r in res.rounds('tickets', domain, domain, strategy)
            if r > 0 and ratio(r) <= findings.NEAR_FACTOR]
  return min(rounds, key=lambda r: (ratio(r), r)) if rounds else None


def gaps_near(res: Results, domain: str, strategies: Sequence[str] = GAPS,
              target: float = findings.UP_TO_TARGET
              ) -> Tuple[Optional[float], Dict[str, Tuple[float, float]]]:
  """(the sparsity of RESET's round nearest `target`, or None when none is
  near; {strategy: (mean RESET - mean strategy, two-sided Welch p)} at that
  round for each of `strategies` with rows there)."""
  r = nearest(res, domain, target)
  if r is None:
    return None, {}
  gaps = {}
  for s in strategies:
    if res.ticket(domain, s, r) in res.acc:
      a, b = _pair(res, domain, s, r)
      gaps[s] = (a.mean() - b.mean(), _welch(a, b, 'two-sided'))
  return res.sparsity[res.ticket(domain, RESET, r)], gaps


# ---------------------------------------------------------------------------
# Tables.


def transition_cell(found: Optional[Transition]) -> str:
  """A `transition` as a table cell."""
  if found is None:
    return '-'
  if found.why:
    return f'INCONCLUSIVE ({found.why})'
  if found.round is None:
    return 'none'
  return (f'{_percent(found.sparsity)} (round {found.round}, p='
          f'{_p(found.p)})' + ('; apart from the first round' if found.first
                               else ''))


def spread_cell(start: Optional[float], tests: Sequence[Levene],
                control: str = 'ticket_random') -> str:
  """`spread`'s tests as a table cell: how often each side is steadier."""
  if not tests:
    return '-'
  other = NAMES[control].split('-', 1)[1]
  steadier = sum(t.std_reset < t.std_control for t in tests)
  sig_reset = sum(t.p < findings.ALPHA and t.std_reset < t.std_control
                  for t in tests)
  sig_other = sum(t.p < findings.ALPHA and t.std_reset > t.std_control
                  for t in tests)
  best = min(tests, key=lambda t: t.p)
  side = ('equal std' if math.isclose(best.std_reset, best.std_control,
                                      abs_tol=1e-12) else
          f'{"RESET" if best.std_reset < best.std_control else other} '
          'steadier')
  where = ('every pruned round' if start is None else
           f'from {_percent(start)} on')
  return (f'{where} ({len(tests)} round{"s" * (len(tests) > 1)}): RESET '
          f'smaller std in {steadier}; significantly steadier: RESET '
          f'{sig_reset}, {other} {sig_other}; strongest W={best.statistic:.2f}'
          f', p={_p(best.p)} at {_percent(best.sparsity)} ({side}, '
          f'std {best.std_reset:.3f} vs {best.std_control:.3f})')


def within_cell(found: Optional[Within]) -> str:
  """A `within_full` as a table cell, with the first round outside."""
  if found is None:
    return '-'
  if found.out is None:
    return f'up to {_percent(found.reach)} sparsity (every round)'
  out = (f'{_percent(found.out[0])}: RESET - FULL-MODEL '
         f'{100 * found.out[1]:+.1f} points')
  if not found.reach:
    return f'not even at the first pruned round ({out})'
  return f'up to {_percent(found.reach)} sparsity (then {out})'


def gap_cell(gap: Optional[Tuple[float, float]]) -> str:
  return '-' if gap is None else f'{100 * gap[0]:+.1f} (p={_p(gap[1])})'


def phase_table(res: Results, target: float = findings.UP_TO_TARGET) -> str:
  """The per-domain phase-transition table (markdown), one row per domain.

  Columns: the transition against each of `CONTROLS` present; the
  Brown-Forsythe tests against TICKET-RANDOM; the sparsity up to which RESET
  stays at most `WITHIN` below FULL-MODEL; RESET minus each of `GAPS` present,
  in points (two-sided Welch p), at RESET's round nearest `target`.
  """
  controls = present(res, CONTROLS)
  gaps = present(res, GAPS)
  short = {s: NAMES[s].replace('TICKET-', '') for s in GAPS}
  head = (['domain'] + [f'phase transition vs {short[c]}' for c in controls]
          + ['RESET vs RANDOM spread (Brown-Forsythe)',
             f'RESET at most {100 * WITHIN:g} point below FULL-MODEL', 'round '
             f'~{100 * target:g}%'] + [f'RESET - {short[s]}' for s in gaps])
  lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
  for domain in res.domains:
    at, found = gaps_near(res, domain, gaps, target)
    cells = ([domain] + [transition_cell(transition(res, domain, c))
                         for c in controls]
             + [spread_cell(*spread(res, domain)),
                within_cell(within_full(res, domain)),
                '-' if at is None else _percent(at)]
             + [gap_cell(found.get(s)) for s in gaps])
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def ablation_rounds(res: Results, domain: str,
                    target: float = findings.UP_TO_TARGET) -> List[int]:
  """RESET's rounds of moderate sparsity (`MODERATE`, inclusive) and the
  round nearest `target` (`nearest`), ascending, each once."""
  low, high = MODERATE
  rounds = {r for r in res.rounds('tickets', domain, domain, RESET)
            if r > 0 and low - 1e-9 <= res.sparsity[
                res.ticket(domain, RESET, r)] <= high + 1e-9}
  near = nearest(res, domain, target)
  return sorted(rounds | ({near} if near is not None else set()))


def _ablation_lines(label: str, res: Results, domain: str,
                    target: float) -> List[str]:
  """One line per `ablation_rounds` round of one run."""
  full = findings.cell(res.acc.get(res.ticket(domain, 'full_model', 0)))
  rounds = ablation_rounds(res, domain, target)
  if not rounds:
    return [f'| {label} | {full} | - | - | - | - | - |']
  lines = []
  for r in rounds:
    reset = res.acc[res.ticket(domain, RESET, r)]
    random = res.acc.get(res.ticket(domain, 'ticket_random', r))
    gap = '- | -' if random is None else (
        f'{100 * (reset.mean() - random.mean()):+.1f} | '
        f'{_p(_welch(reset, random, "two-sided"))}')
    lines.append(f'| {label} | {full} | '
                 f'{_percent(res.sparsity[res.ticket(domain, RESET, r)])} | '
                 f'{findings.cell(reset)} | {findings.cell(random)} | {gap} |')
  return lines


def ablation_table(runs: Mapping[str, Sequence[Dict[str, Any]]],
                   domain: Optional[str] = None,
                   target: float = findings.UP_TO_TARGET) -> str:
  """One domain's results under several training budgets, side by side.

  Args:
    runs: {label: result rows}, e.g. {'4 epochs (old cpu preset)': rows_a,
      'converged (cpu preset)': rows_b}, in the order to show.
    domain: the domain (its 'tickets' rows); None: the first domain of the
      first run that has one.
    target: the high sparsity shown beside the moderate ones.

  Returns:
    A markdown table, one line per label and round (`ablation_rounds`):
    FULL-MODEL, RESET, RANDOM (mean +- std over the seeds) and RESET -
    RANDOM in points with its two-sided Welch p.
  """
  results = {label: Results(rows) for label, rows in runs.items()}
  if domain is None:
    domain = next((r.domains[0] for r in results.values() if r.domains), '-')
  lines = [f'Domain: {domain}.', '',
           '| run | FULL-MODEL | sparsity | TICKET-RESET | TICKET-RANDOM | '
           'RESET - RANDOM (points) | Welch p |', '|---|---|---|---|---|---|'
           '---|']
  for label, res in results.items():
    lines += _ablation_lines(label, res, domain, target)
  return '\n'.join(lines)
