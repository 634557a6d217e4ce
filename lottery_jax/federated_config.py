"""The federated section of the schema (``config.federated``, SPEC.md
section 8): its defaults, its checks and its typed settings, kept beside
`config` (which includes it) so that the schema module stays small."""

from __future__ import annotations

import dataclasses
from typing import Tuple

import ml_collections

PARTITIONS = ('iid', 'dirichlet')
DTYPES = ('float32', 'bfloat16')


class FederatedConfigError(ValueError):
  """A bad federated setting; the message names its flag (`config` raises
  it as its own ConfigError)."""


def federated_config() -> ml_collections.ConfigDict:
  """``config.federated``: a server's tickets re-trained by clients."""
  config = ml_collections.ConfigDict()
  # The domain whose TICKET-RESET tickets the server holds, and the domain
  # whose training split the clients share (its test split scores rounds).
  config.server = 'books'
  config.target = 'electronics'
  # The server's TICKET-RESET rounds to send: about 58, 82, 88 and 97%
  # sparse at the paper's 35% a round.
  config.ticket_rounds = (2, 4, 5, 8)
  config.clients = 10  # K
  config.per_round = 5  # C, sampled each communication round
  config.rounds = 30  # communication rounds
  config.local_epochs = 1  # E
  # 'iid': equal random parts; 'dirichlet': each label's reviews divided in
  # Dirichlet(alpha) proportions (label skew; smaller alpha, more skew).
  config.partitions = 'iid,dirichlet'
  config.alpha = 0.5
  # The clients' optimiser is train.optimizer with this constant learning
  # rate: a client's few local steps are too few for a warm-up.
  config.learning_rate = 1e-3
  config.dtype = 'float32'  # values on the wire: float32 or bfloat16
  # Clients per batch of the client map: 0 vmaps them (accelerators), 1
  # maps them one at a time in one program (a CPU).
  config.client_chunk = 0
  # Run it as the last trainings stage of run_study.
  config.in_study = False
  return config


@dataclasses.dataclass(frozen=True)
class FederatedSettings:
  """``config.federated``, typed (see `federated_config`)."""
  server: str = 'books'
  target: str = 'electronics'
  ticket_rounds: Tuple[int, ...] = (2, 4, 5, 8)
  clients: int = 10
  per_round: int = 5
  rounds: int = 30
  local_epochs: int = 1
  partitions: Tuple[str, ...] = PARTITIONS
  alpha: float = 0.5
  learning_rate: float = 1e-3
  dtype: str = 'float32'
  client_chunk: int = 0
  in_study: bool = False


def federated_settings(section: ml_collections.ConfigDict
                       ) -> FederatedSettings:
  """``config.federated`` checked and typed (whether its domains are the
  data's is checked when it runs: most presets never run it).

  Raises:
    FederatedConfigError: naming the flag of the first bad value.
  """
  f = section
  result = FederatedSettings(
      server=f.server, target=f.target,
      ticket_rounds=tuple(int(r) for r in f.ticket_rounds),
      clients=f.clients, per_round=f.per_round, rounds=f.rounds,
      local_epochs=f.local_epochs,
      partitions=tuple(p.strip() for p in f.partitions.split(',')
                       if p.strip()),
      alpha=f.alpha, learning_rate=f.learning_rate, dtype=f.dtype,
      client_chunk=f.client_chunk, in_study=f.in_study)
  if result.server == result.target:
    raise FederatedConfigError(
        '--config.federated.target: the clients need another domain than '
        'the server\'s')
  for flag, value, low in (('clients', result.clients, 1),
                           ('rounds', result.rounds, 1),
                           ('local_epochs', result.local_epochs, 1),
                           ('client_chunk', result.client_chunk, 0)):
    if value < low:
      raise FederatedConfigError(
          f'--config.federated.{flag}={value} must be >= {low}')
  if not 1 <= result.per_round <= result.clients:
    raise FederatedConfigError(
        f'--config.federated.per_round={result.per_round}: must be between 1 '
        f'and --config.federated.clients={result.clients}')
  if not result.alpha > 0:
    raise FederatedConfigError(
        f'--config.federated.alpha={result.alpha} must be > 0')
  if not result.learning_rate > 0:
    raise FederatedConfigError(
        f'--config.federated.learning_rate={result.learning_rate} must be > 0')
  if not result.ticket_rounds or min(result.ticket_rounds) < 1:
    raise FederatedConfigError(
        f'--config.federated.ticket_rounds={result.ticket_rounds}: give one '
        'or more pruned rounds (>= 1)')
  bad = [p for p in result.partitions if p not in PARTITIONS] or (
      [] if result.partitions else ['(none)'])
  if bad:
    raise FederatedConfigError(
        f'--config.federated.partitions: {bad[0]} is not one of '
        f'{", ".join(PARTITIONS)}')
  if result.dtype not in DTYPES:
    raise FederatedConfigError(
        f'--config.federated.dtype={result.dtype!r}: float32 or bfloat16')
  return result
