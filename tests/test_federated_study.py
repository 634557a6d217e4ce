"""The federated experiment end to end on tiny data: the server's tickets
re-trained by clients, every variant, resuming, and its errors."""

import dataclasses
import os
import subprocess
import sys

import pytest

from experiments.configs import smoke
from lottery_jax import config as config_lib
from lottery_jax import federated
from lottery_jax import federated_study
from lottery_jax import progress
from lottery_jax import runs
from lottery_jax import tickets

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLAN = federated_study.Plan(
    server='home', target='electronics', ticket_rounds=(1, 2),
    partitions=('iid', 'dirichlet'), alpha=1.0, clients=4, per_round=2,
    rounds=2)


@pytest.fixture(scope='module')
def prepared(tiny_data_dir_shared, tmp_path_factory):
  config = smoke.get_config()
  config.data.domains = 'home,electronics'
  config.lottery.domains = 'home'
  settings = config_lib.settings(config)
  workdir = str(tmp_path_factory.mktemp('federated'))
  data_workdir = runs.prepare_data(settings.data, tiny_data_dir_shared,
                                   workdir)
  return settings, data_workdir, workdir


def test_missing_server_tickets_say_how_to_find_them(prepared):
  settings, data_workdir, workdir = prepared
  with pytest.raises(federated.FederatedError,
                     match='no finished TICKET-RESET round.*find them first: '
                     'python -m experiments.find_tickets .*'
                     '--config.lottery.domains=home'):
    federated_study.run(settings, PLAN, data_workdir, workdir + '/empty')


def test_every_variant_runs_and_a_second_run_only_reads(prepared, tmp_path,
                                                        monkeypatch):
  settings, data_workdir, workdir = prepared
  tickets.find_tickets(settings, data_workdir, workdir, 'home')
  rows = federated_study.run(settings, PLAN, data_workdir, workdir,
                             progress.Progress.quiet())
  runs_done = {(r['partition'], r['variant'], r['ticket_round'])
               for r in rows}
  assert runs_done == {(p, v, r) for p in ('iid', 'dirichlet')
                       for v, r in [('dense', 0), ('ticket_reset', 1),
                                    ('ticket_fresh', 1), ('ticket_reset', 2),
                                    ('ticket_fresh', 2)]}
  assert len(rows) == len(runs_done) * 2 * 2  # 2 seeds x 2 rounds.
  sparsity = {r['ticket_round']: r['sparsity'] for r in rows}
  assert sparsity[0] == 0.0 < sparsity[1] < sparsity[2]
  # A sparse ticket's messages are smaller than dense FedAvg's.
  first = {(r['variant'], r['ticket_round']): r['bytes_up'] for r in rows
           if r['round'] == 1 and r['seed'] == 0 and r['partition'] == 'iid'}
  assert first[('ticket_reset', 2)] < first[('ticket_reset', 1)] < first[
      ('dense', 0)]
  assert first[('ticket_fresh', 1)] == first[('ticket_reset', 1)]

  lines = federated_study.table(rows).splitlines()
  assert len(lines) == 2 + len(runs_done)
  dense_line = next(line for line in lines if '| iid | dense |' in line)
  # Dense FedAvg reaches its own final accuracy: at the last round at most;
  # its bytes are its own.
  assert dense_line.split(' | ')[2] == '0.0%'
  assert dense_line.split(' | ')[6:8] == ['1.000', '1.000']
  fresh = next(line for line in lines if '| dirichlet | ticket_fresh |' in line)
  assert fresh.split(' | ')[-1].endswith(') |')  # Its p against theta_0.
  paths = federated_study.write_outputs(str(tmp_path), rows)
  assert [os.path.basename(p) for p in paths] == [
      'federated.jsonl', 'federated.png', 'federated.pdf', 'federated.md']
  assert all(os.path.getsize(p) > 0 for p in paths)
  with open(paths[-1]) as f:
    assert '\n'.join(lines) in f.read()

  def fail(*args, **kwargs):
    raise AssertionError('trained again')

  monkeypatch.setattr(federated, 'simulate', fail)
  again = federated_study.run(settings, PLAN, data_workdir, workdir)
  assert again == rows


def test_clients_in_the_servers_domain_are_refused(prepared):
  settings, data_workdir, workdir = prepared
  with pytest.raises(federated.FederatedError, match='another domain'):
    federated_study.run(settings, dataclasses.replace(PLAN, target='home'),
                        data_workdir, workdir)


def test_the_entry_point_says_in_one_line_how_to_find_missing_tickets(
    tiny_data_dir_shared, tmp_path):
  proc = subprocess.run(
      [sys.executable, '-m', 'experiments.federated',
       '--config=experiments/configs/smoke.py',
       '--config.data.domains=home,electronics',
       '--config.federated.server=home',
       '--config.federated.target=electronics',
       '--config.federated.ticket_rounds=1,2',
       f'--data_dir={tiny_data_dir_shared}', f'--workdir={tmp_path}'],
      cwd=REPO, capture_output=True, text=True, check=False)
  assert proc.returncode == 1
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith('federated: error: ') and 'find them first' in last
