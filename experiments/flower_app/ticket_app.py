"""The Flower App's ServerApp and ClientApp (`flwr run experiments/flower_app`).

Both read the run config of pyproject.toml (overridden with `flwr run
--run-config`): the preset and its overrides, the data and work
directories, and which run (partition, variant, ticket round, seed). The
server sends that run of `lottery_jax.federated_study` with
`lottery_jax.flower_study.serve` and writes its rows (one per communication
round, `federated_study.COLUMNS`) to `out`; every node builds its job once
(`flower_study.client_job`) and trains its own part, the 'partition-id' of
its node config: one node per client of the preset (`federated.clients`).
"""

import ast
import functools
import importlib.util
import json
import os
from typing import Any, Dict, Tuple

from flwr.clientapp import ClientApp
from flwr.serverapp import ServerApp
import ml_collections

from lottery_jax import config as config_lib
from lottery_jax import federated
from lottery_jax import files
from lottery_jax import flower
from lottery_jax import flower_study
from lottery_jax import runs

KEYS = ('preset', 'overrides', 'data-dir', 'workdir', 'out', 'partition',
        'variant', 'ticket-round', 'seed')


class AppConfigError(ValueError):
  """A bad run-config value; the message names its key."""


def _path(run_config: Dict[str, Any], key: str, required: bool) -> str:
  value = str(run_config.get(key, ''))
  if not value and not required:
    return ''
  if not os.path.isabs(value):
    raise AppConfigError(
        f'run config {key}={value!r}: give an absolute path (the apps run '
        'in Flower\'s own directories), e.g. --run-config '
        f'"{key}=\'$PWD/...\'"')
  return value


def preset(path: str, overrides: str) -> ml_collections.ConfigDict:
  """The preset file's config with `overrides` ('key=value' pairs split
  by spaces, values as Python literals or else strings) applied."""
  if not os.path.isfile(path):
    raise AppConfigError(f'run config preset={path!r}: no such file')
  spec = importlib.util.spec_from_file_location('flower_app_preset', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  for pair in overrides.split():
    key, sep, text = pair.partition('=')
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      value = text
    *parents, leaf = key.split('.')
    node = config
    try:
      for name in parents:
        node = node[name]
      if not sep or leaf not in node:
        raise KeyError(key)
      node[leaf] = value
    except (KeyError, TypeError) as e:
      raise AppConfigError(f'run config overrides: {pair!r}: not a '
                           f'key=value of the preset ({e})') from None
  return config


@functools.lru_cache(maxsize=4)
def setup(items: Tuple[Tuple[str, Any], ...]):
  """(settings, federated plan, data workdir, workdir, job) of a run
  config's (key, value) pairs, once per process (the data are prepared on
  first use).

  Raises:
    AppConfigError: naming the key of a bad value.
  """
  run_config = dict(items)
  unknown = sorted(set(run_config) - set(KEYS))
  if unknown:
    raise AppConfigError(f'run config {unknown[0]}: not one of {KEYS}')
  config = preset(_path(run_config, 'preset', True),
                  str(run_config.get('overrides', '')))
  settings = config_lib.settings(config)
  workdir = _path(run_config, 'workdir', True)
  data_dir = _path(run_config, 'data-dir', False) or None
  data_workdir = runs.prepare_data(settings.data, data_dir, workdir)
  job = flower_study.Job(
      partition=str(run_config.get('partition', 'iid')),
      variant=str(run_config.get('variant', 'ticket_reset')),
      ticket_round=int(run_config.get('ticket-round', 0)),
      seed=int(run_config.get('seed', 0)))
  return settings, settings.federated, data_workdir, workdir, job


def _items(context) -> Tuple[Tuple[str, Any], ...]:
  return tuple(sorted(context.run_config.items()))


@functools.lru_cache(maxsize=4)
def _client_job(items: Tuple[Tuple[str, Any], ...]) -> flower.ClientJob:
  settings, plan, data_workdir, _, job = setup(items)
  return flower_study.client_job(settings, plan, data_workdir, job)


client_app = flower.client_app(lambda context: _client_job(_items(context)))
server_app = ServerApp()


@server_app.main()
def main(grid, context) -> None:
  """Runs the configured job and writes its rows to `out`."""
  settings, plan, data_workdir, workdir, job = setup(_items(context))
  try:
    rows = flower_study.serve(grid, settings, plan, data_workdir, workdir,
                              job)
  except (federated.FederatedError,) + runs.USER_ERRORS as e:
    raise AppConfigError(str(e)) from None
  out = _path(context.run_config, 'out', False) or os.path.join(
      workdir, 'flower', f'{plan.server}-to-{plan.target}-{job.partition}-'
      f'{job.variant}-{job.ticket_round:03d}-seed{job.seed}.jsonl')
  with files.atomic_write(out, 'w') as f:
    for row in rows:
      f.write(json.dumps(row) + '\n')
  print(f'{len(rows)} rounds: {out}')
