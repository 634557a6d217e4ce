"""README.md's tables are the docs/ files' (experiments.readme_tables)."""

import os
import subprocess
import sys

import pytest

from experiments import readme_tables

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_tables_are_up_to_date():
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.readme_tables', '--check'],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr


def test_update_replaces_only_the_marked_block():
  text = ('intro\n<!-- begin:data -->\n| old |\n<!-- end:data -->\n'
          'after\n<!-- begin:divergence -->\n| kept |\n'
          '<!-- end:divergence -->\n')
  new = readme_tables.update(text, 'data', '| new |\n| rows |')
  assert new == ('intro\n<!-- begin:data -->\n| new |\n| rows |\n'
                 '<!-- end:data -->\nafter\n<!-- begin:divergence -->\n'
                 '| kept |\n<!-- end:divergence -->\n')
  with pytest.raises(ValueError, match='begin:results'):
    readme_tables.update(text, 'results', '| x |')


def test_tables_come_from_the_docs_files():
  made = readme_tables.tables(os.path.join(REPO, 'docs'))
  assert made['data'].splitlines()[2].startswith('| books | 8,000 | 364 |')
  assert '| books | 0 | 0.0978 |' in made['divergence']
