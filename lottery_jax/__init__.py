"""lottery_jax: lottery tickets under distribution shift, in JAX and Flax."""

from lottery_jax import dataset
from lottery_jax import divergence
from lottery_jax import domains
from lottery_jax import input_pipeline
from lottery_jax import vocab
from lottery_jax.dataset import load_split
from lottery_jax.dataset import prepare
from lottery_jax.input_pipeline import read_reviews

__all__ = [
    'dataset', 'divergence', 'domains', 'input_pipeline', 'vocab',
    'load_split', 'prepare', 'read_reviews',
]
