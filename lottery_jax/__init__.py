"""lottery_jax: lottery tickets under distribution shift, in JAX and Flax.

The layers, bottom up (a module imports only from its own layer or those
before it; tests/test_layout.py checks it):

  files, affinity, config,      atomic writes; which cores the threads run
  federated_config, curves      on; the schema, checks, settings; training
                                curves (TensorBoard, JSONL)
  batching                      padding, length buckets, epoch schedules
  data/                         review files -> splits, vocabulary, encodings
  baselines                     the linear baseline (TF-IDF)
  models, masks, pruning        the TextCNN; mask pytrees; exact top-k pruning
  train, sharding, fit          masked steps; seeds over devices; the fit loop
  lottery                       strategies, key streams, one IMP round
  checkpoints, results, progress, codec
                                rounds on disk; rows; the display; the bytes
                                of federated messages and ticket files
  runs, tickets, federated, flower
                                run directories, resuming; the experiments;
                                federated re-training of a ticket (also as a
                                Flower app)
  study, engine, federated_study, flower_study, findings, phase, failures,
  cost, report, plots           the whole study, its jobs (in order or as Ray
                                tasks) and its outputs
"""

from lottery_jax import batching
from lottery_jax import checkpoints
from lottery_jax import codec
from lottery_jax import config
from lottery_jax import curves
from lottery_jax import federated
from lottery_jax import files
from lottery_jax import fit
from lottery_jax import lottery
from lottery_jax import masks
from lottery_jax import models
from lottery_jax import progress
from lottery_jax import pruning
from lottery_jax import results
from lottery_jax import runs
from lottery_jax import study
from lottery_jax import tickets
from lottery_jax import train
from lottery_jax.config import get_config
from lottery_jax.config import settings
from lottery_jax.data import dataset
from lottery_jax.data import divergence
from lottery_jax.data import domains
from lottery_jax.data import input_pipeline
from lottery_jax.data import vocab
from lottery_jax.data.dataset import load_split
from lottery_jax.data.dataset import prepare
from lottery_jax.data.input_pipeline import read_reviews
from lottery_jax.fit import FitProgram
from lottery_jax.masks import apply_masks
from lottery_jax.masks import make_masks
from lottery_jax.models import TextCNN
from lottery_jax.pruning import prune_by_magnitude
from lottery_jax.tickets import find_tickets
from lottery_jax.tickets import transfer_tickets
from lottery_jax.train import make_optimizer
from lottery_jax.train import train_step

__all__ = [
    'batching', 'checkpoints', 'config', 'curves', 'dataset', 'divergence',
    'domains', 'files', 'fit', 'input_pipeline', 'lottery', 'masks',
    'models', 'progress', 'pruning', 'results', 'runs', 'study', 'tickets',
    'train', 'vocab',
    'FitProgram', 'TextCNN', 'apply_masks', 'find_tickets', 'get_config',
    'load_split', 'make_masks', 'make_optimizer', 'prepare',
    'prune_by_magnitude', 'read_reviews', 'settings', 'train_step',
    'transfer_tickets',
]
