"""Which cores a process's threads run on (Linux): `pin_threads` sets it
for every thread, and a Ray worker holds one core of its node for a task
(`one_core`, the cores leased by a `Leases` actor).

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
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

# The cores this process may run on, read when it imports this module,
# before anything here pins it.
CORES = (frozenset(os.sched_getaffinity(0))
         if hasattr(os, 'sched_getaffinity') else frozenset())


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


class Leases:
  """Each node's cores, leased one to a running task (a Ray actor in
  `engine`; a plain object works the same)."""

  def __init__(self):
    self.free: Dict[str, List[int]] = {}

  def lease(self, node: str, cores: Sequence[int]) -> Optional[int]:
    """A free core of `node` (whose cores are `cores`), or None."""
    free = self.free.setdefault(node, list(cores))
    return free.pop(0) if free else None

  def give_back(self, node: str, core: int) -> None:
    self.free[node].append(core)


@contextlib.contextmanager
def one_core(leases) -> Iterator[Optional[int]]:
  """In a Ray task: this process's threads on one core of its node, leased
  from the `Leases` actor `leases`, while the block runs (it gets the
  core); on all of `CORES` again after it. Unpinned (None) where no core
  is free (more tasks than cores) or the process has one core, or no
  affinity can be set. Start XLA before: its pool is sized then."""
  import ray  # pylint: disable=g-import-not-at-top
  node = ray.get_runtime_context().get_node_id()
  core = (ray.get(leases.lease.remote(node, sorted(CORES)))
          if len(CORES) > 1 else None)
  if core is None:
    yield None
    return
  pin_threads({core})
  try:
    yield core
  finally:
    pin_threads(CORES)
    ray.get(leases.give_back.remote(node, core))  # Before the next lease.
