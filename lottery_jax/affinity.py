"""Which cores a process's threads run on (Linux): `pin_threads` sets it
for every thread, and a Ray worker holds one core of its node for a task
(`one_core`, the core leased by a lock file: `leased_core`).

Why the Ray engine pins its workers: XLA sizes its CPU thread pool from
the process's affinity when its backend starts (jax-ml/jax#1539), and the
pool's size decides XLA's numbers (how its parallel loops are split). A
worker therefore starts XLA on every core, as a sequential run does, so
that both give the same rows, and then runs each task on one core: two
workers' pools no longer compete for both cores (docs/convergence.md,
"Threads or processes"). Elsewhere (no affinity, one core) nothing is
pinned.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterable, Iterator, Optional

try:
  import fcntl  # pylint: disable=g-import-not-at-top
except ImportError:  # Not POSIX: no affinity either (`CORES` is empty).
  fcntl = None

# The cores this process may run on, read when it imports this module,
# before anything here pins it.
CORES = (frozenset(os.sched_getaffinity(0))
         if hasattr(os, 'sched_getaffinity') else frozenset())
# Where the processes of one machine (and user) lease its cores.
LOCK_DIR = os.path.join(
    tempfile.gettempdir(),
    f'lottery_jax-cores-{os.getuid() if hasattr(os, "getuid") else ""}')


def pin_threads(cores: Iterable[int]) -> None:
  """Sets the CPU affinity of every thread of this process; threads started
  later inherit it from the thread that starts them. Passes over the
  threads until one changes none: a thread started during a pass by a
  thread not yet pinned is caught by the next."""
  cores = set(cores)
  for _ in range(10):
    changed = False
    for tid in os.listdir('/proc/self/task'):
      with contextlib.suppress(ProcessLookupError):  # The thread has ended.
        if os.sched_getaffinity(int(tid)) != cores:
          os.sched_setaffinity(int(tid), cores)
          changed = True
    if not changed:
      return


@contextlib.contextmanager
def leased_core(lock_dir: str = LOCK_DIR) -> Iterator[Optional[int]]:
  """A core of `CORES` that no other holder on this machine has while the
  block runs, or None when every one is held. The lease is an exclusive
  lock on ``lock_dir/core-N.lock``: local to the node, taken without
  waiting and without Ray (a Ray task blocked in a Ray call gives its CPU
  back to the scheduler, which starts another task on it), and given back
  by the system when its holder's process ends, even killed."""
  os.makedirs(lock_dir, exist_ok=True)
  for core in sorted(CORES):
    lock = open(os.path.join(lock_dir, f'core-{core}.lock'), 'a')
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # Held by another.
      lock.close()
      continue
    with lock:  # Closing it gives the lease back.
      yield core
    return
  yield None


@contextlib.contextmanager
def one_core(lock_dir: str = LOCK_DIR) -> Iterator[Optional[int]]:
  """In a Ray task: this process's threads on one core of its node (a
  `leased_core`) while the block runs (it gets the core); on all of
  `CORES` again after it. Unpinned (None) where no core is free (more
  tasks than cores) or the process has one core. Start XLA before: its
  pool is sized then."""
  if len(CORES) < 2:
    yield None
    return
  with leased_core(lock_dir) as core:
    if core is None:
      yield None
      return
    pin_threads({core})
    try:
      yield core
    finally:
      pin_threads(CORES)
