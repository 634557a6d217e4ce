"""Writes README.md's tables from the files in docs/, so they cannot go stale.

  python -m experiments.readme_tables [--check]

Each table sits between ``<!-- begin:NAME -->`` and ``<!-- end:NAME -->`` in
README.md and is made from a committed file: `data` from
docs/data_report.json and docs/baselines.json (what
`experiments.prepare_data` wrote for the real data, with the linear
baseline), `divergence` from docs/divergence.json, and from
docs/results/ (the study's rows, study.json and the ablation's rows) the
report's `findings` (the verdicts on the paper's findings), `phase` (the
phase transition per domain), `baseline` (FULL-MODEL beside the linear
baseline of docs/baselines.json), `ablation` (the training budget),
`tickets`, `transfer`, `chance` (seeds at chance per round), `effort`
(convergence and cost per strategy), `cost` (seconds per domain trained
on) and `walltime` (seconds per stage);
and `federated`, the federated experiment's table from docs/federated/. With
--check, nothing is written and the exit status says whether README is up
to date (the tests run this check).
"""

import json
import os
import re
import sys
from typing import Any, Dict

from absl import app
from absl import flags

from lottery_jax import cost
from lottery_jax import failures
from lottery_jax import federated_study
from lottery_jax import files
from lottery_jax import findings
from lottery_jax import phase
from lottery_jax import report
from lottery_jax import results

_CHECK = flags.DEFINE_bool('check', False, 'Only check that README.md is '
                           'up to date.')
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def data_table(report: Dict[str, Any], linear: Dict[str, Any]) -> str:
  """Reviews read, duplicates, split sizes and lengths per domain, and the
  test accuracy of the linear baseline (`lottery_jax.baselines`)."""
  lines = ['| domain | read | duplicates | train | valid | test | '
           'length p50 / p90 / p99 | linear baseline |',
           '|---|---:|---:|---:|---:|---:|---|---:|']
  for name, d in report['domains'].items():
    splits = d['splits']
    skipped = ', '.join(f'{n} {reason.replace("_", " ")}'
                        for reason, n in sorted(d['skipped'].items()))
    read = f'{d["records_read"]:,}' + (f' (+{skipped})' if skipped else '')
    p = splits['train']['length_percentiles']
    lines.append(
        f'| {name} | {read} | {d["duplicates_removed"]:,} | '
        + ' | '.join(f'{splits[s]["examples"]:,}'
                     for s in ('train', 'valid', 'test'))
        + f' | {p["p50"]:,} / {p["p90"]:,} / {p["p99"]:,} | '
        f'{linear[name]["test_accuracy"]:.3f} |')
  return '\n'.join(lines)


def divergence_table(jsd: Dict[str, Any]) -> str:
  """The symmetric JSD matrix."""
  names = jsd['domains']
  lines = ['|  | ' + ' | '.join(names) + ' |',
           '|---|' + '---:|' * len(names)]
  for name, row in zip(names, jsd['jsd']):
    lines.append(f'| {name} | ' + ' | '.join(
        '0' if v == 0 else f'{v:.4f}' for v in row) + ' |')
  return '\n'.join(lines)


def findings_text(res: results.Results) -> str:
  """The report's verdicts on the paper's findings (a), (b) and (c)."""
  parts = [findings.finding_a(res), findings.finding_b(res)]
  if res.pairs:
    parts.append(findings.finding_c(res))
  return '\n\n'.join(parts)


def ablation_text(results_dir: str) -> str:
  """The training-budget ablation table, or a line saying there is none."""
  found = report.ablation_runs(results_dir)
  if found is None:
    return '(no training-budget ablation in these results)'
  return phase.ablation_table(*found)


def federated_text(docs: str) -> str:
  """The federated experiment's table (docs/federated/federated.jsonl), or
  a line saying it has not been run."""
  path = os.path.join(docs, 'federated', 'federated.jsonl')
  if not os.path.exists(path):
    return '(not run on the real data yet)'
  with open(path) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  return federated_study.table(rows)


def tables(docs: str) -> Dict[str, str]:
  """Every README table, by name, from the files under `docs`."""
  results_dir = os.path.join(docs, 'results')
  rows = results.read_rows(os.path.join(results_dir, 'results.jsonl'))
  res = results.Results(rows)
  study = files.read_json(os.path.join(results_dir, 'study.json'))
  return {
      'findings': findings_text(res),
      'phase': phase.phase_table(res),
      'baseline': report.baseline_table(res, files.read_json(os.path.join(
          docs, 'baselines.json'))),
      'ablation': ablation_text(results_dir),
      'data': data_table(
          files.read_json(os.path.join(docs, 'data_report.json')),
          files.read_json(os.path.join(docs, 'baselines.json'))),
      'divergence': divergence_table(files.read_json(os.path.join(
          docs, 'divergence.json'))),
      'tickets': report.tickets_table(res),
      'transfer': report.transfer_table(res),
      'chance': failures.chance_table(res),
      'effort': cost.effort_table(rows, study['config']['train']['epochs']),
      'cost': cost.domain_table(rows),
      'walltime': cost.stage_times(study),
      'federated': federated_text(docs),
  }


def update(text: str, name: str, table: str) -> str:
  """`text` with the block between the markers of `name` set to `table`.

  Raises:
    ValueError: the markers are missing.
  """
  pattern = re.compile(
      rf'(<!-- begin:{name} -->\n)(?:.*?\n)?(<!-- end:{name} -->)', re.DOTALL)
  if not pattern.search(text):
    raise ValueError(f'README.md has no <!-- begin:{name} --> ... '
                     f'<!-- end:{name} --> block')
  return pattern.sub(lambda m: m.group(1) + table + '\n' + m.group(2),
                     text)


def main(argv):
  del argv
  path = os.path.join(REPO, 'README.md')
  with open(path) as f:
    text = f.read()
  new = text
  for name, table in tables(os.path.join(REPO, 'docs')).items():
    new = update(new, name, table)
  if _CHECK.value:
    if new != text:
      sys.exit('readme_tables: README.md is out of date with docs/: run '
               'python -m experiments.readme_tables')
    return
  with files.atomic_write(path, 'w') as f:
    f.write(new)


if __name__ == '__main__':
  app.run(main)
