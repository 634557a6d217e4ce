"""Tests for lottery_jax.data.input_pipeline, on small files the tests write.

Through the names it re-exports, they also cover its parts: reviews,
file_streams and file_formats.
"""

import collections
import gzip
import itertools
import json
import logging
import os
import random
import time
import tracemalloc

import pytest

from lottery_jax.data import input_pipeline
from lottery_jax.data.input_pipeline import Review

ip = input_pipeline


# ---------------------------------------------------------------------------
# Helpers.


def _write(tmp_path, name, data, gz=False):
  """Writes `data` (str as UTF-8, or bytes) to tmp_path/name; returns the path."""
  if isinstance(data, str):
    data = data.encode('utf-8')
  path = os.path.join(str(tmp_path), name)
  with (gzip.open(path, 'wb') if gz else open(path, 'wb')) as f:
    f.write(data)
  return path


def _read(path, fmt=None):
  """Reads a whole file; returns (reviews, skip counter)."""
  skipped = collections.Counter()
  reviews = list(ip.read_reviews(path, skipped, fmt=fmt))
  return reviews, skipped


def _json_line(**fields):
  return json.dumps(fields) + '\n'


TSV_COLUMNS = (
    'marketplace', 'customer_id', 'review_id', 'product_id', 'product_parent',
    'product_title', 'product_category', 'star_rating', 'helpful_votes',
    'total_votes', 'vine', 'verified_purchase', 'review_headline',
    'review_body', 'review_date')
TSV_HEADER = '\t'.join(TSV_COLUMNS) + '\n'


def _tsv_row(rating, headline, body, review_id='R1'):
  values = ['US', '123', review_id, 'B000', '456', 'A book', 'Books',
            str(rating), '0', '1', 'N', 'Y', headline, body, '2015-08-31']
  return '\t'.join(values) + '\n'


def _blitzer_review(rating, title, text, unique_id='1'):
  return (
      '<review>\n'
      f'<unique_id>\n{unique_id}\n</unique_id>\n'
      '<asin>\nB000\n</asin>\n'
      '<product_name>\nA book: Books\n</product_name>\n'
      '<helpful>\n1 of 2\n</helpful>\n'
      f'<rating>\n{rating}\n</rating>\n'
      f'<title>\n{title}\n</title>\n'
      '<date>\nMarch 3, 2006\n</date>\n'
      '<reviewer>\nSomeone\n</reviewer>\n'
      '<reviewer_location>\nSomewhere\n</reviewer_location>\n'
      f'<review_text>\n{text}\n</review_text>\n'
      '</review>\n')


def _webis_item(rating, summary, text):
  return (f'<item>\n\t<summary>{summary}</summary>\n\t<rating>{rating}'
          f'</rating>\n\t<text>{text}</text>\n\t<category>books</category>\n'
          '\t</item>\n')


WEBIS_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<items>'
WEBIS_TAIL = '</items>\n'


# ---------------------------------------------------------------------------
# clean_text and label_from_rating.


@pytest.mark.parametrize('raw, expected', [
    ('  Great   book \n\t really ', 'Great book really'),
    ('one<br>two<BR/>three<br />four', 'one two three four'),
    ('Tom &amp; Jerry &quot;hi&quot; &#39;x&#39;', 'Tom & Jerry "hi" \'x\''),
    ('AT&T < 5 bucks', 'AT&T < 5 bucks'),
    # Entities are decoded after <br> tags are replaced: an escaped tag stays.
    ('a &lt;br&gt; b', 'a <br> b'),
    ('<br/>  \n ', ''),
    ('', ''),
])
def test_clean_text(raw, expected):
  assert ip.clean_text(raw) == expected


@pytest.mark.parametrize('rating, label', [
    (1, 0), (1.0, 0), (2, 0), (2.5, 0), (3, None), (3.0, None), (4, 1),
    (4.5, 1), (5, 1), (5.0, 1)])
def test_label_from_rating(rating, label):
  assert ip.label_from_rating(rating) == label


# ---------------------------------------------------------------------------
# McAuley JSON lines.

JSON_EXPECTED = [
    Review('one star', 'awful', 1.0, 0),
    Review('two stars', 'bad', 2.0, 0),
    Review('three stars', 'meh', 3.0, None),
    Review('four stars', 'good', 4.0, 1),
    Review('five stars', 'great', 5.0, 1),
]


def _json_2018():
  return ''.join(
      _json_line(overall=r.rating, reviewText=r.text, summary=r.title,
                 asin='B000', verified=True)
      for r in JSON_EXPECTED)


@pytest.mark.parametrize('gz', [False, True])
def test_json_lines_2018_keys(tmp_path, gz):
  path = _write(tmp_path, 'r.json' + ('.gz' if gz else ''), _json_2018(), gz)
  assert ip.detect_format(path) == 'json_lines'
  assert _read(path) == (JSON_EXPECTED, collections.Counter())


@pytest.mark.parametrize('gz', [False, True])
def test_json_lines_2023_keys(tmp_path, gz):
  data = ''.join(
      _json_line(rating=int(r.rating), text=r.text, title=r.title,
                 parent_asin='B000', helpful_vote=0)
      for r in JSON_EXPECTED)
  path = _write(tmp_path, 'r.jsonl' + ('.gz' if gz else ''), data, gz)
  assert ip.detect_format(path) == 'json_lines'
  assert _read(path) == (JSON_EXPECTED, collections.Counter())


@pytest.mark.parametrize('gz', [False, True])
def test_json_lines_python_literals(tmp_path, gz):
  data = ("{'reviewText': 'x', 'overall': 5.0}\n"
          "{'reviewerID': 'A1', 'helpful': [0, 0], 'reviewText': \"It's ok\", "
          "'overall': 3.0, 'summary': 'Fine', 'verified': True}\n"
          "{'text': 'Bad &amp; broken<br />sadly', 'rating': 1, "
          "'title': None}\n")
  path = _write(tmp_path, 'r.json' + ('.gz' if gz else ''), data, gz)
  assert ip.detect_format(path) == 'json_lines'
  assert _read(path) == ([
      Review('x', '', 5.0, 1),
      Review("It's ok", 'Fine', 3.0, None),
      Review('Bad & broken sadly', '', 1.0, 0),
  ], collections.Counter())


def test_json_lines_byte_order_mark_and_blank_lines(tmp_path):
  data = (b'\xef\xbb\xbf' + _json_line(overall=4, reviewText='a').encode() +
          b'\n  \r\n' + _json_line(overall=2, reviewText='b').encode())
  path = _write(tmp_path, 'r.json', data)
  assert _read(path) == ([Review('a', '', 4.0, 1), Review('b', '', 2.0, 0)],
                         collections.Counter())


def test_json_lines_bad_records(tmp_path):
  good = _json_line(overall=5, reviewText='good')
  lines = [
      good,
      b'{"overall": 4, "reviewText": "caf\xe9"}\n',  # Latin-1, not UTF-8.
      _json_line(reviewText='no rating'),
      _json_line(overall=None, reviewText='null rating'),
      _json_line(rating=' ', text='blank rating'),
      _json_line(overall='five', reviewText='words'),
      _json_line(overall=0, reviewText='zero'),
      _json_line(rating=6, text='six'),
      'NaN\n',
      '{"overall": NaN, "reviewText": "nan"}\n',
      _json_line(overall=5, reviewText=''),
      _json_line(overall=5, reviewText=' <br/> '),
      _json_line(overall=5, summary='no text'),
      _json_line(overall=5, reviewText=7),
      '[1, 2]\n',
      '"just a string"\n',
      '{[1]: 2}\n',
      'not json at all\n',
      _json_line(rating=2, text='last good'),
      '{"overall": 5.0, "reviewText": "cut in the mi',  # Truncated file.
  ]
  data = b''.join(l if isinstance(l, bytes) else l.encode() for l in lines)
  path = _write(tmp_path, 'r.json', data)
  assert _read(path) == (
      [Review('good', '', 5.0, 1), Review('last good', '', 2.0, 0)],
      collections.Counter({
          ip.INVALID_UTF8: 1, ip.MISSING_RATING: 3, ip.BAD_RATING: 4,
          ip.EMPTY_TEXT: 4, ip.BAD_JSON: 6}))


def test_parse_json_line_skip_reasons():
  assert ip.parse_json_line(b'{"overall": 1, "reviewText": "x"}') == Review(
      'x', '', 1.0, 0)
  for line, reason in [(b'{"overall": 1', ip.BAD_JSON),
                       (b'{"overall": 1, "reviewText": "\xff"}',
                        ip.INVALID_UTF8),
                       (b'{"reviewText": "x"}', ip.MISSING_RATING),
                       (b'{"overall": 9, "reviewText": "x"}', ip.BAD_RATING),
                       (b'{"overall": 1}', ip.EMPTY_TEXT)]:
    with pytest.raises(ip.SkipRecord) as e:
      ip.parse_json_line(line)
    assert e.value.reason == reason


# ---------------------------------------------------------------------------
# Amazon Customer Reviews TSV.

TSV_EXPECTED = [
    Review('Terrible & late', 'Awful', 1.0, 0),
    Review('Not great', 'Meh', 2.0, 0),
    Review('It is fine', 'OK', 3.0, None),
    Review('Nice one two', 'Good', 4.0, 1),
    Review('Loved it', '', 5.0, 1),
]


@pytest.mark.parametrize('gz', [False, True])
def test_amazon_tsv(tmp_path, gz):
  data = TSV_HEADER + ''.join([
      _tsv_row(1, 'Awful', 'Terrible &amp; late'),
      _tsv_row(2, 'Meh', 'Not great'),
      _tsv_row(3, 'OK', 'It is fine'),
      _tsv_row(4, 'Good', 'Nice one<br />two'),
      _tsv_row(5, '', 'Loved it').replace('\n', '\r\n'),
  ])
  path = _write(tmp_path, 'r.tsv' + ('.gz' if gz else ''), data, gz)
  assert ip.detect_format(path) == 'amazon_tsv'
  assert _read(path) == (TSV_EXPECTED, collections.Counter())


def test_amazon_tsv_other_column_order(tmp_path):
  data = ('star_rating\treview_body\treview_headline\n'
          '4\tNice\tGood\n2\tMeh\t\n')
  path = _write(tmp_path, 'r.tsv', data)
  assert ip.detect_format(path) == 'amazon_tsv'
  assert _read(path) == (
      [Review('Nice', 'Good', 4.0, 1), Review('Meh', '', 2.0, 0)],
      collections.Counter())


def test_amazon_tsv_bad_records(tmp_path):
  data = TSV_HEADER.encode() + b''.join([
      _tsv_row(5, 'Good', 'first').encode(),
      _tsv_row(4, 'T', 'caf\xe9').encode('latin-1'),
      _tsv_row('', 'T', 'no rating').encode(),
      _tsv_row('five', 'T', 'words').encode(),
      _tsv_row(0, 'T', 'zero').encode(),
      _tsv_row(6, 'T', 'six').encode(),
      _tsv_row(5, 'T', '').encode(),
      _tsv_row(5, 'T', 'a\textra column').encode(),
      b'US\t123\tR1\n',
      _tsv_row(2, 'Bad', 'last').encode(),
      _tsv_row(5, 'Cut', 'cut short').encode()[:40],  # Truncated file.
  ])
  path = _write(tmp_path, 'r.tsv', data)
  assert _read(path) == (
      [Review('first', 'Good', 5.0, 1), Review('last', 'Bad', 2.0, 0)],
      collections.Counter({
          ip.INVALID_UTF8: 1, ip.MISSING_RATING: 1, ip.BAD_RATING: 3,
          ip.EMPTY_TEXT: 1, ip.BAD_COLUMNS: 3}))


# ---------------------------------------------------------------------------
# Blitzer .review pseudo-XML.

BLITZER_BODY = (
    _blitzer_review('1.0', 'Awful', 'AT&T sold me\nthis < junk', '1') +
    _blitzer_review('3.0', 'So-so', 'Neither good nor bad', '2') +
    _blitzer_review('5.0', 'Great', 'Loved it &amp; more', '3'))
BLITZER_EXPECTED = [
    Review('AT&T sold me this < junk', 'Awful', 1.0, 0),
    Review('Neither good nor bad', 'So-so', 3.0, None),
    Review('Loved it & more', 'Great', 5.0, 1),
]


@pytest.mark.parametrize('wrapped', [False, True])
@pytest.mark.parametrize('gz', [False, True])
def test_blitzer(tmp_path, wrapped, gz):
  data = '<data>\n' + BLITZER_BODY + '</data>\n' if wrapped else BLITZER_BODY
  path = _write(tmp_path, 'positive.review', data, gz)
  assert ip.detect_format(path) == 'blitzer'
  assert _read(path) == (BLITZER_EXPECTED, collections.Counter())


def test_blitzer_latin1_record_is_decoded_not_skipped(tmp_path):
  data = (_blitzer_review('4.0', 'Caf\xe9', 'Un caf\xe9 cr\xe8me', '1')
          .encode('latin-1') +
          _blitzer_review('2.0', 'Na\u00efve', 'UTF-8 na\u00efve', '2')
          .encode('utf-8'))
  path = _write(tmp_path, 'r.review', data)
  assert _read(path) == (
      [Review('Un café crème', 'Café', 4.0, 1),
       Review('UTF-8 naïve', 'Naïve', 2.0, 0)],
      collections.Counter())


def test_blitzer_bad_records(tmp_path):
  no_rating = _blitzer_review('5.0', 'T', 'no rating', '2').replace(
      '<rating>\n5.0\n</rating>\n', '')
  cut = _blitzer_review('5.0', 'Cut', 'cut short', '9')
  data = ''.join([
      _blitzer_review('5.0', 'First', 'first', '1'),
      no_rating,
      _blitzer_review('', 'T', 'blank rating', '3'),
      _blitzer_review('five', 'T', 'words', '4'),
      _blitzer_review('0.0', 'T', 'zero', '5'),
      _blitzer_review('5.0', 'T', '', '6'),
      _blitzer_review('2.0', 'Last', 'last', '7'),
      cut[:len(cut) // 2],  # Truncated file.
  ])
  path = _write(tmp_path, 'r.review', data)
  assert _read(path) == (
      [Review('first', 'First', 5.0, 1), Review('last', 'Last', 2.0, 0)],
      collections.Counter({
          ip.MISSING_RATING: 2, ip.BAD_RATING: 2, ip.EMPTY_TEXT: 1,
          ip.TRUNCATED_RECORD: 1}))


# ---------------------------------------------------------------------------
# Webis-CLS-10 XML.


@pytest.mark.parametrize('gz', [False, True])
def test_webis_xml(tmp_path, gz):
  data = WEBIS_HEAD + ''.join([
      _webis_item('1.0', 'Tom &amp; Jerry', 'Bad &lt;sigh&gt; &quot;book&quot;'),
      _webis_item('3.0', 'Meh', 'So-so\n  really'),
      _webis_item('5.0', '', 'Caf\u00e9 &#233; &amp; more'),
  ]) + WEBIS_TAIL
  path = _write(tmp_path, 'r.xml' + ('.gz' if gz else ''), data, gz)
  assert ip.detect_format(path) == 'webis_xml'
  assert _read(path) == ([
      Review('Bad <sigh> "book"', 'Tom & Jerry', 1.0, 0),
      Review('So-so really', 'Meh', 3.0, None),
      Review('Café é & more', '', 5.0, 1),
  ], collections.Counter())


def test_webis_xml_bad_records(tmp_path):
  cut = _webis_item('5.0', 'Cut', 'cut short')
  data = WEBIS_HEAD.encode() + b''.join([
      _webis_item('5.0', 'First', 'first').encode(),
      _webis_item('4.0', 'Bare', 'AT&T is bad xml').encode(),
      _webis_item('4.0', 'Tags', '<b>mismatched</i>').encode(),
      # An item never closed: bad, and must not swallow the next item.
      _webis_item('4.0', 'Open', 'never closed').replace('\t</item>', '')
      .encode(),
      _webis_item('4.0', 'Second', 'second').encode(),
      _webis_item('4.0', 'T', 'caf\xe9').encode('latin-1'),
      _webis_item('4.0', 'T', 'x').replace('\t<rating>4.0</rating>', '')
      .encode(),
      _webis_item('', 'T', 'blank rating').encode(),
      _webis_item('abc', 'T', 'words').encode(),
      _webis_item('9', 'T', 'nine').encode(),
      _webis_item('4.0', 'T', '  ').encode(),
      _webis_item('2.0', 'Last', 'last').encode(),
      cut[:len(cut) // 2].encode(),  # Truncated file.
  ])
  path = _write(tmp_path, 'r.xml', data)
  assert _read(path) == (
      [Review('first', 'First', 5.0, 1), Review('second', 'Second', 4.0, 1),
       Review('last', 'Last', 2.0, 0)],
      collections.Counter({
          ip.BAD_XML: 3, ip.INVALID_UTF8: 1, ip.MISSING_RATING: 2,
          ip.BAD_RATING: 2, ip.EMPTY_TEXT: 1, ip.TRUNCATED_RECORD: 1}))


# ---------------------------------------------------------------------------
# label<TAB>text lines.


@pytest.mark.parametrize('gz', [False, True])
def test_label_tsv(tmp_path, gz):
  data = '1\tGreat  product\n0\tBad &amp; broken<br />junk\r\n\n1\tTab\tinside\n'
  path = _write(tmp_path, 'books.task.train' + ('.gz' if gz else ''), data, gz)
  assert ip.detect_format(path) == 'label_tsv'
  assert _read(path) == ([
      Review('Great product', '', None, 1),
      Review('Bad & broken junk', '', None, 0),
      Review('Tab inside', '', None, 1),
  ], collections.Counter())


def test_label_tsv_bad_records(tmp_path):
  data = b''.join([
      b'1\tfirst\n',
      b'2\tthree classes?\n',
      b'pos\tword label\n',
      b'\tno label\n',
      b'no tab at all\n',
      b'0\tcaf\xe9\n',
      b'1\t  \n',
      b'0\tlast\n',
      b'1',  # Truncated file: cut before the tab.
  ])
  path = _write(tmp_path, 'r.txt', data)
  assert _read(path) == (
      [Review('first', '', None, 1), Review('last', '', None, 0)],
      collections.Counter({
          ip.BAD_LABEL: 3, ip.BAD_COLUMNS: 2, ip.INVALID_UTF8: 1,
          ip.EMPTY_TEXT: 1}))


# ---------------------------------------------------------------------------
# Gzip files cut short, every format.


def _gzip_case(fmt, rng, n):
  """(file content, expected reviews) for n records with random texts."""
  def words():
    return ' '.join('%08x' % rng.getrandbits(32) for _ in range(12))
  texts = [words() for _ in range(n)]
  ratings = [float(1 + i % 5) for i in range(n)]
  expected = [Review(t, '', r, ip.label_from_rating(r))
              for t, r in zip(texts, ratings)]
  if fmt == 'json_lines':
    data = ''.join(_json_line(overall=r, reviewText=t)
                   for t, r in zip(texts, ratings))
  elif fmt == 'amazon_tsv':
    data = TSV_HEADER + ''.join(_tsv_row(int(r), '', t)
                                for t, r in zip(texts, ratings))
  elif fmt == 'blitzer':
    data = ''.join(_blitzer_review(r, '', t) for t, r in zip(texts, ratings))
  elif fmt == 'webis_xml':
    data = WEBIS_HEAD + ''.join(_webis_item(r, '', t)
                                for t, r in zip(texts, ratings)) + WEBIS_TAIL
  else:
    labels = [i % 2 for i in range(n)]
    data = ''.join(f'{l}\t{t}\n' for l, t in zip(labels, texts))
    expected = [Review(t, '', None, l) for l, t in zip(labels, texts)]
  return data, expected


@pytest.mark.parametrize(
    'fmt', ['json_lines', 'amazon_tsv', 'blitzer', 'webis_xml', 'label_tsv'])
def test_gzip_cut_short(tmp_path, fmt):
  n = 2000
  data, expected = _gzip_case(fmt, random.Random(0), n)
  compressed = gzip.compress(data.encode())
  path = _write(tmp_path, 'r.gz', compressed[:len(compressed) // 2])
  assert ip.detect_format(path) == fmt
  reviews, skipped = _read(path)
  assert 0 < len(reviews) < n
  assert reviews == expected[:len(reviews)]
  assert skipped == collections.Counter({ip.TRUNCATED_GZIP: 1})


def test_gzip_cut_inside_first_record_is_an_error(tmp_path):
  compressed = gzip.compress(
      _json_line(overall=5, reviewText='x' * 5000).encode())
  path = _write(tmp_path, 'r.json.gz', compressed[:20])
  with pytest.raises(ip.ReviewFileError, match='r.json.gz'):
    _read(path)


@pytest.mark.parametrize(
    'fmt', ['json_lines', 'amazon_tsv', 'blitzer', 'webis_xml', 'label_tsv'])
def test_gzip_cut_short_says_how_far_it_got(tmp_path, caplog, fmt):
  data, _ = _gzip_case(fmt, random.Random(0), 2000)
  compressed = gzip.compress(data.encode())
  size = len(compressed) // 2
  path = _write(tmp_path, 'r.gz', compressed[:size])
  with caplog.at_level(logging.WARNING):
    reviews, _ = _read(path)
  assert [r.getMessage() for r in caplog.records] == [
      f'{path}: gzip stream truncated after {size:,} of {size:,} bytes '
      f'({len(reviews):,} reviews read); the rest of the file is lost']


def test_corrupt_gzip_says_where(tmp_path, caplog):
  data, _ = _gzip_case('json_lines', random.Random(0), 2000)
  compressed = bytearray(gzip.compress(data.encode()))
  compressed[len(compressed) // 2:len(compressed) // 2 + 8] = b'\xff' * 8
  path = _write(tmp_path, 'r.json.gz', bytes(compressed))
  with caplog.at_level(logging.WARNING):
    _, skipped = _read(path)
  assert skipped[ip.TRUNCATED_GZIP] == 1
  [message] = [r.getMessage() for r in caplog.records]
  assert message.startswith(f'{path}: gzip stream corrupt (')
  assert f' of {len(compressed):,} bytes (' in message


@pytest.mark.parametrize('cut', [5, 10, 30])
def test_gzip_cut_before_any_content_is_not_empty(tmp_path, cut):
  # A cut inside the header (5), right after it (10) or in the first deflate
  # block (30) used to read as "the file is empty".
  compressed = gzip.compress(_json_2018().encode())
  path = _write(tmp_path, 'r.json.gz', compressed[:cut])
  with pytest.raises(ip.ReviewFileError) as e:
    _read(path)
  assert str(e.value) == (
      f'{path}: gzip stream truncated after {cut} of {cut} bytes, before any '
      'review: the file is cut short or corrupt')


def test_gzip_cut_inside_a_long_first_review_names_the_cut(tmp_path):
  # The head decompresses (and says json_lines), the first line does not.
  rng = random.Random(0)
  text = ''.join('%08x' % rng.getrandbits(32) for _ in range(20000))
  compressed = gzip.compress(_json_line(overall=5, reviewText=text).encode())
  size = len(compressed) // 2
  path = _write(tmp_path, 'r.json.gz', compressed[:size])
  with pytest.raises(ip.ReviewFileError) as e:
    _read(path)
  assert str(e.value) == (
      f'{path}: gzip stream truncated after {size:,} of {size:,} bytes (0 '
      'reviews read): no usable review in this json_lines file (skipped '
      'truncated_gzip: 1)')


# ---------------------------------------------------------------------------
# Format detection and file-level errors.


def test_detect_format_tfds_directory(tmp_path):
  ds = tmp_path / 'amazon_us_reviews' / 'Books_v1_02' / '0.1.0'
  ds.mkdir(parents=True)
  (ds / 'dataset_info.json').write_text('{}')
  assert ip.detect_format(str(ds)) == 'tfds'
  with pytest.raises(ip.ReviewFileError, match='dataset_info.json') as e:
    ip.detect_format(str(tmp_path))
  assert str(tmp_path) in str(e.value)


def test_missing_file(tmp_path):
  path = os.path.join(str(tmp_path), 'nope.json')
  with pytest.raises(ip.ReviewFileError) as e:
    ip.detect_format(path)
  assert path in str(e.value)
  for fmt in (None, 'json_lines', 'amazon_tsv', 'blitzer', 'webis_xml',
              'label_tsv'):
    with pytest.raises(ip.ReviewFileError) as e:
      _read(path, fmt=fmt)
    assert path in str(e.value)


@pytest.mark.parametrize('data', [b'', b'  \n\r\n\t', b'\xef\xbb\xbf\n'])
def test_empty_file(tmp_path, data):
  path = _write(tmp_path, 'empty.json', data)
  with pytest.raises(ip.ReviewFileError, match='empty') as e:
    _read(path)
  assert path in str(e.value)


def test_empty_gzip_file(tmp_path):
  path = _write(tmp_path, 'empty.json.gz', b'', gz=True)
  with pytest.raises(ip.ReviewFileError) as e:
    _read(path)
  assert path in str(e.value)


@pytest.mark.parametrize('data', [
    'id,rating,text\n1,5,good\n',
    'Just some random text.\nNothing to see.\n',
    '<html><body>hi</body></html>\n',
    '2\tlabel two is not a label_tsv file\n',
    'marketplace\tcustomer_id\treview_body\nUS\t1\tno star_rating column\n',
])
def test_unknown_format(tmp_path, data):
  path = _write(tmp_path, 'mystery.txt', data)
  with pytest.raises(ip.ReviewFileError, match='unknown review format') as e:
    _read(path)
  assert path in str(e.value)


def test_unknown_format_argument(tmp_path):
  path = _write(tmp_path, 'r.json', _json_2018())
  with pytest.raises(ip.ReviewFileError, match="'csv'") as e:
    _read(path, fmt='csv')
  assert path in str(e.value)


def test_explicit_format_skips_detection(tmp_path):
  path = _write(tmp_path, 'r.dat', '1\tgood\n')
  assert _read(path, fmt='label_tsv') == (
      [Review('good', '', None, 1)], collections.Counter())


@pytest.mark.parametrize('name, data', [
    ('r.json', '{"overall": 5}\n{"broken\n'),
    ('r.tsv', TSV_HEADER + _tsv_row('x', 'T', 'bad rating')),
    ('r.tsv', TSV_HEADER),  # A header and no rows.
    ('r.review', _blitzer_review('5.0', 'T', '')),
    ('r.xml', WEBIS_HEAD + _webis_item('5.0', 'T', 'a & b') + WEBIS_TAIL),
    ('r.txt', '1\t\n0\t \n'),
])
def test_every_record_bad(tmp_path, name, data):
  path = _write(tmp_path, name, data)
  skipped = collections.Counter()
  with pytest.raises(ip.ReviewFileError, match='no usable review') as e:
    list(ip.read_reviews(path, skipped))
  assert path in str(e.value)
  for reason in skipped:
    assert reason in str(e.value)


def test_skipped_counter_is_optional(tmp_path):
  path = _write(tmp_path, 'r.json', _json_2018() + 'garbage\n')
  assert list(ip.read_reviews(path)) == JSON_EXPECTED


# ---------------------------------------------------------------------------
# Streaming.


@pytest.mark.parametrize('gz', [False, True])
def test_reading_first_record_does_not_read_whole_file(tmp_path, gz):
  n = 200_000
  line = '{"overall": %d.0, "reviewText": "review number %06d padded out"}\n'
  data = ''.join(line % (1 + i % 5, i) for i in range(n)).encode()
  path = os.path.join(str(tmp_path), 'big.json' + ('.gz' if gz else ''))
  with (gzip.open(path, 'wb', compresslevel=1) if gz else
        open(path, 'wb')) as f:
    f.write(data)
  del data
  size = n * len(line % (1, 0))

  start = time.perf_counter()
  tracemalloc.start()
  try:
    it = ip.read_reviews(path)
    first = list(itertools.islice(it, 3))
    it.close()
    _, peak = tracemalloc.get_traced_memory()
  finally:
    tracemalloc.stop()
  elapsed = time.perf_counter() - start

  assert first == [Review('review number 000000 padded out', '', 1.0, 0),
                   Review('review number 000001 padded out', '', 2.0, 0),
                   Review('review number 000002 padded out', '', 3.0, None)]
  assert size > 10_000_000
  assert peak < 1_000_000  # Far below the file's size.
  assert elapsed < 1.0


def test_clean_text_leaves_bare_ampersands_alone():
  assert ip.clean_text('this &notebook &pound5 &amp; &#39;ok&#39;') == (
      "this &notebook &pound5 & 'ok'")


def test_amazon_tsv_without_required_columns_names_the_file(tmp_path):
  path = tmp_path / 'reviews.tsv'
  path.write_text('marketplace\tstar_rating\treview_headline\n'
                  'US\t5\tgreat\n', encoding='utf-8')
  with pytest.raises(ip.ReviewFileError, match='review_body') as e:
    list(ip.read_reviews(str(path), fmt='amazon_tsv'))
  assert str(path) in str(e.value)


def test_a_reader_left_suspended_exits_quietly(tmp_path):
  """`next(iter(read_reviews(...)))` at top level: the generator is closed
  at interpreter exit, which must print nothing."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  path = tmp_path / 'reviews.json.gz'
  with gzip.open(path, 'wt') as f:
    for i in range(3):
      f.write(json.dumps({'reviewText': f'good {i}', 'overall': 5.0}) + '\n')
  result = subprocess.run(
      [sys.executable, '-c',
       'from lottery_jax.data import input_pipeline\n'
       f'reviews = input_pipeline.read_reviews({str(path)!r})\n'
       'print(next(iter(reviews)).text)'],
      capture_output=True, text=True, timeout=120, check=True)
  assert result.stdout == 'good 0\n' and result.stderr == ''
