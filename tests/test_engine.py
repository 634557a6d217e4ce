"""The engine (engine.py): the study's jobs, the sequential and Ray paths
giving the same rows on the real data, the progress of parallel trainings,
and its errors."""

import sys

import pytest

from experiments.configs import smoke
from lottery_jax import config as config_lib
from lottery_jax import engine
from lottery_jax import progress as progress_lib
from lottery_jax import runs
from lottery_jax import study
from lottery_jax import tickets

DOMAINS = 'home,electronics'


def _settings(**transfer):
  config = smoke.get_config()
  config.data.domains = DOMAINS
  for key, value in transfer.items():
    setattr(config.transfer, key, value)
  return config_lib.settings(config)


def _without_wall_time(rows):
  return [{k: v for k, v in row.items() if k != 'wall_time'} for row in rows]


def _recording_progress(settings):
  """A Progress of the whole study without a bar; its lines are kept
  (`.lines`)."""
  lines = []
  display = progress_lib.Progress(tickets.count_trainings(settings),
                                  settings.fit.epochs, bar=False,
                                  write=lines.append)
  display.lines = lines
  return display


def test_study_jobs_one_per_domain_and_pair():
  jobs = engine.study_jobs(_settings())
  assert [(j.kind, j.source, j.target, j.deps) for j in jobs] == [
      ('tickets', 'home', 'home', ()),
      ('tickets', 'electronics', 'electronics', ()),
      ('transfer', 'home', 'electronics', ('tickets home',)),
      ('transfer', 'electronics', 'home', ('tickets electronics',))]
  assert [j.name for j in jobs][2] == 'transfer home->electronics'
  # No pair: no transfer job. A source outside the lottery domains: its
  # tickets must be on disk already, so no dep.
  assert [j.kind for j in engine.study_jobs(_settings(
      sources='home', targets='home'))] == ['tickets', 'tickets']
  config = smoke.get_config()
  config.lottery.domains = 'home'
  config.transfer.sources, config.transfer.targets = 'books', 'home'
  assert engine.study_jobs(config_lib.settings(config))[1] == engine.Job(
      'transfer', 'books', 'home', ())


def test_jobs_after_their_deps():
  jobs = engine.study_jobs(_settings())
  with pytest.raises(ValueError, match='come after it'):
    engine._check_jobs(jobs[::-1], _settings(), 'unused', 'unused')


def test_ray_missing_is_one_line(monkeypatch, tmp_path):
  monkeypatch.setitem(sys.modules, 'ray', None)  # `import ray` fails.
  with pytest.raises(config_lib.ConfigError,
                     match=r"pip install -e '\.\[ray\]'"):
    engine.check_engine('ray')
  config = smoke.get_config()
  with pytest.raises(config_lib.ConfigError, match='needs Ray'):
    study.run_study(config, None, str(tmp_path), engine='ray',
                    progress=progress_lib.Progress.quiet())
  assert not list(tmp_path.iterdir())  # Before any stage.
  with pytest.raises(config_lib.ConfigError, match='not one of'):
    engine.check_engine('slurm')


def test_worker_env_keeps_other_xla_flags():
  env = engine.worker_env(
      {'XLA_FLAGS': '--xla_dump_to=/tmp/x --xla_cpu_multi_thread_eigen=true'},
      backend='cpu')
  assert env['XLA_FLAGS'].split() == [
      '--xla_dump_to=/tmp/x', '--xla_cpu_multi_thread_eigen=false',
      'intra_op_parallelism_threads=1']
  assert env['JAX_PLATFORMS'] == 'cpu' and env['TF_CPP_MIN_LOG_LEVEL'] == '3'
  on_gpu = engine.worker_env({}, backend='gpu')
  assert 'JAX_PLATFORMS' not in on_gpu  # Workers share it: no preallocation.
  assert on_gpu['XLA_PYTHON_CLIENT_PREALLOCATE'] == 'false'


def test_parallel_trainings_count_every_epoch_once():
  """Two jobs' trainings interleaved: every epoch and finished line counts
  once, and the ETA's seconds per epoch are the driver's wall seconds
  between arriving epochs (two trainings at once: half a training's)."""
  now = [0.0]
  lines = []
  display = progress_lib.Progress(4, 2, bar=False, write=lines.append,
                                  clock=lambda: now[0])
  streams = engine._Streams(display)
  row = [{'test_accuracy': 0.5, 'sparsity': 0.0}]

  def at(t, *events):
    now[0] = t
    streams.feed(events)

  at(0, ('a', 'start', ('A', 2)), ('b', 'start', ('B', 2)))
  at(1, ('a', 'epoch', (0, False)))
  at(2, ('b', 'epoch', (0, False)))
  at(3, ('a', 'epoch', (1, False)), ('a', 'finish', ('A', row, 3.0)))
  assert display.done == 3  # B's second epoch is still to come.
  at(3, ('a', 'start', ('A2', 2)))  # B runs: the clock goes on.
  at(4, ('b', 'epoch', (1, False)), ('b', 'finish', ('B', row, 4.0)))
  at(4, ('b', 'finish', ('B resumed', row, None)))  # Found on disk.
  assert display.done == 6
  assert (display.finished, display.trained, display.trained_epochs) == (
      3, 2, 4)
  # A2 runs, none of its 2 epochs done yet, at 1 s per epoch.
  assert display.running and display.eta() == pytest.approx(2.0)
  at(6, ('a', 'epoch', (0, True)))  # Compiled: left out of the ETA.
  at(7, ('a', 'epoch', (1, False)), ('a', 'finish', ('A2', row, 4.0)))
  assert display.done == display.bar.total == 8
  assert (display.finished, display.trained, display.trained_epochs) == (
      4, 3, 6)
  assert not display.running and display.eta() == 0
  assert [line.split(':')[0] for line in lines] == [
      'A', 'B', 'B resumed', 'A2']


@pytest.fixture(scope='module')
def prepared(real_data_dir, tmp_path_factory):
  """The smoke preset's data, home and electronics of the real reviews."""
  settings = _settings()
  data_workdir = runs.prepare_data(
      settings.data, real_data_dir, str(tmp_path_factory.mktemp('data')))
  return settings, data_workdir


def test_ray_gives_the_rows_of_the_sequential_path(prepared, tmp_path, capfd):
  """Every column but the wall time is the same, to the last digit: each
  job's keys come from its domains and seeds, whichever ran first, and
  XLA's thread pool has the same size in a Ray worker (pinned to one core
  once XLA has started) as in this process."""
  pytest.importorskip('ray', reason="pip install -e '.[ray]'")
  settings, data_workdir = prepared
  jobs = engine.study_jobs(settings)
  sequential = engine.run_jobs(jobs, settings, data_workdir,
                               str(tmp_path / 'sequential'),
                               progress_lib.Progress.quiet())
  capfd.readouterr()
  display = _recording_progress(settings)
  parallel = engine.run_jobs(jobs, settings, data_workdir,
                             str(tmp_path / 'ray'), display, engine='ray',
                             workers=2)
  out, err = capfd.readouterr()
  assert (out, err) == ('', '')  # Nothing of Ray's on the terminal.
  assert _without_wall_time(parallel) == _without_wall_time(sequential)
  assert len(sequential) == 2 * 2 * (1 + 2 * 2) + 2 * 2 * 2 * 2
  # Every epoch and every finished training reached the driver's display.
  assert display.done == display.bar.total
  trainings = [line for line in display.lines if ': test ' in line]
  assert len(trainings) == display.bar.total // settings.fit.epochs
  finished = [line.split(' finished in ')[0] for line in display.lines
              if ' finished in ' in line]
  assert sorted(finished) == sorted(f'[{job.name}]' for job in jobs)


def test_a_ray_task_never_waits_on_ray(prepared, tmp_path, monkeypatch):
  """A job's task, here in this process, calls neither ray.get nor
  ray.wait (Ray gives a blocked task's CPU to another task: more tasks
  than cores), and its last event says it has ended."""
  ray = pytest.importorskip('ray', reason="pip install -e '.[ray]'")
  settings, data_workdir = prepared
  engine._init_ray(ray, None, 1)
  try:
    events = ray.remote(num_cpus=0)(engine._Events).remote()

    def refused(*args, **kwargs):
      raise AssertionError('a task waited on Ray')

    with monkeypatch.context() as patch:
      patch.setattr(ray, 'get', refused)
      patch.setattr(ray, 'wait', refused)
      rows, _ = engine._job_task(engine.Job('tickets', 'home', 'home'),
                                 settings, data_workdir, str(tmp_path),
                                 events)
    sent = ray.get(events.drain.remote())  # Restored.
  finally:
    ray.shutdown()
  assert len(rows) == 2 * (1 + 2 * 2)
  assert sent[-1] == ('tickets home', engine._END, ())
  assert [e for e in sent if e[1] == engine._END] == [sent[-1]]


def test_a_task_error_is_raised_as_its_own_type(prepared, tmp_path):
  pytest.importorskip('ray', reason="pip install -e '.[ray]'")
  settings, data_workdir = prepared
  jobs = [engine.Job('tickets', 'books', 'books')]  # Not prepared.
  with pytest.raises(runs.USER_ERRORS) as sequential:
    engine.run_jobs(jobs, settings, data_workdir, str(tmp_path / 's'),
                    progress_lib.Progress.quiet())
  with pytest.raises(runs.USER_ERRORS) as parallel:
    engine.run_jobs(jobs, settings, data_workdir, str(tmp_path / 'r'),
                    progress_lib.Progress.quiet(), engine='ray', workers=2)
  assert type(parallel.value) is type(sequential.value)
  assert str(parallel.value) == str(sequential.value).replace(
      str(tmp_path / 's'), str(tmp_path / 'r'))
