"""The experiment schema: every setting, its default, its checks, its types.

`get_config()` is the paper's setup (SPEC.md) as an `ml_collections`
ConfigDict, the form the absl entry points override with flags such as
``--config.lottery.rounds=5``; the presets in `experiments/configs/` start
from it. `settings(config)` checks a config once, at the entry, and turns it
into frozen dataclasses; everything below the run layer takes those::

  Settings
    data       DataSettings       what `data.dataset.prepare` reads and writes
    model      ModelSettings      the TextCNN's sizes (SPEC.md section 3)
    optimizer  OptimizerSettings  the optimiser (SPEC.md section 4)
    fit        FitSettings        batches, epochs, early stopping, seed map
    lottery    LotterySettings    IMP rounds, strategies, seeds (section 5)
    transfer   TransferSettings   the transfer pairs (section 6)
    federated  FederatedSettings  federated re-training (section 8)

Every check raises `ConfigError` with one line that names the flag.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Dict, List, Mapping, Tuple

import ml_collections

from lottery_jax import federated_config
from lottery_jax.federated_config import FederatedSettings

# The five domains of SPEC.md section 1 (their files: data/domains.py).
DOMAINS = ('books', 'electronics', 'movies', 'cds', 'home')
FULL_MODEL = 'full_model'
TICKET_STRATEGIES = ('ticket_reset', 'ticket_random', 'ticket_reinit',
                     'ticket_rewind', 'random_pruning')
# Strategies that take TICKET-RESET's masks of the same round.
NEEDS_RESET = ('ticket_reinit', 'random_pruning')
TRANSFER_STRATEGIES = ('masks_reset', 'masks_random')
CONV_IMPLS = ('matmul', 'xla')
OPTIMIZERS = ('adam', 'sgd')


class ConfigError(ValueError):
  """An invalid experiment config; raised before any work starts."""


def get_config() -> ml_collections.ConfigDict:
  """The paper's setup, every value of SPEC.md exactly."""
  config = ml_collections.ConfigDict()
  config.data = data_config()

  config.model = ml_collections.ConfigDict()
  config.model.embed_dim = 417
  config.model.widths = (3, 4, 5)
  config.model.channels = 127
  config.model.hidden = 117
  config.model.dropout_rate = 0.285
  config.model.embed_init_std = 1.0  # N(0, std^2); docs/convergence.md
  # Same results: 'matmul' (a matmul per tap) batches well over vmapped
  # seeds; 'xla' (lax.conv) is the fastest with train.seed_chunk = 1 (CPU).
  config.model.conv = 'matmul'
  config.train = train_config()

  config.lottery = ml_collections.ConfigDict()
  config.lottery.domains = ''  # Empty: every domain of data.domains.
  # The paper's two; or add the controls ticket_reinit, ticket_rewind and
  # random_pruning (lottery.STRATEGIES).
  config.lottery.strategies = 'ticket_reset,ticket_random'
  config.lottery.rounds = 20
  config.lottery.prune_fraction = 0.35
  config.lottery.seeds = 5
  config.lottery.seed_offset = 0
  # TICKET-REWIND's k: survivors restart from round 0's params after k
  # steps (Frankle et al. 2020).
  config.lottery.rewind_steps = 100
  config.transfer = ml_collections.ConfigDict()
  # Empty: every domain of lottery.domains; all ordered pairs.
  config.transfer.sources = ''
  config.transfer.targets = ''
  config.transfer.strategies = 'masks_reset,masks_random'
  # Keep every transfer round's trained params (~100 MB at paper size).
  config.transfer.save_params = False
  config.federated = federated_config.federated_config()
  return config


def train_config() -> ml_collections.ConfigDict:
  """How each training runs (SPEC.md section 4; ``config.train``)."""
  config = ml_collections.ConfigDict()
  config.optimizer = 'adam'
  config.learning_rate = 1e-3
  # Steps over which the learning rate rises linearly from 0 (0: constant).
  config.warmup_steps = 0
  config.l2 = 1e-5
  config.batch_size = 32
  config.eval_batch_size = 256
  config.epochs = 15
  # 0: train every epoch and keep the best validation epoch's params.
  config.patience = 0
  # No seed stops before this many epochs (a fresh init may sit at chance).
  config.min_epochs = 0
  config.max_length = 500
  # Length buckets, e.g. (64, 128, 256): exact logits, but batches group
  # reviews of similar length; off to keep the paper's batches.
  config.buckets = ()
  # Seeds per batch of the seed map: 0 vmaps them all (accelerators); 1
  # maps them one at a time in one program (faster on a CPU).
  config.seed_chunk = 0
  return config


def data_config() -> ml_collections.ConfigDict:
  """The data settings of SPEC.md section 1 (``config.data``)."""
  config = ml_collections.ConfigDict()
  config.domains = ','.join(DOMAINS)
  # Where each domain's files are: a key of domains.LAYOUTS, or per domain a
  # comma-separated list of glob patterns in `files` (relative to data_dir or
  # absolute) that replace the layout's.
  config.layout = 'shared'
  config.files = ml_collections.ConfigDict({d: '' for d in DOMAINS})
  config.data_seed = 0
  # Examples per split, both classes together; 0 takes the largest balanced
  # 2:1:1 split that the domain allows (the paper: 20000/10000/10000).
  config.train_size = 0
  config.valid_size = 0
  config.test_size = 0
  # Stop reading a domain once this many unique reviews per class are in
  # hand (0: read all); for multi-gigabyte McAuley files.
  config.max_per_class = 0
  # The sources differ in case (FDU-MTL is lowercased); lowercasing all keeps
  # case from telling the model which source a review came from.
  config.lowercase = True
  config.vocab_size = 8000
  config.character_coverage = 0.9995
  config.model_type = 'bpe'
  # Ids kept per review when encoding (SPEC.md: 500).
  config.max_length = 500
  return config


# ---------------------------------------------------------------------------
# Typed settings.


@dataclasses.dataclass(frozen=True)
class DataSettings:
  """How `data.dataset.prepare` builds the splits (see `data_config`)."""
  domains: Tuple[str, ...] = DOMAINS
  layout: str = 'shared'
  files: Mapping[str, str] = dataclasses.field(default_factory=dict)
  data_seed: int = 0
  train_size: int = 0
  valid_size: int = 0
  test_size: int = 0
  max_per_class: int = 0
  lowercase: bool = True
  vocab_size: int = 8000
  character_coverage: float = 0.9995
  model_type: str = 'bpe'
  max_length: int = 500

  def record(self) -> Dict[str, Any]:
    """The settings as ``config.data`` holds them (for data_report.json)."""
    record = dataclasses.asdict(self)
    record['domains'] = ','.join(self.domains)
    record['files'] = {**{d: '' for d in DOMAINS}, **self.files}
    return record


@dataclasses.dataclass(frozen=True)
class ModelSettings:
  embed_dim: int = 417
  widths: Tuple[int, ...] = (3, 4, 5)
  channels: int = 127
  hidden: int = 117
  dropout_rate: float = 0.285
  conv: str = 'matmul'
  embed_init_std: float = 1.0


@dataclasses.dataclass(frozen=True)
class OptimizerSettings:
  name: str = 'adam'
  learning_rate: float = 1e-3
  l2: float = 1e-5
  warmup_steps: int = 0


@dataclasses.dataclass(frozen=True)
class FitSettings:
  """How one training runs (`fit.FitProgram`)."""
  batch_size: int = 32
  eval_batch_size: int = 256
  epochs: int = 15
  # Epochs without a better validation accuracy before a seed stops; 0 runs
  # every epoch (the best epoch's params are kept either way).
  patience: int = 0
  # Epochs every seed trains before patience can stop it.
  min_epochs: int = 0
  # The padded length of every review (longer ones are cut).
  max_length: int = 500
  # Padded lengths of length buckets, ascending; () is one bucket as long as
  # the data. Short reviews are not padded to the longest (logits are
  # padding invariant), at the cost of batches of similar lengths.
  buckets: Tuple[int, ...] = ()
  # Seeds per batch of the seed map: 0 vmaps all seeds (accelerators); k
  # runs k at a time inside the same program (see `fit.over_seeds`).
  seed_chunk: int = 0
  # Split the seed axis over the devices when there are several (see
  # lottery_jax/sharding.py); with seed_chunk 0 only.
  shard_seeds: bool = True


@dataclasses.dataclass(frozen=True)
class LotterySettings:
  domains: Tuple[str, ...] = ()  # () means every data domain.
  strategies: Tuple[str, ...] = TICKET_STRATEGIES
  rounds: int = 20
  prune_fraction: float = 0.35
  seeds: int = 5
  seed_offset: int = 0
  rewind_steps: int = 100

  @property
  def seed_ids(self) -> List[int]:
    return [self.seed_offset + i for i in range(self.seeds)]


@dataclasses.dataclass(frozen=True)
class TransferSettings:
  sources: Tuple[str, ...] = ()  # () means every lottery domain.
  targets: Tuple[str, ...] = ()
  strategies: Tuple[str, ...] = TRANSFER_STRATEGIES
  save_params: bool = False


@dataclasses.dataclass(frozen=True)
class Settings:
  data: DataSettings
  model: ModelSettings
  optimizer: OptimizerSettings
  fit: FitSettings
  lottery: LotterySettings
  transfer: TransferSettings
  federated: FederatedSettings = FederatedSettings()

  @property
  def lottery_domains(self) -> Tuple[str, ...]:
    """lottery.domains, or every domain of the data when empty."""
    return self.lottery.domains or self.data.domains

  @property
  def transfer_pairs(self) -> List[Tuple[str, str]]:
    """Every ordered (source, target) pair of different domains."""
    sources = self.transfer.sources or self.lottery_domains
    targets = self.transfer.targets or self.lottery_domains
    return [(s, t) for s in sources for t in targets if s != t]


def names(value: str) -> Tuple[str, ...]:
  """'a, b,' -> ('a', 'b')."""
  return tuple(v.strip() for v in value.split(',') if v.strip())


def data_settings(data: ml_collections.ConfigDict) -> DataSettings:
  """``config.data`` as DataSettings, checked."""
  _check_keys(data, data_config(), 'data')
  for flag, value, low in (
      ('vocab_size', data.vocab_size, 1), ('data_seed', data.data_seed, 0),
      ('max_length', data.max_length, 1),
      ('max_per_class', data.max_per_class, 0),
      ('train_size', data.train_size, 0), ('valid_size', data.valid_size, 0),
      ('test_size', data.test_size, 0)):
    if value < low:
      raise ConfigError(f'--config.data.{flag}={value} must be >= {low}')
  if not names(data.domains):
    raise ConfigError('--config.data.domains is empty')
  return DataSettings(
      domains=names(data.domains), layout=data.layout,
      files={d: v for d, v in data.files.items() if v},
      data_seed=data.data_seed, train_size=data.train_size,
      valid_size=data.valid_size, test_size=data.test_size,
      max_per_class=data.max_per_class, lowercase=data.lowercase,
      vocab_size=data.vocab_size,
      character_coverage=data.character_coverage,
      model_type=data.model_type, max_length=data.max_length)


def settings(config: ml_collections.ConfigDict) -> Settings:
  """Checks a whole config and returns it typed.

  Raises:
    ConfigError: naming the flag of the first bad value.
  """
  _check_keys(config, get_config(), '')
  m, t, lot, tr = config.model, config.train, config.lottery, config.transfer
  result = Settings(
      data=data_settings(config.data),
      # config.model's keys are ModelSettings' fields.
      model=ModelSettings(**{**m.to_dict(), 'widths': tuple(m.widths)}),
      optimizer=OptimizerSettings(name=t.optimizer,
                                  learning_rate=t.learning_rate, l2=t.l2,
                                  warmup_steps=t.warmup_steps),
      fit=FitSettings(
          batch_size=t.batch_size, eval_batch_size=t.eval_batch_size,
          epochs=t.epochs, patience=t.patience, min_epochs=t.min_epochs,
          max_length=t.max_length, buckets=tuple(t.buckets),
          seed_chunk=t.seed_chunk),
      lottery=LotterySettings(
          domains=names(lot.domains), strategies=names(lot.strategies),
          rounds=lot.rounds, prune_fraction=lot.prune_fraction,
          seeds=lot.seeds, seed_offset=lot.seed_offset,
          rewind_steps=lot.rewind_steps),
      transfer=TransferSettings(
          sources=names(tr.sources), targets=names(tr.targets),
          strategies=names(tr.strategies), save_params=tr.save_params))
  try:
    fed = federated_config.federated_settings(config.federated)
  except federated_config.FederatedConfigError as e:
    raise ConfigError(str(e)) from e
  result = dataclasses.replace(result, federated=fed)
  _check(result)
  return result


def _check(s: Settings) -> None:
  lot = s.lottery
  if not 0.0 < lot.prune_fraction < 1.0:
    raise ConfigError(f'--config.lottery.prune_fraction={lot.prune_fraction}'
                      ' must be in (0, 1)')
  needy = [n for n in NEEDS_RESET if n in lot.strategies]
  if needy and 'ticket_reset' not in lot.strategies:
    raise ConfigError(f'--config.lottery.strategies: {", ".join(needy)} '
                      "train TICKET-RESET's masks; add ticket_reset")
  known = set(s.data.domains)
  for flag, value in (('lottery.domains', lot.domains),
                      ('transfer.sources', s.transfer.sources),
                      ('transfer.targets', s.transfer.targets)):
    for name in value:
      if name not in known:
        raise ConfigError(f'--config.{flag}: unknown domain {name!r}; known: '
                          f'{", ".join(sorted(known))}')
  for flag, value, allowed in (
      ('lottery.strategies', lot.strategies, TICKET_STRATEGIES),
      ('transfer.strategies', s.transfer.strategies, TRANSFER_STRATEGIES)):
    for name in value:
      if name not in allowed:
        raise ConfigError(f'--config.{flag}: unknown strategy {name!r}; '
                          f'known: {", ".join(allowed)}')
  f, m, o = s.fit, s.model, s.optimizer
  for flag, value, low in (
      ('lottery.rounds', lot.rounds, 0), ('lottery.seeds', lot.seeds, 1),
      ('lottery.rewind_steps', lot.rewind_steps, 0),
      ('train.epochs', f.epochs, 1), ('train.batch_size', f.batch_size, 1),
      ('train.eval_batch_size', f.eval_batch_size, 1),
      ('train.max_length', f.max_length, 1),
      ('train.patience', f.patience, 0),
      ('train.min_epochs', f.min_epochs, 0),
      ('train.warmup_steps', o.warmup_steps, 0), ('train.l2', o.l2, 0),
      ('train.seed_chunk', f.seed_chunk, 0),
      ('model.embed_dim', m.embed_dim, 1), ('model.channels', m.channels, 1),
      ('model.hidden', m.hidden, 1)):
    if value < low:
      raise ConfigError(f'--config.{flag}={value} must be >= {low}')
  if f.min_epochs > f.epochs:
    raise ConfigError(
        f'--config.train.min_epochs={f.min_epochs} > train.epochs')
  if not m.widths or min(m.widths) < 1:
    raise ConfigError(f'--config.model.widths={m.widths}: give one or more '
                      'positive convolution widths')
  if any(b < 1 for b in f.buckets):
    raise ConfigError(f'--config.train.buckets={f.buckets}: lengths must be '
                      'positive')
  for flag, value in (('train.learning_rate', o.learning_rate),
                      ('model.embed_init_std', m.embed_init_std)):
    if not value > 0:
      raise ConfigError(f'--config.{flag}={value} must be > 0')
  if not 0 <= m.dropout_rate < 1:
    raise ConfigError(f'--config.model.dropout_rate={m.dropout_rate} must '
                      'be in [0, 1)')
  for flag, value, allowed in (('model.conv', m.conv, CONV_IMPLS),
                               ('train.optimizer', o.name, OPTIMIZERS)):
    if value not in allowed:
      raise ConfigError(f'--config.{flag}={value!r}: {" or ".join(allowed)}')


def _check_keys(config: ml_collections.ConfigDict,
                schema: ml_collections.ConfigDict, prefix: str) -> None:
  """An unknown key (a typo in a preset) is named with the nearest known."""
  for key, value in config.items():
    flag = f'{prefix}.{key}' if prefix else key
    if key not in schema:
      near = difflib.get_close_matches(key, list(schema.keys()), n=1)
      raise ConfigError(f'--config.{flag}: unknown setting'
                        + (f'; did you mean {near[0]}?' if near else ''))
    if (isinstance(value, ml_collections.ConfigDict) and flag != 'data.files'
        and isinstance(schema[key], ml_collections.ConfigDict)):
      _check_keys(value, schema[key], flag)
