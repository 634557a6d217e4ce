"""The paper's findings checked with the seeds' spread (sections 5.2, 5.3).

Each finding gets a verdict computed from the saved rows alone, never tuned.
"Up to about 90% sparsity" is judged on the rounds the rows contain: the cut
(`sparsity_cut`) is the round nearest the target `up_to` (0.9), if it is
near (`is_near`; else every finding is INCONCLUSIVE); "up to" is at or
below the cut, "beyond" above it.

(a) TICKET-RESET matches or beats FULL-MODEL: in no round up to the cut is
    RESET significantly below FULL-MODEL (one-sided Welch, p < `ALPHA`).
(b) TICKET-RESET and TICKET-RANDOM are close until very high sparsity, then
    part: no round up to the cut shows a significant gap (two-sided Welch)
    and some round beyond it shows RESET significantly above RANDOM; the
    parting sparsity is the lowest round from which RESET stays above to
    the last. Plus whether RESET is steadier (smaller std) beyond the cut.
(c) Transferred masks (MASKS-RESET) stay within `FEW_POINTS` of
    TICKET-TARGET in every round up to the cut (means); each pair is
    tested for more than `FEW_POINTS` below (one-sided Welch).

A verdict counts only the domains (pairs for (c)) whose rows can decide it
(`untestable`: at least `MIN_SEEDS` seeds, not every mean within
`NEAR_CHANCE` of `CHANCE`; for (b), a round beyond the cut), names those
left out and why, and is INCONCLUSIVE, with the reason, when none is left.
"""

from __future__ import annotations

import collections
import math
import warnings
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from scipy import stats

from lottery_jax.results import Results

ALPHA = 0.05
# "Up to about 90% sparsity" (the paper's wording): the target whose nearest
# round is the cut, so each preset is judged on its own grid of rounds.
UP_TO_TARGET = 0.9
# A round is "near" a sparsity when it keeps between 1/2 and 2 times the
# weights that sparsity keeps (`is_near`): ~90% means 80-95%.
NEAR_FACTOR = 2.0
FEW_POINTS = 0.05  # The paper reports a 3-5 point drop after transfer.
# With two seeds a group's std rests on one difference and Welch's test has
# about one degree of freedom: almost no gap is significant, so a "close"
# or "never below" would be the test's blindness, not a finding.
MIN_SEEDS = 3
# Balanced binary sentiment: a model that learned nothing scores 0.5, and
# near it a gap (or none) says nothing about tickets.
CHANCE = 0.5
NEAR_CHANCE = 0.05
NAMES = {'full_model': 'FULL-MODEL', 'ticket_reset': 'TICKET-RESET',
         'ticket_random': 'TICKET-RANDOM', 'masks_reset': 'MASKS-RESET',
         'masks_random': 'MASKS-RANDOM', 'ticket_target': 'TICKET-TARGET',
         'ticket_reinit': 'TICKET-REINIT', 'ticket_rewind': 'TICKET-REWIND',
         'random_pruning': 'RANDOM-PRUNING'}


def cell(values) -> str:
  """'mean +- std' of the seeds' accuracies, or '-'."""
  return '-' if values is None else f'{values.mean():.3f} +- {values.std():.3f}'


def _welch(a: np.ndarray, b: np.ndarray, alternative: str) -> float:
  """p-value of Welch's t-test of a against b.

  Fewer than two seeds on either side: 1 (untestable). Both sides constant
  (e.g. every seed at chance): 0 if the constants differ in the direction
  tested, else 1, the limit of the test as the spread goes to zero.
  """
  if len(a) < 2 or len(b) < 2:
    return 1.0
  if np.ptp(a) == 0 and np.ptp(b) == 0:
    differ = {'greater': a[0] > b[0], 'less': a[0] < b[0],
              'two-sided': a[0] != b[0]}[alternative]
    return 0.0 if differ else 1.0
  with warnings.catch_warnings():  # Nearly equal samples: p is still fine.
    warnings.simplefilter('ignore', RuntimeWarning)
    p = stats.ttest_ind(a, b, equal_var=False,
                        alternative=alternative).pvalue
  return 1.0 if math.isnan(p) else float(p)


def untestable(groups: Sequence[np.ndarray]) -> Optional[str]:
  """Why the groups one domain (or pair) compares cannot decide a finding.

  Args:
    groups: the per-seed accuracies of every group compared, at least one.

  Returns:
    None when they can; else the reason, a phrase: the smallest group has
    fewer than `MIN_SEEDS` seeds, or every group's mean accuracy is less
    than `NEAR_CHANCE` from `CHANCE`.
  """
  seeds = min(len(g) for g in groups)
  if seeds < MIN_SEEDS:
    return (f'{seeds} seed{"" if seeds == 1 else "s"}, fewer than the '
            f'{MIN_SEEDS} a test needs')
  if all(abs(g.mean() - CHANCE) < NEAR_CHANCE for g in groups):
    return (f'every mean accuracy within {100 * NEAR_CHANCE:g} points of '
            f'chance, {CHANCE:g}')
  return None


def _reasons(left_out: Dict[str, str]) -> str:
  """'books, home (reason); cds (other reason)': names grouped by reason."""
  by_reason = collections.defaultdict(list)
  for name, reason in left_out.items():
    by_reason[reason].append(name)
  return '; '.join(f'{", ".join(names)} ({reason})'
                   for reason, names in by_reason.items())


def _verdict(hits: int, total: int, left_out: Dict[str, str],
             unit: str = 'domain') -> str:
  """The verdict: the finding holds in `hits` of `total` testable units
  (domains or pairs); `left_out` maps each untestable one to why."""
  if not total:
    return (f'INCONCLUSIVE, no {unit} can be tested: {_reasons(left_out)}'
            if left_out else f'INCONCLUSIVE, no {unit} to test')
  if hits == total:
    verdict = 'REPRODUCED'
  elif hits:
    verdict = f'PARTLY REPRODUCED ({hits} of {total})'
  else:
    verdict = 'NOT REPRODUCED'
  if left_out:
    verdict += (f' over {total} testable {unit}{"s" * (total > 1)}; '
                f'{len(left_out)} left out: {_reasons(left_out)}')
  return verdict


def sparsity_cut(res: Results, up_to: float = UP_TO_TARGET) -> float:
  """The last sparsity "up to about `up_to`" on the grid the rows contain.

  Presets prune different fractions a round (cpu: 90.9% after three rounds
  at 0.55; paper: 88.4% then 92.5% at 0.35), so a fixed cut would judge some
  preset on the wrong round. Transfer prunes with the source's ticket masks,
  so its rounds share the ticket grid, which is used whenever there is one.

  Args:
    res: the results.
    up_to: the target sparsity, a fraction in [0, 1].

  Returns:
    The sparsity of the round nearest to `up_to` (the lower of two equally
    near), `up_to` when there are no rows, None when even the nearest is
    not `is_near`: a run that stops at 75% says nothing about 90%.
  """
  grid = {s for k, s in res.sparsity.items() if k[0] == 'tickets'}
  grid = grid or set(res.sparsity.values())
  if not grid:
    return up_to
  # Rounded so that float noise (0.9 - 0.85 > 0.95 - 0.9) cannot break a
  # tie; the rows' sparsities carry 6 decimals.
  cut = min(grid, key=lambda s: (round(abs(s - up_to), 9), s))
  return cut if is_near(cut, up_to) else None


def kept_ratio(sparsity: float, target: float) -> float:
  """How many times more (or fewer) weights one sparsity keeps than the
  other, >= 1: rounds, which prune a fixed fraction of what is left, are
  evenly spaced on it (99% keeps half of what 98% keeps)."""
  kept, wanted = max(1 - sparsity, 1e-12), max(1 - target, 1e-12)
  # Rounded so that float noise cannot push an exact factor outside.
  return round(max(kept / wanted, wanted / kept), 9)


def is_near(sparsity: float, target: float) -> bool:
  """Within `NEAR_FACTOR` of the weights `target` keeps (~90%: 80-95%)."""
  return kept_ratio(sparsity, target) <= NEAR_FACTOR


def _no_cut(title: str, res: Results, up_to: float) -> str:
  """A finding's verdict when no round is near `up_to`."""
  reach = max(res.sparsity.values())
  return (f'**{title}: INCONCLUSIVE, no round near {100 * up_to:g}% '
          f'sparsity** (the nearest keeps more than {NEAR_FACTOR:g} times '
          f'its weights; the rounds reach {100 * reach:.1f}%).')


# ---------------------------------------------------------------------------
# Findings.


def finding_a(res: Results, up_to: float = UP_TO_TARGET) -> str:
  """Finding (a), judged on the rounds up to `sparsity_cut(res, up_to)`."""
  cut = sparsity_cut(res, up_to)
  if cut is None:
    return _no_cut('(a) TICKET-RESET matches or beats FULL-MODEL up to '
                   f'~{100 * up_to:g}% sparsity', res, up_to)
  lines, hits, left_out = [], 0, {}
  for domain in res.domains:
    full = res.acc.get(res.ticket(domain, 'full_model', 0))
    keys = [res.ticket(domain, 'ticket_reset', r)
            for r in res.rounds('tickets', domain, domain, 'ticket_reset')]
    keys = [k for k in keys if res.sparsity[k] <= cut]
    if full is None or not keys:
      continue
    why = untestable([full] + [res.acc[k] for k in keys])
    if why:
      left_out[domain] = why
      lines.append(f'- {domain}: FULL-MODEL {cell(full)}; inconclusive, '
                   f'{why}.')
      continue
    worst = min(keys, key=lambda k: res.acc[k].mean())  # First of equals.
    below = [f'{100 * res.sparsity[k]:.1f}%' for k in keys
             if _welch(res.acc[k], full, 'less') < ALPHA]
    hits += not below
    lines.append(
        f'- {domain}: FULL-MODEL {cell(full)}; smallest RESET - FULL '
        f'{100 * (res.acc[worst].mean() - full.mean()):+.1f} points (at '
        f'{100 * res.sparsity[worst]:.1f}%); '
        + ('never significantly below.' if not below else
           'significantly below at ' + ', '.join(below) + '.'))
  verdict = _verdict(hits, len(lines) - len(left_out), left_out)
  return (f'**(a) TICKET-RESET matches or beats FULL-MODEL up to '
          f'~{100 * up_to:g}% sparsity: {verdict}.** '
          f'Rounds up to {100 * cut:.0f}% sparsity (the round nearest '
          f'{100 * up_to:g}%); one-sided Welch t-test over the seeds, p < '
          f'{ALPHA}.\n\n' + '\n'.join(lines))


class Comparison(NamedTuple):
  """TICKET-RESET against TICKET-RANDOM in one round, over the seeds."""
  sparsity: float
  diff: float       # mean RESET - mean RANDOM
  p: float          # two-sided Welch
  std_reset: float
  std_random: float


def reset_vs_random(res: Results, domain: str) -> List[Comparison]:
  """One `Comparison` per round that has both strategies."""
  out = []
  for r in res.rounds('tickets', domain, domain, 'ticket_reset'):
    if res.ticket(domain, 'ticket_random', r) not in res.acc:
      continue
    a = res.acc[res.ticket(domain, 'ticket_reset', r)]
    b = res.acc[res.ticket(domain, 'ticket_random', r)]
    out.append(Comparison(res.sparsity[res.ticket(domain, 'ticket_reset', r)],
                          a.mean() - b.mean(), _welch(a, b, 'two-sided'),
                          a.std(), b.std()))
  return out


def _apart(diff: float, p: float) -> bool:
  return p < ALPHA and diff > 0


def _parting(domain: str, rounds: List[Comparison],
             cut: float) -> Tuple[str, bool, bool]:
  """Finding (b) in one testable domain, from its `reset_vs_random`.

  Returns:
    The domain's line, whether the finding holds there, and whether RESET
    has the smaller mean std beyond `cut`.
  """
  early = [c for c in rounds if c.sparsity <= cut]
  late = [c for c in rounds if c.sparsity > cut]
  close_early = not any(c.p < ALPHA for c in early)
  part_late = any(_apart(c.diff, c.p) for c in late)
  parting = None  # Lowest sparsity from which RESET stays above RANDOM.
  for c in reversed(rounds):
    if not _apart(c.diff, c.p):
      break
    parting = c.sparsity
  std_reset = np.mean([c.std_reset for c in late]) if late else math.nan
  std_random = np.mean([c.std_random for c in late]) if late else math.nan
  significant = [f'{100 * c.sparsity:.1f}%' for c in early if c.p < ALPHA]
  line = (
      f'- {domain}: up to {100 * cut:.0f}% '
      + ('close (no significant gap)' if close_early else
         'already apart at ' + ', '.join(significant))
      + ('; beyond it RESET significantly above RANDOM '
         + ('in some round' if part_late else 'in no round') if late
         else '; no round beyond it')
      + ('; RESET stays significantly above from '
         f'{100 * parting:.1f}% on' if parting is not None else '')
      + (f'. Mean std beyond {100 * cut:.0f}%: RESET {std_reset:.3f}, '
         f'RANDOM {std_random:.3f}' if late else '')
      + '. RESET - RANDOM in points per round: '
      + '; '.join(f'{100 * c.sparsity:.1f}%: {100 * c.diff:+.1f} '
                  f'(p={c.p:.3f})' for c in rounds) + '.')
  return (line, close_early and part_late,
          bool(std_reset < std_random) if late else None)


def _untestable_b(res: Results, domain: str, rounds: List[Comparison],
                  cut: float) -> Optional[str]:
  """`untestable`, or close at `cut` with no round beyond (apart up to it
  fails (b) whatever lies beyond)."""
  groups = [res.acc[res.ticket(domain, s, r)]
            for r in res.rounds('tickets', domain, domain, 'ticket_reset')
            if res.ticket(domain, 'ticket_random', r) in res.acc
            for s in ('ticket_reset', 'ticket_random')]
  if untestable(groups) or any(c.sparsity > cut or c.p < ALPHA
                               for c in rounds):
    return untestable(groups)
  return f'close up to {100 * cut:.0f}% but no round beyond it to part in'


def finding_b(res: Results, up_to: float = UP_TO_TARGET) -> str:
  """Finding (b): close up to `sparsity_cut(res, up_to)`, apart beyond."""
  cut = sparsity_cut(res, up_to)
  if cut is None:
    return _no_cut('(b) RESET and RANDOM close until very high sparsity, '
                   'then part (phase transition)', res, up_to)
  lines, hits, steadier, left_out = [], 0, [], {}
  for domain in res.domains:
    rounds = reset_vs_random(res, domain)
    if not rounds:
      continue
    why = _untestable_b(res, domain, rounds, cut)
    if why:
      left_out[domain] = why
      lines.append(f'- {domain}: inconclusive, {why}.')
      continue
    line, hit, steady = _parting(domain, rounds, cut)
    lines.append(line)
    hits += hit
    steadier += [] if steady is None else [steady]  # Rounds beyond.
  total = len(lines) - len(left_out)
  return (f'**(b) RESET and RANDOM close until very high sparsity, then '
          f'part (phase transition): {_verdict(hits, total, left_out)}.** '
          f'Reproduced in a domain where no round up to {100 * cut:.0f}% '
          f'shows a significant gap (two-sided Welch t-test over the seeds, '
          f'p < {ALPHA}) and RESET is significantly above RANDOM in some '
          f'round beyond.'
          + (f' RESET steadier (smaller std) beyond {100 * cut:.0f}% in '
             f'{sum(steadier)} of {len(steadier)} domains.' if steadier
             else '')
          + '\n\n' + '\n'.join(lines))


def _shortfall(res: Results, source: str, target: str, strategy: str,
               cut: float) -> Optional[Tuple[float, float, Optional[str]]]:
  """(largest shortfall of `strategy`'s mean below TICKET-TARGET's in a
  round up to `cut`, the smallest one-sided Welch p of one beyond
  `FEW_POINTS`, why the pair is `untestable`), or None if no round."""
  worst, p, groups = -math.inf, 1.0, []
  for r in res.rounds('transfer', source, target, strategy):
    key = ('transfer', source, target, strategy, r)
    ref = res.acc.get(res.ticket(target, 'ticket_reset', r))
    if res.sparsity[key] > cut or ref is None:
      continue
    groups += [res.acc[key], ref]
    worst = max(worst, ref.mean() - res.acc[key].mean())
    p = min(p, _welch(ref - FEW_POINTS, res.acc[key], 'greater'))
  return (worst, p, untestable(groups)) if groups else None


def _shortfall_line(strategy: str, gaps: List[Tuple[float, float, str, str]],
                    left_out: Dict[str, str], cut: float) -> str:
  line = f'- {NAMES[strategy]}: '
  if gaps:
    worst, few = max(gaps), f'{100 * FEW_POINTS:.0f} points'
    line += (
        f'largest shortfall below TICKET-TARGET up to {100 * cut:.0f}%, per '
        f'pair: mean {100 * np.mean([g for g, *_ in gaps]):.1f} points, '
        f'worst {100 * worst[0]:.1f} ({worst[2]} -> {worst[3]}); within '
        f'{few} in {sum(g <= FEW_POINTS for g, *_ in gaps)} of {len(gaps)} '
        f'pairs; significantly more than {few} below (one-sided Welch, p < '
        f'{ALPHA:g}) in {sum(p < ALPHA for _, p, *_ in gaps)} (the worst '
        f'pair: p={worst[1]:.3f}).')
  if left_out:
    line += (' Inconclusive' if gaps else 'inconclusive') + (
        f' in {len(left_out)} pair{"s" * (len(left_out) > 1)}: '
        f'{_reasons(left_out)}.')
  return line


def finding_c(res: Results, up_to: float = UP_TO_TARGET) -> str:
  """Finding (c), on the ticket grid's cut: transfer uses its masks."""
  cut = sparsity_cut(res, up_to)
  if cut is None:
    return _no_cut('(c) Transferred masks stay within a few points of '
                   f'TICKET-TARGET up to ~{100 * up_to:g}%', res, up_to)
  lines, summary = [], {}
  for strategy in ('masks_reset', 'masks_random'):
    gaps, left_out = [], {}
    for source, target in res.pairs:
      found = _shortfall(res, source, target, strategy, cut)
      if found and found[2]:
        left_out[f'{source} -> {target}'] = found[2]
      elif found:
        gaps.append((*found[:2], source, target))
    summary[strategy] = gaps, left_out
    if gaps or left_out:
      lines.append(_shortfall_line(strategy, gaps, left_out, cut))
  reset, left_out = summary['masks_reset']
  within = sum(g <= FEW_POINTS for g, *_ in reset)
  return (f'**(c) Transferred masks stay within a few points of '
          f'TICKET-TARGET up to ~{100 * up_to:g}%: '
          f'{_verdict(within, len(reset), left_out, "pair")}.** '
          f'(MASKS-RESET within {100 * FEW_POINTS:.0f} points of the target\'s '
          f'own TICKET-RESET in every round up to {100 * cut:.0f}%, by pair).'
          '\n\n' + '\n'.join(lines))
