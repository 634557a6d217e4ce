"""The Flower App (`flwr run experiments/flower_app`): a valid app, the same
rows as the in-library federated experiment, one clear error per bad key."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys

from flwr.common import config as flwr_config
import pytest

from lottery_jax import config as config_lib
from lottery_jax import federated
from lottery_jax import federated_study
from lottery_jax import flower_study
from lottery_jax import progress
from lottery_jax import runs
from lottery_jax import tickets

REPO = pathlib.Path(__file__).resolve().parent.parent
APP = REPO / 'experiments' / 'flower_app'
sys.path.insert(0, str(APP))
import ticket_app  # pylint: disable=g-import-not-at-top,wrong-import-position

PRESET = '''
from experiments.configs import smoke


def get_config():
  config = smoke.get_config()
  config.data.domains = 'home,electronics'
  config.lottery.domains = 'home'
  config.train.epochs = 4
  f = config.federated
  f.server, f.target, f.ticket_rounds = 'home', 'electronics', (1,)
  f.clients, f.per_round, f.rounds, f.partitions = 3, 2, 2, 'iid'
  f.local_epochs, f.learning_rate = 20, 3e-2  # Enough to learn here.
  return config
'''


@pytest.fixture(scope='module')
def study(tiny_data_dir_shared, tmp_path_factory):
  """(preset path, workdir, the in-library experiment's rows)."""
  root = tmp_path_factory.mktemp('flower_app')
  preset = root / 'preset.py'
  preset.write_text(PRESET)
  settings = config_lib.settings(ticket_app.preset(str(preset), ''))
  workdir = str(root / 'work')
  data_workdir = runs.prepare_data(settings.data, tiny_data_dir_shared,
                                   workdir)
  tickets.find_tickets(settings, data_workdir, workdir, 'home')
  rows = federated_study.run(settings, settings.federated, data_workdir,
                             workdir, progress.Progress.quiet())
  return str(preset), workdir, data_workdir, rows


def test_the_app_is_a_valid_flower_app():
  valid, errors, _ = flwr_config.validate_config(
      flwr_config.get_project_config(APP), check_module=True,
      project_dir=APP)
  assert valid, errors
  keys = flwr_config.get_project_config(APP)['tool']['flwr']['app']['config']
  assert tuple(keys) == ticket_app.KEYS


def _free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return str(s.getsockname()[1])


def test_flwr_run_gives_the_rows_of_the_simulation(study, tiny_data_dir_shared,
                                                   tmp_path):
  preset, workdir, _, expected = study
  out = tmp_path / 'rows.jsonl'
  home = tmp_path / 'flwr_home'
  env = dict(os.environ, FLWR_HOME=str(home), HOME=str(tmp_path),
             FLWR_LOCAL_SUPERLINK_HTTP_API_PORT=_free_port(),
             FLWR_LOCAL_CONTROL_API_PORT=_free_port(),
             FLWR_DISABLE_UPDATE_CHECK='1')
  run_config = (f"preset='{preset}' workdir='{workdir}' "
                f"data-dir='{tiny_data_dir_shared}' out='{out}' "
                'partition=\'iid\' variant=\'ticket_fresh\' ticket-round=1 '
                'seed=1')
  try:
    done = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), 'flwr'), 'run',
         str(APP), '--stream', '--federation-config', 'num-supernodes=3',
         '--run-config', run_config],
        env=env, capture_output=True, text=True, timeout=600, check=False)
  finally:  # `flwr run` leaves its local SuperLink running: stop it.
    found = subprocess.run(['pgrep', '-f', str(home)], capture_output=True,
                           text=True, check=False)
    for pid in found.stdout.split():
      os.kill(int(pid), signal.SIGTERM)
  assert out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
  got = [json.loads(line) for line in out.read_text().splitlines()]
  want = [r for r in expected if r['variant'] == 'ticket_fresh'
          and r['seed'] == 1 and r['partition'] == 'iid']
  assert [r['round'] for r in got] == [r['round'] for r in want] == [1, 2]
  assert want[-1]['test_accuracy'] > 0.6  # It learned: a real comparison.
  for g, w in zip(got, want):
    for key in ('bytes_down', 'bytes_up', 'bytes_total', 'sparsity',
                'variant', 'ticket_round', 'seed', 'round'):
      assert g[key] == w[key], key
    # Float differences between the vmapped and per-node programs may
    # flip one borderline review at most.
    assert g['test_accuracy'] == pytest.approx(w['test_accuracy'], abs=0.03)


def test_bad_run_config_values_are_one_clear_error(study, tmp_path):
  preset, workdir, data_workdir, _ = study
  with pytest.raises(ticket_app.AppConfigError,
                     match="run config preset='configs/cpu.py': give an "
                     'absolute path'):
    ticket_app.setup((('preset', 'configs/cpu.py'),))
  with pytest.raises(ticket_app.AppConfigError,
                     match='run config preset=.*: no such file'):
    ticket_app.preset('/nowhere/cpu.py', '')
  with pytest.raises(ticket_app.AppConfigError,
                     match="overrides: 'federated.nope=3': not a key=value"):
    ticket_app.preset(preset, 'federated.nope=3')
  settings = config_lib.settings(ticket_app.preset(
      preset, 'federated.rounds=5 federated.alpha=0.1'))
  assert (settings.federated.rounds, settings.federated.alpha) == (5, 0.1)
  for job, key in ((flower_study.Job(variant='sparse'), 'variant'),
                   (flower_study.Job(partition='skewed'), 'partition'),
                   (flower_study.Job(variant='dense'), 'ticket-round'),
                   (flower_study.Job(seed=7), 'seed')):
    with pytest.raises(federated.FederatedError, match=f'run config {key}='):
      flower_study.check(settings, job)
  with pytest.raises(federated.FederatedError,
                     match=r'no finished TICKET-RESET round\(s\) \[5\]'):
    flower_study.serve(None, settings, settings.federated,
                       data_workdir, workdir,
                       flower_study.Job(ticket_round=5))
