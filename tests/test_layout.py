"""The package's architecture, checked from its source: small modules and
functions, layers that import only downwards, configs only at the top."""

import ast
import os
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / 'lottery_jax'
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# The layers, bottom up, as README's Layout lists them: a module imports
# only from its own layer or those before it.
LAYERS = (('files', 'affinity', 'federated_config', 'config', 'curves'), ('batching',), ('data.*',),
          ('baselines',),
          ('models', 'masks', 'pruning'), ('train', 'sharding', 'fit'),
          ('lottery',), ('checkpoints', 'results', 'progress', 'codec'),
          ('runs', 'tickets', 'federated', 'flower'),
          ('study', 'engine', 'federated_study', 'flower_study', 'findings',
           'phase', 'failures', 'cost', 'report', 'plots'))
# Below data preparation: the model, masks, training and the lottery core.
TRAINING = ('config', 'batching', 'models', 'masks', 'pruning', 'train',
            'sharding', 'fit', 'lottery')
# The only modules that see an ml_collections ConfigDict: the schema and the
# run layer's entry calls (the experiments/ binaries are outside the package).
CONFIG_DICT = ('config', 'federated_config', 'tickets', 'study')


def _modules():
  """{dotted name below lottery_jax: path}, package __init__s left out."""
  found = {}
  for path in sorted(PACKAGE.rglob('*.py')):
    if path.name == '__init__.py':
      continue
    found['.'.join(path.relative_to(PACKAGE).with_suffix('').parts)] = path
  return found


MODULES = _modules()


def _imports(path):
  """The package modules and third-party top-level names `path` imports,
  at module level or inside functions."""
  ours, theirs = set(), set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module:
      names = [f'{node.module}.{a.name}' for a in node.names] + [node.module]
    else:
      continue
    for name in names:
      if name.startswith('lottery_jax.'):
        module = name[len('lottery_jax.'):]
        while module and module not in MODULES:  # Drop imported attributes.
          module = module.rpartition('.')[0]
        if module:
          ours.add(module)
      else:
        theirs.add(name.split('.')[0])
  return ours, theirs


GRAPH = {m: _imports(p)[0] - {m} for m, p in MODULES.items()}


def _reachable(start):
  seen, todo = set(), [start]
  while todo:
    for dep in GRAPH[todo.pop()]:
      if dep not in seen:
        seen.add(dep)
        todo.append(dep)
  return seen


def test_the_layout_is_what_these_tests_know():
  for name in TRAINING + CONFIG_DICT + ('runs', 'data.dataset'):
    assert name in MODULES, name


@pytest.mark.parametrize('name', sorted(MODULES))
def test_module_and_function_sizes(name):
  lines = MODULES[name].read_text().splitlines()
  assert len(lines) <= MAX_MODULE_LINES, f'{name}: {len(lines)} lines'
  for node in ast.walk(ast.parse('\n'.join(lines))):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      size = node.end_lineno - node.lineno + 1
      first = min([node.lineno] + [d.lineno for d in node.decorator_list])
      why = lines[first - 2].strip().startswith('# Long:')
      assert size <= MAX_FUNCTION_LINES or why, (
          f'{name}.{node.name}: {size} lines and no "# Long:" comment '
          'above it saying why')


def _layer(name):
  for i, layer in enumerate(LAYERS):
    if name in layer or (name.startswith('data.') and 'data.*' in layer):
      return i
  raise AssertionError(f'{name} is in no layer of LAYERS (and README)')


@pytest.mark.parametrize('name', sorted(MODULES))
def test_modules_import_only_downwards(name):
  up = sorted(d for d in GRAPH[name] if _layer(d) > _layer(name))
  assert not up, f'{name} imports {up} from a later layer'


def test_no_import_cycle():
  for name in MODULES:
    assert name not in _reachable(name), f'{name} imports itself back'


@pytest.mark.parametrize('name', TRAINING)
def test_training_imports_nothing_from_data_preparation(name):
  data = sorted(m for m in _reachable(name) | {name}
                if m.startswith('data.'))
  assert not data, f'{name} reaches {data}'


def test_only_the_run_layer_sees_a_config_dict():
  users = sorted(m for m, p in MODULES.items()
                 if 'ml_collections' in _imports(p)[1])
  assert set(users) <= set(CONFIG_DICT), users


def test_every_module_says_what_it_owns():
  for name, path in MODULES.items():
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and len(doc.split()) >= 5, f'{name}: no module docstring'
    assert os.path.getsize(path) > 0
