r"""Downloads balanced McAuley Amazon reviews for the five domains.

Streams each category file and stops once it has --per_class negative and
--per_class positive reviews, writing {out_dir}/mcauley/{domain}.jsonl.gz (the
files that --config.data.layout=mcauley reads) and
{out_dir}/mcauley/download_report.json.

  python -m experiments.download_mcauley --out_dir=data --per_class=20000 \
      [--domains=books,cds] [--release=2023] [--base_url=URL] [--overwrite]
"""

import os
import sys

from absl import app
from absl import flags

from lottery_jax.data import domains as domains_lib
from lottery_jax.data import download

_OUT_DIR = flags.DEFINE_string('out_dir', None, 'Data folder; files go to '
                               '{out_dir}/mcauley/.')
_PER_CLASS = flags.DEFINE_integer(
    'per_class', 20000, 'Negative and positive reviews to keep per domain.',
    lower_bound=1)
_DOMAINS = flags.DEFINE_list(
    'domains', list(domains_lib.DOMAINS),
    f'Comma-separated subset of {",".join(domains_lib.DOMAINS)}.')
_RELEASE = flags.DEFINE_enum('release', '2023', list(download.RELEASES),
                             'McAuley release to download from.')
_BASE_URL = flags.DEFINE_string(
    'base_url', None, 'Replaces everything before the file name in each URL '
    '(a mirror).')
_OVERWRITE = flags.DEFINE_bool('overwrite', False,
                               'Download again files that already exist.')
_TIMEOUT = flags.DEFINE_float('timeout', download.DEFAULT_TIMEOUT,
                              'Seconds to wait for a connection or a read.')

flags.mark_flag_as_required('out_dir')


def _check_domains(domains):
  """The --domains values, or exit with one line naming the flag."""
  domains = [d.strip().lower() for d in domains if d.strip()]
  unknown = [d for d in domains if d not in domains_lib.DOMAINS]
  if unknown or not domains:
    what = f'unknown domain {", ".join(unknown)}' if unknown else 'empty'
    sys.exit(f'error: --domains: {what}; choose from '
             f'{",".join(domains_lib.DOMAINS)}')
  return domains


def _print_table(reports):
  print(f'{"domain":<12} {"negative":>9} {"positive":>9} {"MB read":>8}  note')
  for domain, r in reports.items():
    if r['reused']:
      mb, note = '-', 'reused'
    else:
      mb = f'{r["bytes_downloaded"] / 1e6:.1f}'
      note = 'stopped early' if r['stopped_early'] else 'read to the end'
    if not r['complete']:
      note += f', fewer than {r["per_class"]} of a label'
    print(f'{domain:<12} {r["kept"]["negative"]:>9} '
          f'{r["kept"]["positive"]:>9} {mb:>8}  {note}')


def main(argv):
  if len(argv) > 1:
    sys.exit(f'error: unexpected arguments: {" ".join(argv[1:])}')
  domains = _check_domains(_DOMAINS.value)
  try:
    reports = download.download_all(
        _OUT_DIR.value, _PER_CLASS.value, domains=domains,
        release=_RELEASE.value, base_url=_BASE_URL.value,
        overwrite=_OVERWRITE.value, timeout=_TIMEOUT.value)
  except (download.DownloadError, OSError, ValueError) as e:
    # One line, no traceback: these are the user's to fix (URL, disk, flags).
    sys.exit(f'error: {e}')
  _print_table(reports)
  print('report: ' + os.path.join(_OUT_DIR.value, domains_lib.MCAULEY_DIR,
                                  download.REPORT_NAME))


if __name__ == '__main__':
  app.run(main)
