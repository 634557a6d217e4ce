"""The whole study of a preset: data, divergence, tickets in every domain,
transfer over every ordered pair, tables, figures and a markdown report.

  python -m experiments.run_study --config=experiments/configs/cpu.py \
      --data_dir=../shared/data/amazon_reviews --workdir=runs/cpu_study \
      [--results_dir=docs/results]

With --engine=ray the trainings run as Ray tasks (`pip install -e
'.[ray]'`): on this machine, one per CPU, or on the cluster that
--ray_address names; the results are the same (lottery_jax/engine.py).
Run it again to resume: finished rounds are not trained again. The tables,
figures and report go to --results_dir (default WORKDIR/results); redraw
them from saved results alone with `python -m experiments.plot_results`.
"""

from absl import flags

from experiments import common
from lottery_jax import study

_FLAGS = common.define_run_flags()
_RESULTS_DIR = flags.DEFINE_string(
    'results_dir', None, 'Tables, figures and report (default: '
    'WORKDIR/results).')
_ENGINE = flags.DEFINE_enum(
    'engine', 'sequential', ['sequential', 'ray'],
    'How the trainings run: one after the other in this process, or as Ray '
    "tasks, one per CPU (needs pip install -e '.[ray]').")
_RAY_ADDRESS = flags.DEFINE_string(
    'ray_address', None, 'With --engine=ray: the address of a running Ray '
    'cluster (e.g. auto, HOST:6379, ray://HOST:10001); default: start Ray '
    'on this machine.')
_NOTE = flags.DEFINE_string(
    'note', None, 'A note kept with this invocation in study.json and shown '
    'under the report\'s wall times (e.g. what else ran meanwhile).')


def main(argv):
  record = common.call('run_study', argv, _FLAGS, study.run_study,
                       results_dir=_RESULTS_DIR.value,
                       engine=_ENGINE.value, address=_RAY_ADDRESS.value,
                       note=_NOTE.value)
  print('stages (seconds):', record['invocations'][-1]['stages'])


if __name__ == '__main__':
  common.run('run_study', main)
