"""Tests of the schema: presets, typed settings, one-line errors."""

import pytest

from experiments.configs import cpu
from experiments.configs import paper
from experiments.configs import smoke
from lottery_jax import config as config_lib


def test_presets_are_valid_and_typed():
  for preset in (paper, cpu, smoke):
    settings = config_lib.settings(preset.get_config())
    assert isinstance(settings.fit, config_lib.FitSettings)
    assert settings.data.domains == ('books', 'electronics', 'movies', 'cds',
                                     'home')
    assert set(settings.lottery.strategies) <= set(
        config_lib.TICKET_STRATEGIES)
  # The paper's two strategies; the cpu preset adds the three controls.
  assert config_lib.settings(paper.get_config()).lottery.strategies == (
      'ticket_reset', 'ticket_random')
  assert config_lib.settings(cpu.get_config()).lottery.strategies == (
      config_lib.TICKET_STRATEGIES)
  s = config_lib.settings(paper.get_config())  # SPEC.md's values.
  assert (s.model.embed_dim, s.model.channels, s.model.hidden) == (417, 127,
                                                                   117)
  assert s.model.widths == (3, 4, 5) and s.fit.max_length == 500
  assert (s.lottery.rounds, s.lottery.prune_fraction) == (20, 0.35)
  assert s.lottery.seed_ids == [0, 1, 2, 3, 4]


def test_data_record_has_the_shape_of_config_data():
  config = config_lib.get_config()
  config.data.files.books = 'mine/*.json'
  record = config_lib.data_settings(config.data).record()
  assert record == config.data.to_dict()


@pytest.mark.parametrize('section, key, value, message', [
    ('data', 'vocab_size', -5, r'--config.data.vocab_size=-5 must be >= 1'),
    ('data', 'data_seed', -1, r'--config.data.data_seed=-1 must be >= 0'),
    ('data', 'domains', ' ,', r'--config.data.domains is empty'),
    ('lottery', 'seeds', 0, r'--config.lottery.seeds=0 must be >= 1'),
    ('train', 'optimizer', 'lamb', r'--config.train.optimizer=.lamb.'),
    ('lottery', 'rewind_steps', -1,
     r'--config.lottery.rewind_steps=-1 must be >= 0'),
    ('model', 'conv', 'fft', r"--config.model.conv='fft': matmul or xla"),
    ('model', 'embed_init_std', 0.0,
     r'--config.model.embed_init_std=0.0 must be > 0'),
    ('train', 'learning_rate', 0.0,
     r'--config.train.learning_rate=0.0 must be > 0'),
    ('model', 'dropout_rate', 1.0,
     r'--config.model.dropout_rate=1.0 must be in \[0, 1\)'),
    ('train', 'min_epochs', 16, r'--config.train.min_epochs=16 > train.epochs'),
    ('federated', 'alpha', 0.0, r'--config.federated.alpha=0.0 must be > 0'),
    ('federated', 'per_round', 11, r'--config.federated.per_round=11: must '
     r'be between 1 and --config.federated.clients=10'),
    ('federated', 'target', 'books', r'--config.federated.target: the '
     'clients need another domain'),
    ('federated', 'partitions', 'iid,skewed',
     r'--config.federated.partitions: skewed is not one of iid, dirichlet'),
    ('federated', 'dtype', 'float16',
     r"--config.federated.dtype='float16': float32 or bfloat16"),
    ('federated', 'ticket_rounds', (0, 2),
     r'--config.federated.ticket_rounds=\(0, 2\): give one or more'),
])
def test_bad_values_name_the_flag(section, key, value, message):
  config = config_lib.get_config()
  setattr(config[section], key, value)
  with pytest.raises(config_lib.ConfigError, match=message):
    config_lib.settings(config)


def test_unknown_key_suggests_the_nearest():
  config = config_lib.get_config()
  config.train.learning_rat = 0.1  # A typo in a preset.
  with pytest.raises(config_lib.ConfigError,
                     match=r'--config.train.learning_rat: unknown setting; '
                     'did you mean learning_rate'):
    config_lib.settings(config)
