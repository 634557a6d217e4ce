"""lottery_jax: lottery tickets under distribution shift, in JAX and Flax."""

from lottery_jax import checkpoints
from lottery_jax import files
from lottery_jax import dataset
from lottery_jax import divergence
from lottery_jax import domains
from lottery_jax import input_pipeline
from lottery_jax import lottery
from lottery_jax import masks
from lottery_jax import models
from lottery_jax import pruning
from lottery_jax import results
from lottery_jax import study
from lottery_jax import train
from lottery_jax import vocab
from lottery_jax.dataset import load_split
from lottery_jax.dataset import prepare
from lottery_jax.input_pipeline import read_reviews
from lottery_jax.lottery import find_tickets
from lottery_jax.lottery import transfer_tickets
from lottery_jax.masks import apply_masks
from lottery_jax.masks import make_masks
from lottery_jax.models import TextCNN
from lottery_jax.pruning import prune_by_magnitude
from lottery_jax.train import fit_seeds
from lottery_jax.train import make_optimizer
from lottery_jax.train import train_step

__all__ = [
    'checkpoints', 'dataset', 'divergence', 'domains', 'files',
    'input_pipeline',
    'lottery', 'masks', 'models', 'pruning', 'results', 'study', 'train',
    'vocab',
    'TextCNN', 'apply_masks', 'find_tickets', 'fit_seeds', 'load_split',
    'make_masks', 'make_optimizer', 'prepare', 'prune_by_magnitude',
    'read_reviews', 'train_step', 'transfer_tickets',
]
