"""Pinning a process's threads (affinity.py): every thread and later
ones, one leased core per node and task, and a Ray task on a core of its
own."""

import os
import threading
import time

import pytest

from lottery_jax import affinity
from lottery_jax import engine


def test_cores_are_leased_one_to_a_task_per_node():
  cores = affinity.Leases()
  assert [cores.lease('a', [2, 3]) for _ in range(3)] == [2, 3, None]
  assert cores.lease('b', [0, 1]) == 0  # Another node's own cores.
  cores.give_back('a', 3)
  assert cores.lease('a', [2, 3]) == 3


def _affinities():
  """{thread id: its cores} of the threads alive now (one that ends while
  this reads is left out)."""
  found = {}
  for tid in os.listdir('/proc/self/task'):
    try:
      found[int(tid)] = os.sched_getaffinity(int(tid))
    except ProcessLookupError:  # The thread has ended.
      pass
  return found


def test_pin_threads_pins_every_thread_and_later_ones():
  everywhere = os.sched_getaffinity(0)
  core = max(everywhere)
  stop = threading.Event()
  running = threading.Thread(target=stop.wait)
  running.start()
  try:
    affinity.pin_threads({core})
    assert set(map(frozenset, _affinities().values())) == {
        frozenset({core})}
    later = []
    started = threading.Thread(
        target=lambda: later.append(os.sched_getaffinity(0)))
    started.start()
    started.join()
    assert later == [{core}]
  finally:
    affinity.pin_threads(everywhere)
    stop.set()
    running.join()
  assert all(a == everywhere for a in _affinities().values())


def test_a_ray_task_trains_on_a_core_of_its_own():
  """Two tasks at once on two cores: each runs pinned to a leased core,
  every one of its threads, and its process is unpinned afterwards."""
  ray = pytest.importorskip('ray', reason="pip install -e '.[ray]'")
  if len(affinity.CORES) < 2:
    pytest.skip('one core: a task is not pinned')
  engine._init_ray(ray, None, 2)
  try:
    cores = ray.remote(num_cpus=0)(affinity.Leases).remote()

    @ray.remote(num_cpus=1)
    def task(cores):  # Pickled by value: nothing of this module's in it.
      def affinities():
        return {frozenset(os.sched_getaffinity(int(tid)))
                for tid in os.listdir('/proc/self/task')}
      with affinity.one_core(cores):
        inside = affinities()
        time.sleep(1)  # Both tasks hold their cores at once.
      return inside, affinities()

    results = ray.get([task.remote(cores), task.remote(cores)])
  finally:
    ray.shutdown()
  insides = [inside for inside, _ in results]
  assert all(len(inside) == 1 and len(next(iter(inside))) == 1
             for inside in insides)
  assert insides[0] != insides[1]  # Two cores, one each.
  assert all(after == {affinity.CORES} for _, after in results)
