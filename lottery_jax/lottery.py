"""The lottery core: strategies, key streams and one IMP round (SPEC 5, 6).

Pure functions over [seeds]-stacked Flax parameter pytrees; no files, no
ConfigDicts. The run layer (`runs.py`, `tickets.py`) drives them round by
round and keeps what they return.

Strategies (`STRATEGIES`): where a round's init and masks come from.

  strategy        init                          masks
  full_model      theta_0                       all kept (round 0)
  ticket_reset    theta_0                       its own previous round, pruned
  ticket_random   a fresh draw per round        its own previous round, pruned
  ticket_reinit   a fresh draw per round        TICKET-RESET's of the round
  ticket_rewind   theta_k: round 0 after k      its own previous round, pruned
                  steps (`rewind_params`)
  random_pruning  theta_0                       random, TICKET-RESET's
                                                per-layer counts
  masks_reset     the source's theta_0          the source's TICKET-RESET
  masks_random    a fresh draw per round        the source's TICKET-RESET

TICKET-REINIT, TICKET-REWIND and RANDOM-PRUNING are the controls of Frankle
and Carbin (2019) and Frankle et al. (2020): whether the initial values, the
early trajectory or only the layers' sparsity make a ticket.

Randomness: seed s has the root key `jax.random.key(s)`; theta_0, every
fresh draw, every random mask and every training's shuffling and dropout
come from named `fold_in`s of it (`Stream`), so a seed's numbers never
depend on the other seeds. All but theta_0 also fold in the round and the
source and target domains (`domain_tag`), so no two domains or transfer
pairs share their noise. They are still not independent replicates:
theta_0 is one per seed, the same in every domain (MASKS-RESET starts from
the source's theta_0, which is the target's too), and the pairs from one
source train its masks.
"""

from __future__ import annotations

import dataclasses
import enum
import zlib
from typing import Any, Callable, Dict, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from lottery_jax import config as config_lib
from lottery_jax import fit as fit_lib
from lottery_jax import masks as masks_lib
from lottery_jax import models
from lottery_jax import pruning

PyTree = Any
FULL_MODEL = config_lib.FULL_MODEL


class Stream(enum.IntEnum):
  """The fold_in tags of a seed's root key, one per use of randomness."""
  THETA0 = 0          # theta_0 of tickets found in a domain
  # Each is then folded with what the comment says; 'domains' is
  # `domain_tag` of the source, then of the target.
  FRESH = 1           # TICKET-RANDOM's fresh draw: round, domains
  TRANSFER_FRESH = 2  # MASKS-RANDOM's fresh draw: round, domains
  SHUFFLE = 3         # a training's shuffling: strategy, round, domains
  DROPOUT = 4         # a training's dropout: strategy, round, domains
  REINIT_FRESH = 5    # TICKET-REINIT's fresh draw: round, domains
  RANDOM_MASKS = 6    # RANDOM-PRUNING's masks: round, domains, layer
  FEDERATED = 7       # federated clients: domains, then round and client
  FEDERATED_FRESH = 8  # the federated ticket_fresh draw: domains, round


@dataclasses.dataclass(frozen=True)
class Strategy:
  """How a strategy gets its init and masks (see the module docstring)."""
  name: str
  tag: int                    # the strategy's tag in its trainings' keys
  fresh: Optional[Stream]     # a fresh draw from this stream, or None
  masks: str                  # 'dense', 'own' (pruned), 'source' (transfer),
                              # 'reset' (TICKET-RESET's), 'random'
  rewind: bool = False        # start from theta_k (with fresh None)


STRATEGIES: Dict[str, Strategy] = {s.name: s for s in (
    Strategy(FULL_MODEL, 0, None, 'dense'),
    Strategy('ticket_reset', 1, None, 'own'),
    Strategy('ticket_random', 2, Stream.FRESH, 'own'),
    Strategy('ticket_reinit', 5, Stream.REINIT_FRESH, 'reset'),
    Strategy('ticket_rewind', 6, None, 'own', rewind=True),
    Strategy('random_pruning', 7, None, 'random'),
    Strategy('masks_reset', 3, None, 'source'),
    Strategy('masks_random', 4, Stream.TRANSFER_FRESH, 'source'),
)}
ORDER = tuple(STRATEGIES)  # The order of rows within a round.


def build_model(settings: config_lib.ModelSettings,
                vocab_size: int) -> models.TextCNN:
  """The TextCNN of `settings` over a vocabulary of `vocab_size` pieces."""
  return models.TextCNN(vocab_size=vocab_size, embed_dim=settings.embed_dim,
                        widths=tuple(settings.widths),
                        channels=settings.channels, hidden=settings.hidden,
                        dropout_rate=settings.dropout_rate,
                        embed_init_std=settings.embed_init_std,
                        conv_impl=settings.conv)


def seed_roots(seeds: Sequence[int]) -> jax.Array:
  """[seeds] root keys."""
  return jax.vmap(jax.random.key)(jnp.asarray(seeds))


def fold(keys: jax.Array, *tags: int) -> jax.Array:
  """`jax.random.fold_in` of every tag in turn, for every seed's key."""
  for tag in tags:
    keys = jax.vmap(lambda k, t=int(tag): jax.random.fold_in(k, t))(keys)
  return keys


def init_params(model, keys: jax.Array, max_length: int) -> PyTree:
  """[seeds] draws of the init distributions (SPEC.md section 3)."""
  tokens = jnp.zeros((1, max_length), jnp.int32)
  length = jnp.ones((1,), jnp.int32)
  return jax.vmap(lambda k: model.init(k, tokens, length)['params'])(keys)


def theta0(model, roots: jax.Array, max_length: int) -> PyTree:
  """[seeds] theta_0 of the tickets of a domain, as numpy."""
  return jax.tree.map(np.asarray, init_params(
      model, fold(roots, Stream.THETA0), max_length))


def domain_tag(domain: str) -> int:
  """A domain's fold_in tag: a checksum of its name, so that it does not
  depend on which other domains a run has."""
  return zlib.crc32(domain.encode()) & 0x7fffffff


def training_keys(roots: jax.Array, strategy: str, round_: int,
                  source: str = '', target: str = '') -> fit_lib.SeedKeys:
  """The [seeds] shuffling and dropout keys of one training: the streams
  SHUFFLE and DROPOUT of each root, folded with the strategy's tag, the
  round and the source and target domains (the same for tickets), so no
  two trainings of a seed share their numbers."""
  tags = (STRATEGIES[strategy].tag, round_, domain_tag(source),
          domain_tag(target))
  return fit_lib.SeedKeys(shuffle=fold(roots, Stream.SHUFFLE, *tags),
                          dropout=fold(roots, Stream.DROPOUT, *tags))


def mask_template(model, max_length: int) -> PyTree:
  """One seed's masks of `model` (all kept; None where never pruned)."""
  tokens = jnp.zeros((1, max_length), jnp.int32)
  shapes = jax.eval_shape(lambda: model.init(
      jax.random.key(0), tokens, jnp.ones((1,), jnp.int32))['params'])
  return masks_lib.make_masks(shapes)


def dense_masks(template: PyTree, num_seeds: int) -> PyTree:
  """[seeds]-stacked all-kept masks (round 0)."""
  return jax.tree.map(
      lambda m: None if m is None else np.ones((num_seeds,) + m.shape, bool),
      template, is_leaf=masks_lib.is_none)


def seed_slice(tree: PyTree, i: int) -> PyTree:
  """Seed i's tree from a [seeds]-stacked one (None leaves kept)."""
  return jax.tree.map(lambda x: None if x is None else x[i], tree,
                      is_leaf=masks_lib.is_none)


def _stack(trees):
  return jax.tree.map(lambda *xs: None if xs[0] is None else np.stack(xs),
                      *trees, is_leaf=masks_lib.is_none)


def prune_seeds(params: PyTree, masks: PyTree, fraction: float) -> PyTree:
  """`pruning.prune_by_magnitude` for every seed of [seeds]-stacked trees."""
  n = jax.tree.leaves(params)[0].shape[0]
  return _stack([pruning.prune_by_magnitude(seed_slice(params, i),
                                            seed_slice(masks, i), fraction)
                 for i in range(n)])


def random_masks(like: PyTree, roots: jax.Array, round_: int,
                 source: str = '', target: str = '') -> PyTree:
  """[seeds] uniformly random masks that keep exactly as many weights in
  every layer as `like` ([seeds]-stacked masks) does, per seed: the masks
  of RANDOM-PRUNING, a new draw every round."""
  keys = fold(roots, Stream.RANDOM_MASKS, round_, domain_tag(source),
              domain_tag(target))
  leaves, treedef = jax.tree.flatten(like, is_leaf=masks_lib.is_none)
  drawn = []
  for layer, mask in enumerate(leaves):
    if mask is None:
      drawn.append(None)
      continue
    mask = np.asarray(mask)
    per_seed = []
    for i, key in enumerate(fold(keys, layer)):
      order = np.asarray(jax.random.permutation(key, mask[i].size))
      keep = np.zeros(mask[i].size, bool)
      keep[order[:int(mask[i].sum())]] = True
      per_seed.append(keep.reshape(mask[i].shape))
    drawn.append(np.stack(per_seed))
  return jax.tree.unflatten(treedef, drawn)


def round_init(strategy: str, round_: int, roots: jax.Array, theta_0: PyTree,
               model, max_length: int, source: str = '', target: str = '',
               rewind: Optional[PyTree] = None) -> PyTree:
  """The [seeds] params a strategy's round starts from (before masking)."""
  s = STRATEGIES[strategy]
  if s.rewind:
    if rewind is None:
      raise ValueError(f'{strategy} needs the rewound params (theta_k)')
    return rewind
  if s.fresh is None:
    return theta_0
  return init_params(model, fold(roots, s.fresh, round_, domain_tag(source),
                                 domain_tag(target)), max_length)


FitFn = Callable[..., fit_lib.FitResult]


def imp_round(fit: FitFn, strategy: str, round_: int, masks: PyTree, *,
              roots: jax.Array, theta_0: PyTree, model, max_length: int,
              source: str = '', target: str = '',
              rewind: Optional[PyTree] = None,
              on_epoch=None) -> fit_lib.FitResult:
  """Trains one round of one strategy from its init, restricted to `masks`.

  Args:
    fit: trains [seeds] params, ``fit(init, masks, keys, on_epoch=...,
      schedule_seed=...)`` (a `fit.FitProgram.fit` bound to the data).
    strategy: a key of `STRATEGIES`.
    round_: the IMP round (0 for FULL-MODEL).
    masks: [seeds]-stacked masks of the round (see `STRATEGIES`).
    roots: [seeds] root keys.
    theta_0: [seeds] theta_0 (the source domain's, for transfer).
    model: the module.
    max_length: the padded length (for fresh draws).
    source, target: the domains (the same for tickets), folded into the
      keys of the training and of fresh draws.
    rewind: [seeds] theta_k, for TICKET-REWIND.
    on_epoch: passed to `fit`.

  Returns:
    The FitResult of every seed.
  """
  init = round_init(strategy, round_, roots, theta_0, model, max_length,
                    source, target, rewind)
  init = masks_lib.apply_masks(init, masks)
  return fit(init, masks,
             training_keys(roots, strategy, round_, source, target),
             on_epoch=on_epoch,
             schedule_seed=1000 * STRATEGIES[strategy].tag + round_)


def rewind_params(program: fit_lib.FitProgram, roots: jax.Array,
                  theta_0: PyTree, masks: PyTree, train, steps: int,
                  domain: str) -> PyTree:
  """[seeds] theta_k: FULL-MODEL's round-0 params after its first `steps`
  training steps, replayed with round 0's keys and batch order (TICKET-
  REWIND's init; Frankle et al. 2020's late rewinding)."""
  return jax.tree.map(np.asarray, program.train_steps(
      masks_lib.apply_masks(theta_0, masks), masks,
      training_keys(roots, FULL_MODEL, 0, domain, domain), train, steps,
      schedule_seed=1000 * STRATEGIES[FULL_MODEL].tag))
