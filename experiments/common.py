"""The flags and error handling that the entry points share.

Every entry point runs as `common.run(name, main)`: a bad flag, an unknown
--config key, a config file that does not load and every user error
(`runs.USER_ERRORS`) exit with one line, ``<name>: error: <message>``, that
names the flag, key or file to fix. find_tickets, transfer_tickets and
run_study also take their --config, --data_dir and --workdir from
`define_run_flags` (absl: only binaries define flags, so importing this
module defines none).
"""

import difflib
import functools
import re
import sys
from typing import Any, Callable, NamedTuple, NoReturn, Optional, Sequence

from absl import app
from absl import flags
from absl import logging
import ml_collections
from ml_collections import config_flags

from lottery_jax import config as config_lib
from lottery_jax import runs

# --config.a.b=v, --config.a.b v and --noconfig.a.b (a boolean).
_OVERRIDE = re.compile(r'^--?(?:no)?config\.([^=]+)')


class RunFlags(NamedTuple):
  """The flags of the lottery entry points."""
  config: flags.FlagHolder
  data_dir: flags.FlagHolder
  workdir: flags.FlagHolder


def define_run_flags() -> RunFlags:
  """Defines --config (required), --data_dir and --workdir."""
  return RunFlags(
      config=config_flags.DEFINE_config_file('config', None, 'Preset file.',
                                             lock_config=True),
      data_dir=flags.DEFINE_string(
          'data_dir', None, 'Root of the review files (default: '
          '$LOTTERY_JAX_DATA_DIR); needed until WORKDIR/data is prepared.'),
      workdir=flags.DEFINE_string('workdir', None, 'Output directory.',
                                  required=True))


def define_config(name: str, default: str, help_string: str
                  ) -> flags.FlagHolder:
  """--config with a default file, which ml_collections loads (and applies
  the --config.* overrides to) here, at definition: an unknown key exits
  with one line now, before `run` could catch it."""
  try:
    return config_flags.DEFINE_config_file('config', default, help_string,
                                           lock_config=True)
  except flags.Error as e:  # An override given before --config.
    fail(name, e)
  except (AttributeError, KeyError) as e:
    fail(name, unknown_setting(sys.argv, e))


def fail(name: str, message: Any) -> NoReturn:
  """Exits with status 1 and the one line `<name>: error: <message>`."""
  sys.exit(f'{name}: error: {one_line(str(message))}')


def one_line(text: str) -> str:
  """`text` if it is one line, else its first and last lines (a wrapped
  traceback's last line is the error)."""
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  if len(lines) <= 1:
    return lines[0] if lines else text
  return f'{lines[0]} ... {lines[-1]}'


def nearest(key: str, known: Sequence[str]) -> Optional[str]:
  """The known key that `key` most likely misspells or abbreviates: one
  whose words' initials spell it (lr: learning_rate), else difflib's
  closest (as config.py's own check), else one it begins."""
  initials = [k for k in known
              if ''.join(word[:1] for word in k.split('_')) == key]
  close = difflib.get_close_matches(key, known, n=1)
  prefixed = [k for k in known if k.startswith(key)]
  return next(iter(initials + close + prefixed), None)


def unknown_setting(argv: Sequence[str], error: Exception) -> str:
  """The message of the AttributeError or KeyError that ml_collections
  raises for an override of an unknown key: the first such --config.<key>
  of `argv` and the nearest known key, with `config.get_config()` (every
  preset's base) as the schema."""
  schema = config_lib.get_config()
  for arg in argv[1:]:
    match = _OVERRIDE.match(arg)
    if not match:
      continue
    node, path = schema, []
    for key in match.group(1).split('.'):
      if not isinstance(node, ml_collections.ConfigDict):
        break  # Below a value: ml_collections names it.
      if key not in node:
        near = nearest(key, list(node.keys()))
        return (f'--config.{".".join(path + [key])}: unknown setting'
                + (f'; did you mean {near}?' if near else ''))
      node, path = node[key], path + [key]
  # A key of the schema that this preset lacks (prepare_data's has no
  # `train`); ml_collections' text names it.
  key = error.args[0] if error.args else error
  return f'--config: this config file has no setting {key}'


def _parse_flags(name: str, argv: Sequence[str]) -> Sequence[str]:
  """`app.run`'s flags parser: absl's, but every error is one line."""
  try:
    args = flags.FLAGS(argv)
    config = flags.FLAGS['config'].value if 'config' in flags.FLAGS else None
    if config is not None and not isinstance(config,
                                             ml_collections.ConfigDict):
      config.keys()  # ml_collections defers a load error to the first use.
    return args
  except flags.Error as e:
    fail(name, e)
  except OSError as e:  # The config file does not load.
    fail(name, '--config: cannot load the config file: '
         + str(e).splitlines()[-1].strip())
  except (AttributeError, KeyError) as e:  # An override of an unknown key.
    fail(name, unknown_setting(argv, e))


def run(name: str, main: Callable[[Sequence[str]], Any]) -> None:
  """`app.run(main)`, with every flag error reported in one line."""
  app.run(main, flags_parser=functools.partial(_parse_flags, name))


def no_arguments(name: str, argv: Sequence[str]) -> None:
  """Exits with one line if `argv` holds more than the program name."""
  if len(argv) > 1:
    fail(name, f'unexpected arguments: {" ".join(argv[1:])}')


def call(name: str, argv: Sequence[str], run_flags: RunFlags,
         fn: Callable[..., Any], **kwargs) -> Any:
  """`fn(config, data_dir, workdir, **kwargs)`; a user error exits with one
  line that starts with `name`."""
  no_arguments(name, argv)
  if not flags.FLAGS['verbosity'].present:
    # Third-party INFO lines (orbax writes ~27 a checkpoint) would bury the
    # progress; --verbosity=0 brings them back.
    logging.set_verbosity(logging.WARNING)
  config: Optional[ml_collections.ConfigDict] = run_flags.config.value
  if config is None:
    fail(name, '--config is required, e.g. '
         '--config=experiments/configs/cpu.py')
  try:
    return fn(config, run_flags.data_dir.value, run_flags.workdir.value,
              **kwargs)
  except runs.USER_ERRORS as e:
    fail(name, e)
