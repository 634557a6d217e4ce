"""Bytes of a ticket: federated messages and ticket files against dense.

  python -m benchmarks.ticket_bytes [--model=cpu] [--rounds=1,2,3,4,6]

For each round r of the `cpu` preset (0.45^r of each prunable leaf kept),
random masks on the model's initial params: the bytes of the codec's mask
message, of the surviving values (float32 and bfloat16), of a round that
carries the mask against the dense message, and of the ticket file
(`codec.export_ticket`) against the same params saved densely.
"""

import os
import tempfile

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
from lottery_jax import codec
from lottery_jax import masks as masks_lib
from lottery_jax import models

_MODEL = flags.DEFINE_enum('model', 'cpu', ['paper', 'cpu'], 'Model size.')
_ROUNDS = flags.DEFINE_list('rounds', ['1', '2', '3', '4', '6'], 'Rounds.')
_KEPT = flags.DEFINE_float('kept', 0.45, 'Fraction kept a round.')
_OUT = flags.DEFINE_string('out_dir', 'benchmark_results', 'JSON folder.')


def main(argv):
  del argv
  kw = common.PAPER if _MODEL.value == 'paper' else common.CPU
  params = jax.tree.map(np.asarray, models.TextCNN(**kw).init(
      jax.random.key(0), jnp.zeros((1, 256), jnp.int32),
      jnp.ones((1,), jnp.int32))['params'])
  rng = np.random.default_rng(0)
  dense_file = codec.dense_bytes(params)
  rows, extra = [], {'dense_message': len(codec.encode_values(params)),
                     'dense_file': dense_file}
  for r in map(int, _ROUNDS.value):
    kept = _KEPT.value ** r
    masks = jax.tree.map(
        lambda m, k=kept: None if m is None else rng.random(m.shape) < k,
        masks_lib.make_masks(params), is_leaf=masks_lib.is_none)
    sizes = codec.message_bytes(params, masks)
    half = len(codec.encode_values(params, masks, 'bfloat16'))
    with tempfile.TemporaryDirectory() as tmp:
      file_size = codec.export_ticket(os.path.join(tmp, 'ticket.npz'),
                                      masks, params)
    with_mask = (sizes['mask'] + sizes['values']) / sizes['dense']
    rows.append([r, f'{100 * (1 - kept):.1f}%', sizes['mask'],
                 sizes['values'], half, with_mask,
                 sizes['values'] / sizes['dense'], file_size / dense_file])
    extra[f'round_{r}_with_mask'] = with_mask
    extra[f'round_{r}_file'] = file_size / dense_file
  common.report(
      'ticket_bytes', f'Ticket bytes, {_MODEL.value} model (dense message '
      f'{extra["dense_message"]:,} B, dense file {dense_file:,} B)',
      ['round', 'sparsity', 'mask B', 'values B', 'values bf16 B',
       'round with mask / dense', 'later round / dense', 'file / dense'],
      rows, extra, _OUT.value)


if __name__ == '__main__':
  app.run(main)
