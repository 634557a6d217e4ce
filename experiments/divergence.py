"""The Jensen-Shannon divergence between the prepared domains (Figure 1).

  python -m experiments.divergence --workdir=OUT

Reads OUT (written by experiments.prepare_data) and writes
OUT/divergence.json and the heatmap OUT/divergence.png and .pdf.
"""

import os

from absl import flags
import numpy as np

from experiments import common
from lottery_jax import files
from lottery_jax import plots
from lottery_jax import runs
from lottery_jax.data import divergence
from lottery_jax.data import domains

_WORKDIR = flags.DEFINE_string('workdir', None,
                               'Directory that prepare_data wrote.',
                               required=True)
_DOMAINS = flags.DEFINE_list(
    'domains', None, 'Domains to compare (default: those in data_report.json).')
_PLOT = flags.DEFINE_string(
    'plot', 'divergence',
    'Heatmap file name under --workdir, without extension: written as PNG '
    'and PDF.')


def main(argv):
  common.no_arguments('divergence', argv)
  workdir = _WORKDIR.value
  names = _DOMAINS.value
  try:
    if not names:
      report_path = os.path.join(workdir, 'data_report.json')
      if not os.path.exists(report_path):
        raise domains.DataError(
            f'{report_path}: not found; run experiments.prepare_data '
            f'--workdir={workdir} first')
      names = list(files.read_json(report_path)['domains'])
    result = divergence.domain_divergence(workdir, names)
    files.write_json(os.path.join(workdir, 'divergence.json'), result)
    plots.plot_heatmap(np.asarray(result['jsd']), names,
                       os.path.join(workdir, _PLOT.value))
  except runs.USER_ERRORS as e:  # A full disk (OSError) included.
    common.fail('divergence', e)
  width = max(map(len, names))
  print(' ' * width + ''.join(f'{n:>{width + 2}}' for n in names))
  for name, row in zip(names, result['jsd']):
    print(f'{name:<{width}}' + ''.join(f'{v:>{width + 2}.4f}' for v in row))


if __name__ == '__main__':
  common.run('divergence', main)
