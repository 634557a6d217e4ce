"""Pinning a process's threads (affinity.py): every thread and later
ones, one leased core per node and task, and a Ray task on a core of its
own."""

import contextlib
import os
import subprocess
import sys
import threading
import time

import pytest

from lottery_jax import affinity
from lottery_jax import engine


def test_cores_are_leased_one_to_a_holder_per_machine(tmp_path):
  with contextlib.ExitStack() as stack:
    leased = [stack.enter_context(affinity.leased_core(str(tmp_path)))
              for _ in range(len(affinity.CORES) + 1)]
    assert leased == sorted(affinity.CORES) + [None]  # All held: none.
  with affinity.leased_core(str(tmp_path)) as core:  # Given back.
    assert core == min(affinity.CORES)


def test_a_lease_is_another_process_s_until_it_ends(tmp_path):
  """A process's lease keeps the core from this one, and the system gives
  it back when that process is killed."""
  first = min(affinity.CORES)
  holder = subprocess.Popen(
      [sys.executable, '-c', 'import time\n'
       'from lottery_jax import affinity\n'
       f'with affinity.leased_core({str(tmp_path)!r}) as core:\n'
       '  print(core, flush=True)\n'
       '  time.sleep(600)'], stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == str(first)
    with affinity.leased_core(str(tmp_path)) as core:
      assert core != first
  finally:
    holder.kill()
    holder.wait()
  with affinity.leased_core(str(tmp_path)) as core:
    assert core == first


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


def test_a_ray_task_trains_on_a_core_of_its_own(tmp_path):
  """Two tasks at once on two cores: each runs pinned to a leased core,
  every one of its threads, and its process is unpinned afterwards."""
  ray = pytest.importorskip('ray', reason="pip install -e '.[ray]'")
  if len(affinity.CORES) < 2:
    pytest.skip('one core: a task is not pinned')
  engine._init_ray(ray, None, 2)
  try:
    @ray.remote(num_cpus=1)
    def task(lock_dir):  # Pickled by value: nothing of this module's in it.
      def affinities():
        return {frozenset(os.sched_getaffinity(int(tid)))
                for tid in os.listdir('/proc/self/task')}
      with affinity.one_core(lock_dir):
        inside = affinities()
        # Both tasks hold their cores at once (a worker may start late).
        open(os.path.join(lock_dir, f'in-{os.getpid()}'), 'w').close()
        deadline = time.time() + 120
        while (len([f for f in os.listdir(lock_dir) if f.startswith('in-')])
               < 2 and time.time() < deadline):
          time.sleep(0.1)
      return inside, affinities()

    results = ray.get([task.remote(str(tmp_path)) for _ in range(2)])
  finally:
    ray.shutdown()
  insides = [inside for inside, _ in results]
  assert all(len(inside) == 1 and len(next(iter(inside))) == 1
             for inside in insides)
  assert insides[0] != insides[1]  # Two cores, one each.
  assert all(after == {affinity.CORES} for _, after in results)
