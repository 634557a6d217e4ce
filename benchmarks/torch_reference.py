"""The masked train step against a PyTorch reference of the same step.

  pip install -e '.[bench]'
  python -m benchmarks.torch_reference [--lengths=128,500]

The reference is the paper's CNN in PyTorch eager (the framework of the
authors' code): the same layer sizes, padding handling (zero pad
embedding, windows that start in padding excluded), the same masks applied
to the gradients before Adam and to the weights after it, Adam with coupled
L2 (`weight_decay`), the same batch shapes and the same number of threads.
Each runs its steps as its training loop would: lottery_jax several in one
compiled `lax.scan` (`--conv=xla`, as the cpu preset), PyTorch one eager
step after another. Reported: examples per second of each and their ratio.
"""

import functools
import os

from absl import app
from absl import flags
import jax
import numpy as np

from benchmarks import common
from lottery_jax import train

_LENGTHS = flags.DEFINE_list('lengths', ['128', '500'], 'Token lengths.')
_CONV = flags.DEFINE_string('conv', 'xla', 'Conv1D.impl of lottery_jax.')
_STEPS = flags.DEFINE_integer('steps', 3, 'lottery_jax steps per timed scan.')
_BATCH = flags.DEFINE_integer('batch_size', 32, 'Batch size.')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed calls per median.')
_OUT = flags.DEFINE_string('out_dir', 'benchmark_results', 'JSON folder.')


def torch_step_fn(length: int, batch_size: int, threads: int):
  """A closure running one masked PyTorch train step on a fixed batch."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top

  torch.set_num_threads(threads)
  torch.manual_seed(0)
  kw = common.PAPER

  class TextCNN(nn.Module):

    def __init__(self):
      super().__init__()
      self.embedding = nn.Embedding(kw['vocab_size'], kw['embed_dim'])
      self.convs = nn.ModuleList(
          nn.Conv1d(kw['embed_dim'], kw['channels'], w) for w in kw['widths'])
      self.dropout = nn.Dropout(0.285)
      self.hidden = nn.Linear(len(kw['widths']) * kw['channels'],
                              kw['hidden'])
      self.output = nn.Linear(kw['hidden'], 2)

    def forward(self, tokens, lengths):
      x = self.embedding(tokens) * (tokens != 0).unsqueeze(-1)
      x = self.dropout(x).transpose(1, 2)  # [b, e, len]
      x = nn.functional.pad(x, (0, max(kw['widths']) - 1))
      starts = (torch.arange(tokens.shape[1])[None, :]
                < lengths.clamp(min=1)[:, None])
      pooled = []
      for conv in self.convs:
        h = torch.relu(conv(x)[:, :, :tokens.shape[1]])
        h = h.masked_fill(~starts[:, None, :], float('-inf'))
        pooled.append(h.max(dim=2).values)
      return self.output(torch.relu(self.hidden(torch.cat(pooled, 1))))

  model = TextCNN()
  masks = {name: (torch.rand_like(p) < 0.5).float()
           for name, p in model.named_parameters() if 'bias' not in name}
  with torch.no_grad():
    for name, p in model.named_parameters():
      if name in masks:
        p.mul_(masks[name])
  optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
  batch = common.random_batch(batch_size, length)
  tokens = torch.from_numpy(np.array(batch['tokens'])).long()
  lengths = torch.from_numpy(np.array(batch['length'])).long()
  labels = torch.from_numpy(np.array(batch['label'])).long()
  loss_fn = nn.CrossEntropyLoss()

  def step():
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(tokens, lengths), labels)
    loss.backward()
    for name, p in model.named_parameters():
      if name in masks:
        p.grad.mul_(masks[name])
    optimizer.step()
    with torch.no_grad():
      for name, p in model.named_parameters():
        if name in masks:
          p.mul_(masks[name])
    return loss.item()

  return step


def main(argv):
  del argv
  threads = os.cpu_count()
  model = common.paper_model(conv_impl=_CONV.value)
  tx = train.make_optimizer()
  rows, extra = [], {'threads': threads, 'conv': _CONV.value}
  for length in map(int, _LENGTHS.value):
    batches = common.stacked_batches(_STEPS.value, _BATCH.value, length)
    steps = common.in_scan(functools.partial(train.train_step, model=model,
                                             tx=tx), _STEPS.value)
    state = common.half_pruned_state(model, tx, length)
    rng = jax.random.key(0)
    t_jax = common.time_fn(lambda: steps(state, batches, rng),
                           _REPEATS.value) / _STEPS.value
    t_torch = common.time_fn(torch_step_fn(length, _BATCH.value, threads),
                             _REPEATS.value)
    ratio = t_torch / t_jax
    rows.append([length, 1e3 * t_jax, 1e3 * t_torch, _BATCH.value / t_jax,
                 _BATCH.value / t_torch, ratio])
    extra[f'speedup_{length}'] = ratio
  common.report(
      'torch_reference',
      f'Masked train step against PyTorch {_torch_version()} eager, paper '
      f'model, batch {_BATCH.value}, {threads} threads',
      ['tokens', 'lottery_jax ms', 'PyTorch ms', 'lottery_jax ex/s',
       'PyTorch ex/s', 'speed-up'], rows, extra, _OUT.value)


def _torch_version() -> str:
  import torch  # pylint: disable=g-import-not-at-top
  return torch.__version__


if __name__ == '__main__':
  app.run(main)
