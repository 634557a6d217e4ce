"""Runs a study's independent trainings: in this process, or as Ray tasks.

The jobs (`study_jobs`): `tickets.find_tickets` in every lottery domain,
and `tickets.transfer_tickets` over every ordered pair, which depends only
on its source domain's tickets job. `run_jobs` runs them with one of two
engines:

* ``sequential`` (the default; nothing to install): one job after the
  other in this process, all with one compiled `fit.FitProgram`, as
  `tickets.find_all_tickets` then `tickets.transfer_all` do.
* ``ray``: every job is a Ray task of one CPU; a transfer task takes its
  source's task (an ObjectRef) as an argument, so Ray starts it once those
  tickets are saved. Ray starts on this machine (one worker per CPU) unless
  `address` names a cluster. An optional extra: ``pip install -e '.[ray]'``.

Why Ray: its tasks express the jobs' dependencies directly (a task's
argument is another task's result); the same code runs on a Ray started
here and on a cluster named by its address; it is a plain, maintained
Python package (no scheduler to install). submitit, the usual alternative,
submits to Slurm (its local executor is for debugging) and leaves ordering
to the caller: a study on one machine would need a Slurm installation.

One core per task: a worker starts XLA with every core of its node (so
XLA's CPU thread pool has the size it has in a sequential run, and the
rows are the same bit for bit: the partitioning of XLA's parallel loops
follows the pool's size), then pins all its threads to a core leased for
the task (`affinity.one_core`). Unpinned, the pools of two threads of two
workers on a 2-core machine oversubscribed the cores. A worker keeps one
compiled program for all its tasks (`shared_program`). A task never waits
on Ray (no ``ray.get``): Ray gives a blocked task's CPU back to its
scheduler, which then starts another task on it, one more than the cores.

The results do not depend on the scheduling: each job has its own run
directory and keys (runs.py), and rows come back in the order of the jobs.

The workers' progress goes through a Ray actor to the driver's one
`progress.Progress` (`_Streams`). A task's exception is raised again in
the driver as itself, so entry points report user errors in one line. On
a cluster, every node needs this package, and the data and work
directories at the same paths (a shared file system).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
import warnings
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import jax

from lottery_jax import affinity
from lottery_jax import config as config_lib
from lottery_jax import fit as fit_lib
from lottery_jax import progress as progress_lib
from lottery_jax import runs
from lottery_jax import tickets

ConfigError = config_lib.ConfigError
Row = runs.Row

ENGINES = ('sequential', 'ray')
TICKETS, TRANSFER = 'tickets', 'transfer'
# XLA's flags in every Ray worker: Eigen's operations on their calling
# thread (they do not size XLA's thread pool: see the module docstring).
WORKER_XLA_FLAGS = ('--xla_cpu_multi_thread_eigen=false',
                    'intra_op_parallelism_threads=1')
_POLL_SECONDS = 0.25  # How often the driver shows the workers' progress.
_END_SECONDS = 60.0  # How long a finished task's last events may lag.
_END = 'end'  # A job's last progress event.
_MAX_PROGRAMS = 4  # Compiled programs a process keeps, one per settings.
_PROGRAMS: Dict[str, fit_lib.FitProgram] = {}


@dataclasses.dataclass(frozen=True)
class Job:
  """One independent training job of a study.

  Attributes:
    kind: 'tickets' (`find_tickets` in `target`) or 'transfer'
      (`transfer_tickets` from `source` to `target`).
    source: the domain whose tickets are trained (`target` for tickets).
    target: the domain trained on.
    deps: names of jobs to finish first (a transfer: its source's tickets
      job if that is among the jobs, else those tickets must be on disk).
  """
  kind: str
  source: str
  target: str
  deps: Tuple[str, ...] = ()

  @property
  def name(self) -> str:
    """'tickets home' or 'transfer home->books'."""
    return (f'{TICKETS} {self.target}' if self.kind == TICKETS
            else f'{TRANSFER} {self.source}->{self.target}')


def study_jobs(settings: config_lib.Settings) -> List[Job]:
  """A tickets job per lottery domain, then a transfer job per pair."""
  jobs = [Job(TICKETS, d, d) for d in settings.lottery_domains]
  names = {job.name for job in jobs}
  for source, target in settings.transfer_pairs:
    dep = Job(TICKETS, source, source).name
    jobs.append(Job(TRANSFER, source, target,
                    (dep,) if dep in names else ()))
  return jobs


def check_engine(engine: str) -> None:
  """Raises ConfigError for an unknown engine, or 'ray' without Ray."""
  if engine not in ENGINES:
    raise ConfigError(f'--engine={engine}: not one of {", ".join(ENGINES)}')
  if engine == 'ray':
    _import_ray()


def run_jobs(jobs: Sequence[Job], settings: config_lib.Settings,
             data_workdir: str, workdir: str,
             progress: progress_lib.Progress, *,
             engine: str = 'sequential', address: Optional[str] = None,
             workers: Optional[int] = None) -> List[Row]:
  """Runs (or resumes) `jobs`; returns their rows, in the order of `jobs`.

  Args:
    jobs: e.g. `study_jobs(settings)`; a job comes after its deps.
    settings: checked settings (`config.settings`).
    data_workdir: the prepared data.
    workdir: where run directories go.
    progress: the display of every training (`Progress.quiet()`: none).
    engine: 'sequential' (in this process) or 'ray'.
    address: a Ray cluster's address ('auto', 'host:port', 'ray://...');
      None: $RAY_ADDRESS, else a Ray started on this machine (a Ray
      already initialized in this process is used as it is).
    workers: parallel tasks of a local Ray (default: one per CPU).

  Returns:
    The rows of every job (see `tickets.find_tickets`), job after job.

  Raises:
    ConfigError: an unknown engine, no Ray, a transfer source without
      tickets; and whatever a job raises (from a Ray task too).
  """
  check_engine(engine)
  data_workdir, workdir = os.path.abspath(data_workdir), os.path.abspath(
      workdir)
  _check_jobs(jobs, settings, data_workdir, workdir)
  if engine == 'sequential':
    return _run_sequential(jobs, settings, data_workdir, workdir, progress)
  return _run_ray(jobs, settings, data_workdir, workdir, progress,
                  address=address, workers=workers)


def _check_jobs(jobs: Sequence[Job], settings: config_lib.Settings,
                data_workdir: str, workdir: str) -> None:
  """Deps come first; a transfer whose source's tickets job is not among
  `jobs` fails now, before any training, if those tickets are missing."""
  names = [job.name for job in jobs]
  unknown = {job.kind for job in jobs} - {TICKETS, TRANSFER}
  if unknown or len(set(names)) < len(names):
    raise ValueError(f'jobs of unknown kinds, or named twice: {jobs}')
  for i, job in enumerate(jobs):
    late = [d for d in job.deps if d in names[i:]]
    if late:
      raise ValueError(f'{job.name} depends on {late}, which come after it')
    if job.kind == TRANSFER and not any(d in names for d in job.deps):
      tickets.source_tickets(settings, data_workdir, workdir, job.source)


def shared_program(settings: config_lib.Settings) -> fit_lib.FitProgram:
  """The compiled fit of `settings`, one per process: every job of a
  driver or a Ray worker uses it, so it compiles once per domain shape."""
  key = repr(settings)
  if key not in _PROGRAMS:
    if len(_PROGRAMS) >= _MAX_PROGRAMS:
      _PROGRAMS.pop(next(iter(_PROGRAMS)))  # The oldest.
    _PROGRAMS[key] = runs.fit_program(settings)
  return _PROGRAMS[key]


def _run_job(job: Job, settings: config_lib.Settings, data_workdir: str,
             workdir: str, progress) -> List[Row]:
  program = shared_program(settings)
  if job.kind == TICKETS:
    return tickets.find_tickets(settings, data_workdir, workdir, job.target,
                                program=program, progress=progress)
  return tickets.transfer_tickets(settings, data_workdir, workdir,
                                  job.source, job.target, program=program,
                                  progress=progress)


def _run_sequential(jobs: Sequence[Job], settings: config_lib.Settings,
                    data_workdir: str, workdir: str,
                    progress: progress_lib.Progress) -> List[Row]:
  rows = []
  for job in jobs:
    start = time.time()
    rows += _run_job(job, settings, data_workdir, workdir, progress)
    progress.write(f'[{job.name}] finished in '
                   f'{progress_lib.duration(time.time() - start)}')
  return rows


# ---------------------------------------------------------------------------
# Ray.


def _import_ray():
  try:
    import ray  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ConfigError(
        "--engine=ray needs Ray: pip install -e '.[ray]'") from None
  return ray


def worker_env(env: Mapping[str, str] = os.environ,
               backend: Optional[str] = None) -> Dict[str, str]:
  """The environment variables of the Ray workers: XLA's single-thread
  flags (the flags of `env`'s XLA_FLAGS kept, unless set here), no
  TensorFlow log lines, and JAX on the CPU only when the driver's
  `backend` is 'cpu' (else several workers share the accelerator, so none
  preallocates XLA's default 75% of its memory)."""
  ours = {flag.split('=')[0] for flag in WORKER_XLA_FLAGS}
  flags = [flag for flag in env.get('XLA_FLAGS', '').split()
           if flag.split('=')[0] not in ours] + list(WORKER_XLA_FLAGS)
  variables = {'XLA_FLAGS': ' '.join(flags), 'TF_CPP_MIN_LOG_LEVEL': '3'}
  if backend == 'cpu':
    variables['JAX_PLATFORMS'] = 'cpu'
  elif backend is not None:
    variables['XLA_PYTHON_CLIENT_PREALLOCATE'] = 'false'
  return variables


def _init_ray(ray, address: Optional[str], workers: Optional[int]) -> None:
  """Starts (or connects to) Ray with nothing of its own on the terminal."""
  kwargs = dict(include_dashboard=False, log_to_driver=False,
                logging_level=logging.ERROR, configure_logging=True,
                runtime_env={'env_vars': worker_env(
                    backend=jax.default_backend())})
  if not (address or os.environ.get('RAY_ADDRESS')):  # Else a cluster's.
    kwargs['num_cpus'] = workers or os.cpu_count()
  with warnings.catch_warnings():
    # JAX warns at every fork; Ray's forks start its processes (fork and
    # exec), which cannot deadlock on a lock of JAX's threads.
    warnings.filterwarnings('ignore', 'os.fork', RuntimeWarning)
    # Ray 2.5x's notice of a future default (accelerator variables).
    warnings.filterwarnings('ignore', 'Tip: In future versions of Ray',
                            FutureWarning)
    ray.init(address=address or None, **kwargs)


def _run_ray(jobs: Sequence[Job], settings: config_lib.Settings,
             data_workdir: str, workdir: str,
             progress: progress_lib.Progress, *, address: Optional[str],
             workers: Optional[int]) -> List[Row]:
  ray = _import_ray()
  own = not ray.is_initialized()
  if own:
    _init_ray(ray, address, workers)
  try:
    events = ray.remote(num_cpus=0)(_Events).remote()
    task = ray.remote(num_cpus=1)(_job_task)
    refs = {}
    for job in jobs:  # A dep's ObjectRef as an argument: Ray waits for it.
      refs[job.name] = task.remote(job, settings, data_workdir, workdir,
                                   events, *[refs[d] for d in job.deps
                                             if d in refs])
    results = _collect(ray, refs, events, _Streams(progress))
  finally:
    if own:
      ray.shutdown()
  return [row for job in jobs for row in results[job.name]]


def _job_task(job: Job, settings: config_lib.Settings, data_workdir: str,
              workdir: str, events, *deps) -> Tuple[List[Row], float]:
  """A Ray task: one job on a core of its own, its progress sent to
  `events`, ending with `_END` (the driver waits for it before it reports
  the job finished); (rows, seconds)."""
  del deps  # Finished before this task started: that is their use.
  start = time.time()
  jax.devices()  # XLA starts (its thread pool sized) before the pinning.
  progress = _RemoteProgress(events, job.name)
  try:
    with affinity.one_core():
      rows = _run_job(job, settings, data_workdir, workdir, progress)
  finally:
    progress.end()
  return rows, time.time() - start


def _collect(ray, refs: Dict[str, Any], events, streams: '_Streams'
             ) -> Dict[str, List[Row]]:
  """Waits for every task, showing their progress; {job name: rows}. The
  first task that fails raises its exception here, the others cancelled."""
  pending = {ref: name for name, ref in refs.items()}
  returned = {}  # name: (rows, seconds, when), its last events awaited.
  results = {}
  try:
    while pending or returned:
      if pending:
        done, _ = ray.wait(list(pending), num_returns=len(pending),
                           timeout=_POLL_SECONDS)
      else:
        done = []
        time.sleep(_POLL_SECONDS)
      streams.feed(ray.get(events.drain.remote()))
      for ref in done:  # A failed task raises here.
        returned[pending.pop(ref)] = (*_result(ray, ref), time.time())
      for name, (rows, seconds, when) in list(returned.items()):
        if name in streams.ended or time.time() - when > _END_SECONDS:
          del returned[name]
          results[name] = rows
          streams.progress.write(f'[{name}] finished in '
                                 f'{progress_lib.duration(seconds)}')
  finally:  # A failed task, or Ctrl-C: stop the rest (rounds resume).
    for ref in pending:
      with contextlib.suppress(Exception):  # Finished meanwhile.
        ray.cancel(ref, force=True)
  return results


def _result(ray, ref):
  """`ray.get(ref)`, a task's exception raised as its own type."""
  try:
    return ray.get(ref)
  except ray.exceptions.RayTaskError as e:
    if isinstance(getattr(e, 'cause', None), Exception):
      raise e.cause from e
    raise


class _Events:
  """A Ray actor: the progress events of every worker, in arrival order."""

  def __init__(self):
    self.events = []

  def put(self, event: Tuple[str, str, tuple]) -> None:
    self.events.append(event)

  def drain(self) -> List[Tuple[str, str, tuple]]:
    events, self.events = self.events, []
    return events


class _RemoteProgress:
  """What `runs.Run` and `tickets` call on a Progress, in a worker: sent to
  the `_Events` actor as (job name, method, args), without waiting, in
  order (Ray runs one caller's actor calls in order), `end`'s last."""

  def __init__(self, events, stream: str):
    self._events, self._stream = events, stream

  def _send(self, method: str, *args) -> None:
    self._events.put.remote((self._stream, method, args))

  def start(self, what: str, seeds: int) -> None:
    self._send('start', what, seeds)

  def epoch(self, epoch: int, compiled: bool) -> None:
    self._send('epoch', epoch, compiled)

  def finish(self, what: str, rows: Sequence[Dict], seconds: Optional[float]
             ) -> None:
    self._send('finish', what, list(rows), seconds)

  def write(self, text: str) -> None:
    self._send('write', text)

  def end(self) -> None:
    """The job's last event (`_Streams.ended`)."""
    self._send(_END)


class _Streams:
  """Shows the events of trainings that run at once in one Progress: each
  job's trainings are keyed by the job (`Progress.start`'s `key`), so every
  epoch and finished training counts once, and the ETA's seconds per epoch
  are those between epochs arriving from any worker, the rate of all of
  them together (worker-side times divided by the workers would not be:
  fewer jobs than workers may be ready, as a transfer waits for its
  source's tickets). The bar names the training that reported last."""

  def __init__(self, progress: progress_lib.Progress):
    self.progress = progress
    self.ended = set()  # The jobs whose every event has been shown.

  def feed(self, events: Sequence[Tuple[str, str, tuple]]) -> None:
    for stream, method, args in events:
      if method == _END:
        self.ended.add(stream)
      elif method == 'write':
        self.progress.write(*args)
      else:
        getattr(self.progress, method)(*args, key=stream)
