"""Tests for lottery_jax.data.download, against a server on 127.0.0.1 only."""

import collections
import functools
import gzip
import http.server
import json
import logging
import os
import random
import socket
import subprocess
import sys
import threading

import pytest

from lottery_jax.data import domains
from lottery_jax.data import download
from lottery_jax.data import input_pipeline

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------
# Test data.


def _text(rng, words=30):
  # Random hex words: they compress badly, so the gzip files are big enough
  # to show that reading stopped early.
  return ' '.join('%08x' % rng.getrandbits(32) for _ in range(words))


def _review_line(rng, rating, style):
  """One McAuley line with 2018 keys, 2023 keys or as a Python literal."""
  if style == '2018':
    obj = {'overall': float(rating), 'reviewText': _text(rng),
           'summary': 'summary', 'asin': 'B0001'}
  else:
    obj = {'rating': float(rating), 'text': _text(rng), 'title': 'title',
           'parent_asin': 'B0002'}
  if style == 'literal':
    return (repr(obj) + '\n').encode()
  return (json.dumps(obj) + '\n').encode()


_BROKEN_LINES = (
    b'{"overall": 5.0, "reviewText": "cut in the mid\n',  # bad_json
    b'{"overall": 1.0, "reviewText": "caf\xe9"}\n',  # invalid_utf8
    b'{"overall": 2.0, "reviewText": "   "}\n',  # empty_text
    b'{"reviewText": "no rating here"}\n',  # missing_rating
)


def _make_lines(rng, labels, broken_every=0, three_star_every=0):
  """Review lines for `labels` (0/1), with 3-star and broken lines between."""
  lines = []
  styles = ('2018', '2023', 'literal')
  for i, label in enumerate(labels):
    if three_star_every and i % three_star_every == 0:
      lines.append(_review_line(rng, 3, styles[i % 3]))
    if broken_every and i % broken_every == 0:
      lines.append(_BROKEN_LINES[(i // broken_every) % len(_BROKEN_LINES)])
    rating = rng.choice((1, 2)) if label == 0 else rng.choice((4, 5))
    lines.append(_review_line(rng, rating, styles[i % 3]))
  return lines


def _label(line):
  try:
    return input_pipeline.parse_json_line(line).label
  except input_pipeline.SkipRecord:
    return None


def _first_balanced(lines, n):
  """The lines the downloader should keep: the first n of each label."""
  kept, counts = [], [0, 0]
  for line in lines:
    label = _label(line)
    if label is not None and counts[label] < n:
      counts[label] += 1
      kept.append(line)
  return kept


def _write_gz(path, lines):
  with gzip.open(path, 'wb') as f:
    f.writelines(lines)


def _gz_lines(path):
  with gzip.open(path, 'rb') as f:
    return f.readlines()


N = 20  # per_class in most tests.


@pytest.fixture(scope='module')
def files(tmp_path_factory):
  """A served folder: {name: lines} of the files written into it."""
  root = tmp_path_factory.mktemp('served')
  rng = random.Random(0)
  written = {}
  # Many positives first, then one negative every 10 lines, then far more
  # than needed: a reader that stops early reads a small part of it.
  labels = [1] * 300 + [0 if i % 10 == 0 else 1 for i in range(5000)]
  written['big.jsonl.gz'] = _make_lines(
      rng, labels, broken_every=7, three_star_every=11)
  # Too few negatives: the stream ends before per_class of them.
  written['short.jsonl.gz'] = _make_lines(
      rng, [0] * 5 + [1] * 50, broken_every=5, three_star_every=4)
  # Files with the 2023 names, for download_all and the entry point.
  for stem in ('Books', 'CDs_and_Vinyl'):
    written[f'{stem}.jsonl.gz'] = _make_lines(
        rng, [rng.choice((0, 1)) for _ in range(200)], broken_every=9,
        three_star_every=6)
  for name, lines in written.items():
    _write_gz(root / name, lines)
  # A gzip cut in half (a connection that dropped mid-file).
  whole = gzip.compress(b''.join(written['short.jsonl.gz']))
  (root / 'cut.jsonl.gz').write_bytes(whole[:len(whole) // 2])
  # A 200 answer that is not a review file.
  (root / 'page.html').write_bytes(b'<html><body>Not here</body></html>\n')
  return root, written


class _Handler(http.server.SimpleHTTPRequestHandler):
  requests = collections.Counter()

  def do_GET(self):
    type(self).requests[self.path] += 1
    super().do_GET()

  def copyfile(self, source, outputfile):
    # The client hangs up once it has enough; that is expected here.
    try:
      super().copyfile(source, outputfile)
    except (BrokenPipeError, ConnectionResetError):
      pass

  def log_message(self, *args):
    pass


@pytest.fixture(scope='module')
def server(files):
  root, _ = files
  handler = functools.partial(_Handler, directory=str(root))
  httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
  httpd.daemon_threads = True
  thread = threading.Thread(target=httpd.serve_forever, daemon=True)
  thread.start()
  yield f'http://127.0.0.1:{httpd.server_address[1]}'
  httpd.shutdown()
  httpd.server_close()


# ---------------------------------------------------------------------------
# URLs.


def test_urls():
  assert set(download.MCAULEY_URLS) == {'2023', '2018'}
  for release in download.RELEASES:
    assert set(download.MCAULEY_URLS[release]) == set(domains.DOMAINS)
  assert download.domain_url('cds') == (
      'https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_2023/raw/'
      'review_categories/CDs_and_Vinyl.jsonl.gz')
  assert download.domain_url('movies', release='2018') == (
      'https://jmcauleylab.net/data/amazon_v2/categoryFiles/'
      'Movies_and_TV.json.gz')
  assert download.domain_url('home', '2018', 'http://127.0.0.1:1/x/') == (
      'http://127.0.0.1:1/x/Home_and_Kitchen.json.gz')
  with pytest.raises(ValueError, match='toys'):
    download.domain_url('toys')
  with pytest.raises(ValueError, match='2020'):
    download.domain_url('books', release='2020')


# ---------------------------------------------------------------------------
# download_domain.


def test_stops_once_balanced(server, files, tmp_path):
  root, written = files
  lines = written['big.jsonl.gz']
  out = tmp_path / 'books.jsonl.gz'
  report = download.download_domain(f'{server}/big.jsonl.gz', str(out), N)

  assert report['kept'] == {'negative': N, 'positive': N}
  assert report['complete'] and report['stopped_early']
  assert not report['reached_end'] and not report['reused']
  # Stopped far from the end of the file.
  size = (root / 'big.jsonl.gz').stat().st_size
  assert report['bytes_total'] == size
  assert report['bytes_downloaded'] < size / 2
  assert report['lines_read'] < len(lines) / 4
  assert report['skipped'][download.THREE_STAR] > 0
  assert report['skipped'][input_pipeline.BAD_JSON] > 0
  assert report['skipped'][input_pipeline.INVALID_UTF8] > 0
  # Kept raw lines, in file order, and nothing else.
  assert _gz_lines(out) == _first_balanced(lines, N)
  assert [p.name for p in tmp_path.iterdir()] == ['books.jsonl.gz']


def test_output_is_readable_by_read_reviews(server, files, tmp_path):
  _, written = files
  out = tmp_path / 'books.jsonl.gz'
  download.download_domain(f'{server}/big.jsonl.gz', str(out), N)
  skipped = collections.Counter()
  reviews = list(input_pipeline.read_reviews(str(out), skipped))
  expected = [input_pipeline.parse_json_line(line)
              for line in _first_balanced(written['big.jsonl.gz'], N)]
  assert reviews == expected
  assert collections.Counter(r.label for r in reviews) == {0: N, 1: N}
  assert not skipped


def test_stream_ends_before_enough(server, files, tmp_path, caplog):
  _, written = files
  out = tmp_path / 'short.jsonl.gz'
  with caplog.at_level(logging.WARNING, logger=download.__name__):
    report = download.download_domain(f'{server}/short.jsonl.gz', str(out), 10)
  assert report['kept'] == {'negative': 5, 'positive': 10}
  assert not report['complete'] and not report['stopped_early']
  assert report['reached_end'] and not report['truncated']
  assert report['lines_read'] == len(written['short.jsonl.gz'])
  assert _gz_lines(out) == _first_balanced(written['short.jsonl.gz'], 10)
  assert 'only 5 negative' in caplog.text


def test_cut_gzip_keeps_what_decompresses(server, tmp_path):
  out = tmp_path / 'cut.jsonl.gz'
  report = download.download_domain(f'{server}/cut.jsonl.gz', str(out), 100)
  assert report['truncated'] and report['reached_end']
  assert report['skipped'][input_pipeline.TRUNCATED_GZIP] == 1
  assert 0 < sum(report['kept'].values()) == len(_gz_lines(out))


@pytest.mark.parametrize('path, message', [
    ('/missing.jsonl.gz', 'HTTP error 404'),
    ('/page.html', 'no usable review'),
])
def test_errors_leave_nothing_behind(server, tmp_path, path, message):
  url = server + path
  out = tmp_path / 'sub' / 'books.jsonl.gz'
  with pytest.raises(download.DownloadError, match=message) as e:
    download.download_domain(url, str(out), N)
  assert url in str(e.value)
  assert not out.exists()
  assert not list((tmp_path / 'sub').iterdir())  # No temporary file either.


def test_connection_refused(tmp_path):
  with socket.socket() as s:  # A port that nothing listens on.
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  url = f'http://127.0.0.1:{port}/books.jsonl.gz'
  with pytest.raises(download.DownloadError, match='cannot connect') as e:
    download.download_domain(url, str(tmp_path / 'b.jsonl.gz'), N, timeout=5)
  assert url in str(e.value)
  assert not list(tmp_path.iterdir())


def test_reuses_existing_output(server, tmp_path):
  url = f'{server}/short.jsonl.gz'
  out = tmp_path / 'short.jsonl.gz'
  download.download_domain(url, str(out), 3)
  before = out.read_bytes()
  served = _Handler.requests['/short.jsonl.gz']

  report = download.download_domain(url, str(out), 3)
  assert report['reused']
  assert report['kept'] == {'negative': 3, 'positive': 3}
  assert report['complete']
  assert _Handler.requests['/short.jsonl.gz'] == served  # Not fetched again.
  assert out.read_bytes() == before

  report = download.download_domain(url, str(out), 4, overwrite=True)
  assert not report['reused']
  assert _Handler.requests['/short.jsonl.gz'] == served + 1
  assert len(_gz_lines(out)) == 8


def test_per_class_must_be_positive(tmp_path):
  with pytest.raises(ValueError, match='per_class'):
    download.download_domain('http://127.0.0.1:1/x', str(tmp_path / 'x'), 0)


# ---------------------------------------------------------------------------
# download_all and the entry point.


def test_download_all_writes_files_and_report(server, files, tmp_path):
  _, written = files
  reports = download.download_all(str(tmp_path), 5, domains=['books', 'cds'],
                                  base_url=server + '/')
  folder = tmp_path / 'mcauley'
  assert sorted(p.name for p in folder.iterdir()) == [
      'books.jsonl.gz', 'cds.jsonl.gz', download.REPORT_NAME]
  assert _gz_lines(folder / 'books.jsonl.gz') == _first_balanced(
      written['Books.jsonl.gz'], 5)
  saved = json.loads((folder / download.REPORT_NAME).read_text())
  assert saved['domains'] == json.loads(json.dumps(reports))
  assert saved['domains']['cds']['url'] == f'{server}/CDs_and_Vinyl.jsonl.gz'
  # Where the 'mcauley' layout looks for them.
  assert domains.domain_files('books', str(tmp_path), 'mcauley') == [
      str(folder / 'books.jsonl.gz')]

  # A later run for one domain keeps the other's entry.
  download.download_all(str(tmp_path), 5, domains=['cds'],
                        base_url=server)
  saved = json.loads((folder / download.REPORT_NAME).read_text())
  assert saved['domains']['cds']['reused']
  assert not saved['domains']['books']['reused']

  with pytest.raises(ValueError, match='toys'):
    download.download_all(str(tmp_path), 5, domains=['toys'])


def _run_main(*args):
  return subprocess.run(
      [sys.executable, '-m', 'experiments.download_mcauley', *args],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)


def test_entry_point(server, tmp_path):
  result = _run_main(f'--out_dir={tmp_path}', '--per_class=5',
                     '--domains=books,cds', f'--base_url={server}')
  assert result.returncode == 0, result.stderr
  for name in ('books.jsonl.gz', 'cds.jsonl.gz', download.REPORT_NAME):
    assert (tmp_path / 'mcauley' / name).exists()
  assert 'books' in result.stdout and 'cds' in result.stdout


@pytest.mark.parametrize('flag, expected', [
    ('--domains=books,toys', '--domains: unknown domain toys'),
    ('--domains=', '--domains: empty'),
    ('--domains=home', 'Home_and_Kitchen.jsonl.gz'),  # 404 on the server.
])
def test_entry_point_user_errors(server, tmp_path, flag, expected):
  result = _run_main(f'--out_dir={tmp_path}', '--per_class=5', flag,
                     f'--base_url={server}')
  assert result.returncode == 1
  assert 'Traceback' not in result.stderr
  # Progress logs may come first; the error is one line, the last.
  lines = result.stderr.strip().splitlines()
  assert [l for l in lines if l.startswith('error:')] == lines[-1:], lines
  assert expected in lines[-1]
  assert not (tmp_path / 'mcauley' / 'home.jsonl.gz').exists()
