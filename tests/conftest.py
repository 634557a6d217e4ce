"""Shared test helpers: small review files the tests write themselves."""

import os
import random
import tempfile

import pytest

DATA_DIR_ENV = 'LOTTERY_JAX_DATA_DIR'

# One persistent XLA compilation cache for a test run, shared by the xdist
# workers and the commands the tests start: the same small programs compile
# in many tests. Set before any test module imports jax; a new run (new
# run id) starts empty, so timings are those of a fresh checkout.
_RUN = os.environ.get('PYTEST_XDIST_TESTRUNUID', str(os.getpid()))
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR', os.path.join(
    tempfile.gettempdir(), f'lottery_jax_tests_{_RUN}'))
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')

_POSITIVE = ('great', 'excellent', 'love', 'wonderful', 'perfect', 'best',
             'amazing', 'happy', 'recommend', 'superb')
_NEGATIVE = ('awful', 'broken', 'hate', 'terrible', 'waste', 'worst',
             'refund', 'poor', 'disappointing', 'junk')
_NEUTRAL = ('the', 'a', 'this', 'it', 'was', 'and', 'of', 'to', 'product',
            'item', 'story', 'sound', 'kitchen', 'screen', 'plot', 'album')


def synthetic_reviews(n, seed, topic_words=()):
  """n (text, rating) pairs whose sentiment is learnable from words."""
  rng = random.Random(seed)
  reviews = []
  for i in range(n):
    rating = rng.choice([1, 2, 3, 4, 5])
    polar = _POSITIVE if rating > 3 else _NEGATIVE if rating < 3 else _NEUTRAL
    words = [rng.choice(_NEUTRAL + tuple(topic_words)) for _ in range(
        rng.randint(3, 30))]
    words += [rng.choice(polar) for _ in range(rng.randint(1, 4))]
    rng.shuffle(words)
    reviews.append((f'review {seed} {i}: ' + ' '.join(words) + '.', rating))
  return reviews


def write_label_tsv(path, reviews):
  with open(path, 'w', encoding='utf-8') as f:
    for text, rating in reviews:
      if rating != 3:
        f.write(f'{int(rating > 3)}\t{text}\n')


def write_webis(path, reviews):
  with open(path, 'w', encoding='utf-8') as f:
    f.write('<?xml version="1.0" encoding="utf-8"?>\n<items>')
    for text, rating in reviews:
      f.write(f'<item>\n\t<summary>t</summary>\n\t<rating>{rating:.1f}'
              f'</rating>\n\t<text>{text}</text>\n\t<category>x</category>'
              '\n\t</item>\n')
    f.write('</items>\n')


@pytest.fixture
def tiny_data_dir(tmp_path):
  """A data directory in the `shared` layout with small synthetic domains."""
  return make_tiny_data(tmp_path / 'reviews')


@pytest.fixture(scope='session')
def tiny_data_dir_shared(tmp_path_factory):
  """`tiny_data_dir`, made once per session; tests must not change it."""
  return make_tiny_data(tmp_path_factory.mktemp('shared') / 'reviews')


def make_tiny_data(root):
  """Writes small synthetic domains in the `shared` layout under `root`."""
  topics = {'books': ('novel', 'author'), 'dvd': ('film', 'actor'),
            'music': ('song', 'band'), 'electronics': ('battery', 'cable'),
            'kitchen_housewares': ('pan', 'blender')}
  for seed, (name, words) in enumerate(sorted(topics.items())):
    (root / 'fdu_mtl').mkdir(parents=True, exist_ok=True)
    write_label_tsv(root / 'fdu_mtl' / f'{name}.task.train',
                    synthetic_reviews(120, seed, words))
    write_label_tsv(root / 'fdu_mtl' / f'{name}.task.test',
                    synthetic_reviews(40, seed + 100, words))
  for name in ('books', 'dvd', 'music'):
    (root / 'webis_cls10' / name).mkdir(parents=True)
    write_webis(root / 'webis_cls10' / name / 'train.review',
                synthetic_reviews(60, 200 + len(name), topics[name]))
  # The video files join the movies domain.
  write_label_tsv(root / 'fdu_mtl' / 'video.task.train',
                  synthetic_reviews(30, 300, ('film',)))
  write_label_tsv(root / 'fdu_mtl' / 'video.task.test',
                  synthetic_reviews(10, 301, ('film',)))
  for name, topic in (('books', 'books'), ('dvd', 'dvd'),
                      ('electronics', 'electronics'),
                      ('kitchen_&_housewares', 'kitchen_housewares')):
    d = root / 'blitzer' / name
    d.mkdir(parents=True)
    for label, ratings in (('positive', (4, 5)), ('negative', (1, 2))):
      with open(d / f'{label}.review', 'w', encoding='utf-8') as f:
        for text, rating in synthetic_reviews(40, 400 + len(name + label),
                                              topics[topic]):
          if rating in ratings:
            f.write(f'<review>\n<rating>\n{rating}.0\n</rating>\n<title>\nt\n'
                    f'</title>\n<review_text>\n{text}\n</review_text>\n'
                    '</review>\n')
  return str(root)


@pytest.fixture(scope='session')
def real_data_dir():
  """The real reviews, named by $LOTTERY_JAX_DATA_DIR or found beside the
  checkout; tests that need them are skipped (with the reason) without."""
  candidates = [os.environ.get(DATA_DIR_ENV, ''),
                os.path.join(os.path.dirname(__file__), '..', '..', 'shared',
                             'data', 'amazon_reviews')]
  for path in candidates:
    if path and os.path.isdir(path):
      return os.path.abspath(path)
  if os.environ.get('CI'):
    pytest.fail(f'CI must run the real-data tests: set ${DATA_DIR_ENV}')
  pytest.skip(f'real data not found: set ${DATA_DIR_ENV}')
