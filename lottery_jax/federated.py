"""Federated "sparsify and transfer" (paper section 7, SPEC.md section 8).

A server holds a ticket (masks found in its own domain); clients hold
disjoint parts of another domain's training split and re-train only the
ticket's surviving weights with federated averaging, so only those weights
travel. The pieces, pure functions but for the host loop `simulate`:

  `split_clients`   disjoint client parts of a split: IID, or label-skewed
                    (Dirichlet over labels with concentration alpha)
  `stack_clients`   the parts as one [clients, n_max, ...] device array
  `sample_clients`  the clients of a round, the same for every variant
  `client_batches`  a client's local epochs as rows of batch indices
  `client_update`   one client's local training (the library's masked step
                    and optimiser, so pruned weights stay exactly zero)
  `fedavg`          the example-weighted mean of the clients' params
  `Program`         one communication round, compiled once: the sampled
                    clients vmapped (or mapped one at a time on a CPU), the
                    seeds mapped on top (`fit.over_seeds`)
  `simulate`        the rounds on the host: test accuracy per round and the
                    bytes of the encoded messages (`codec`), down and up

Bytes are those of the real payloads: a client receives the ticket's mask
once, as a packed bitmap, the first time it is sampled, then every round
the surviving values; it sends back its surviving values. Dense FedAvg
sends every value both ways.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Dict, List, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from lottery_jax import batching
from lottery_jax import codec
from lottery_jax import fit as fit_lib
from lottery_jax import masks as masks_lib
from lottery_jax import train as train_lib

PyTree = Any


class FederatedError(ValueError):
  """A federated setting that cannot run; the message is one line."""


# ---------------------------------------------------------------------------
# Clients' data.


def split_clients(labels: np.ndarray, num_clients: int, seed: int,
                  alpha: Optional[float] = None,
                  min_size: int = 1, tries: int = 100) -> List[np.ndarray]:
  """Disjoint parts of a split's rows that together cover it.

  Args:
    labels: [n] the split's labels.
    num_clients: K.
    seed: the split is a pure function of `labels`, K, `seed` and `alpha`.
    alpha: None for IID (a random permutation cut into K nearly equal
      parts); else label-skewed: each label's rows are divided among the
      clients in proportions drawn from Dirichlet(alpha, ..., alpha), so a
      small alpha gives each client few labels.
    min_size: the fewest rows a client may hold; Dirichlet draws are
      repeated (up to `tries` times) until every client has that many.

  Returns:
    K sorted int arrays of row indices.

  Raises:
    FederatedError: K < 1, more clients than rows, alpha <= 0, or no draw
      in `tries` gave every client `min_size` rows.
  """
  n = len(labels)
  if num_clients < 1 or num_clients * min_size > n:
    raise FederatedError(
        f'federated.clients={num_clients}: needs 1 to {n // max(min_size, 1)}'
        f' clients for a split of {n} reviews')
  if alpha is not None and not alpha > 0:
    raise FederatedError(f'federated.alpha={alpha}: must be > 0 (or None '
                         'for IID clients)')
  rng = np.random.default_rng(seed)
  if alpha is None:
    return [np.sort(p) for p in np.array_split(rng.permutation(n),
                                               num_clients)]
  for _ in range(tries):
    parts = [[] for _ in range(num_clients)]
    for label in np.unique(labels):
      rows = rng.permutation(np.flatnonzero(labels == label))
      shares = rng.dirichlet(np.full(num_clients, float(alpha)))
      cuts = (np.cumsum(shares)[:-1] * len(rows)).astype(int)
      for part, piece in zip(parts, np.split(rows, cuts)):
        part.append(piece)
    parts = [np.sort(np.concatenate(p)) for p in parts]
    if min(len(p) for p in parts) >= min_size:
      return parts
  raise FederatedError(
      f'federated.alpha={alpha}: no Dirichlet draw in {tries} gave each of '
      f'{num_clients} clients {min_size} reviews; raise alpha or lower '
      'federated.clients')


def stack_clients(split: Dict[str, np.ndarray],
                  parts: Sequence[np.ndarray]) -> Dict[str, jax.Array]:
  """The clients' rows of `split` stacked on a leading [clients] axis,
  padded to the largest part (padding rows are never drawn); 'count' [K]
  holds each client's number of rows."""
  n_max = max(len(p) for p in parts)
  stacked = {}
  for key, values in split.items():
    out = np.zeros((len(parts), n_max) + values.shape[1:], values.dtype)
    for i, p in enumerate(parts):
      out[i, :len(p)] = values[p]
    stacked[key] = jnp.asarray(out)
  stacked['count'] = jnp.asarray([len(p) for p in parts], jnp.int32)
  return stacked


def sample_clients(num_clients: int, per_round: int, seed: int,
                   round_: int) -> np.ndarray:
  """The `per_round` clients of a communication round (sorted, without
  replacement): a pure function of (seed, round), so every variant of a
  study trains the same clients in the same round.

  Raises:
    FederatedError: more clients sampled than exist.
  """
  if not 1 <= per_round <= num_clients:
    raise FederatedError(
        f'federated.per_round={per_round}: must be between 1 and '
        f'federated.clients={num_clients}')
  rng = np.random.default_rng([seed, round_])
  return np.sort(rng.choice(num_clients, per_round, replace=False))


# ---------------------------------------------------------------------------
# One client, then one round.


def max_local_steps(n_max: int, epochs: int, batch_size: int) -> int:
  """Steps of the largest client's `epochs` local epochs."""
  return -(-epochs * n_max // batch_size)


def client_batches(key: jax.Array, count: jax.Array, n_max: int,
                   epochs: int, batch_size: int) -> jax.Array:
  """A client's `epochs` local epochs as [steps, batch_size] row indices.

  Each epoch is a fresh permutation of the client's `count` rows; the
  epochs follow each other as one stream cut into batches (a batch may
  span two epochs), and the stream's end is padded with -1 (rows of weight
  0). `steps` is `max_local_steps(n_max, ...)` for every client, so that
  clients of different sizes run in one vmapped program: a client's rows
  beyond its own stream are all -1, and `client_update` skips those steps.
  """
  noise = jax.random.uniform(key, (epochs, n_max))
  # Padding rows sort last: the first `count` entries are a permutation.
  perms = jnp.argsort(jnp.where(jnp.arange(n_max) < count, noise, 2.0),
                      axis=1)
  steps = max_local_steps(n_max, epochs, batch_size)
  position = jnp.arange(steps * batch_size)
  safe = jnp.maximum(count, 1)
  epoch = jnp.minimum(position // safe, epochs - 1)
  rows = perms[epoch, position % safe]
  rows = jnp.where(position < epochs * count, rows, -1)
  return rows.reshape(steps, batch_size)


def client_update(params: PyTree, masks: PyTree, data: Dict[str, jax.Array],
                  key: jax.Array, *, model, tx, epochs: int,
                  batch_size: int) -> PyTree:
  """One client's params after `epochs` local epochs from `params`.

  The library's masked train step and optimiser (a fresh optimiser state
  each round), so pruned weights stay exactly zero. Steps past the client's
  own epochs (see `client_batches`) leave the state unchanged.

  Args:
    params, masks: the global params and the ticket's masks.
    data: one client's {'tokens' [n_max, len], 'length', 'label'} and its
      'count'.
    key: the client's key of this round (shuffling and dropout).
    model, tx: the module and a `train.make_optimizer` optimiser.
    epochs, batch_size: local epochs and batch size.
  """
  shuffle_key, dropout_key = jax.random.split(key)
  rows = {k: v for k, v in data.items() if k != 'count'}
  n_max = rows['label'].shape[0]
  batches = client_batches(shuffle_key, data['count'], n_max, epochs,
                           batch_size)
  state = train_lib.TrainState.create(params, masks, tx)

  def body(state, idx):
    new, _ = train_lib.train_step(state, batching.gather(rows, idx),
                                  jax.random.fold_in(dropout_key, state.step),
                                  model=model, tx=tx)
    live = idx[0] >= 0  # A stream's -1 padding starts mid-batch at most.
    return jax.tree.map(lambda a, b: jnp.where(live, a, b), new, state), None

  state, _ = jax.lax.scan(body, state, batches)
  return state.params


def fedavg(client_params: PyTree, weights: jax.Array,
           masks: PyTree) -> PyTree:
  """The mean of [clients]-stacked params weighted by `weights` (examples),
  over surviving weights: pruned weights are zero in every client and stay
  exactly zero."""
  w = weights.astype(jnp.float32) / jnp.sum(weights)
  mean = jax.tree.map(lambda p: jnp.tensordot(w, p, axes=1), client_params)
  return masks_lib.apply_masks(mean, masks)


def fed_round(params: PyTree, masks: PyTree, data: Dict[str, jax.Array],
              keys: jax.Array, *, model, tx, epochs: int, batch_size: int,
              client_chunk: int = 0) -> tuple[PyTree, PyTree]:
  """One communication round of one seed: the sampled clients' updates
  over the leading [clients] axis of `data` and `keys`, in one program
  (vmapped with client_chunk 0; k at a time with k >= 1, faster on a CPU,
  as `fit.over_seeds` maps seeds), and their FedAvg. Returns (the new
  global params, the [clients] client params)."""
  update = functools.partial(client_update, model=model, tx=tx,
                             epochs=epochs, batch_size=batch_size)
  clients = fit_lib.over_seeds(update, (None, None, 0, 0), client_chunk)(
      params, masks, data, keys)
  return fedavg(clients, data['count'], masks), clients


@dataclasses.dataclass(frozen=True)
class Settings:
  """The rounds of a federated simulation (`federated_study.round_settings`
  makes them from ``config.federated``)."""
  clients: int = 10  # K
  per_round: int = 5  # C, sampled each round
  rounds: int = 30  # communication rounds
  local_epochs: int = 1  # E
  batch_size: int = 32
  eval_batch_size: int = 256
  dtype: str = 'float32'  # values on the wire: 'float32' or 'bfloat16'
  # Clients per batch of the client map: 0 vmaps them (accelerators), 1
  # runs them one at a time in the same program (a CPU; see `fed_round`).
  client_chunk: int = 0


class Program:
  """The compiled round and test evaluation of one model and optimiser,
  mapped over a leading [seeds] axis (`fit.over_seeds`, `seed_chunk`)."""

  def __init__(self, model, tx, settings: Settings, seed_chunk: int = 0):
    self.settings = settings
    self.compiles = 0  # Of the round program (a new data shape compiles).
    round_fn = functools.partial(
        fed_round, model=model, tx=tx, epochs=settings.local_epochs,
        batch_size=settings.batch_size, client_chunk=settings.client_chunk)
    test_fn = functools.partial(fit_lib.evaluate, model=model,
                                batch_size=settings.eval_batch_size)
    self.round = jax.jit(self._counted(fit_lib.over_seeds(
        round_fn, (0, 0, 0, 0), seed_chunk)))
    self.test = jax.jit(fit_lib.over_seeds(test_fn, (0, None), seed_chunk))

  def _counted(self, fn):
    def traced(*args):
      self.compiles += 1  # Runs only while jax traces, i.e. compiles.
      return fn(*args)
    return traced


def client_keys(root: jax.Array, round_: int,
                clients: np.ndarray) -> jax.Array:
  """[sampled] keys of a round's clients from one seed's root: a client's
  key depends on (seed, round, client) only, the same in every variant."""
  key = jax.random.fold_in(root, round_)
  return jax.vmap(lambda c: jax.random.fold_in(key, c))(jnp.asarray(clients))


class Wire:
  """One seed's messages, round after round: the bytes of each encoded
  payload (`codec`), and which clients already hold the ticket's mask."""

  def __init__(self, masks: Optional[PyTree], dtype: str = 'float32'):
    self.masks, self.dtype = masks, dtype  # masks None: dense FedAvg.
    self.mask_bytes = 0 if masks is None else len(codec.encode_masks(masks))
    self.has_mask: set = set()
    self.total = 0

  def round_bytes(self, global_params: PyTree, client_params: List[PyTree],
                  sampled: Sequence[int]) -> tuple[int, int]:
    """(bytes down, bytes up) of a round: the global values to every
    sampled client (one broadcast payload) and the mask to those that have
    not had it, then each client's values back."""
    broadcast = len(codec.encode_values(global_params, self.masks,
                                        self.dtype))
    new = {int(c) for c in sampled} - self.has_mask
    self.has_mask |= new
    down = broadcast * len(sampled) + self.mask_bytes * len(new)
    up = sum(len(codec.encode_values(p, self.masks, self.dtype))
             for p in client_params)
    self.total += down + up
    return down, up


def simulate(program: Program, params: PyTree, masks: Optional[PyTree],
             clients: Dict[str, jax.Array], test: Dict[str, np.ndarray],
             seeds: Sequence[int], roots: jax.Array,
             on_round: Optional[Callable[[int, List[Dict[str, Any]], PyTree],
                                         None]] = None
             ) -> List[Dict[str, Any]]:
  """Runs every communication round of one variant.

  Args:
    program: the compiled round (`Program`).
    params: [seeds]-stacked initial global params.
    masks: [seeds]-stacked ticket masks, or None for dense FedAvg.
    clients: every client's data (`stack_clients`).
    test: the server's test split.
    seeds: the seeds' numbers (client sampling depends on them).
    roots: [seeds] keys, one per seed (`client_keys`).
    on_round: called after every round with (round, its rows, the
      [seeds] global params).

  Returns:
    One row per seed and round (from 1): 'seed', 'round', 'test_accuracy',
    'bytes_down', 'bytes_up' (this round's encoded payloads, summed over the
    sampled clients) and 'bytes_total' (cumulative, both directions).
  """
  s = program.settings
  wires = [Wire(None if masks is None else _host(masks, i), s.dtype)
           for i in range(len(seeds))]
  if masks is None:
    masks = jax.vmap(masks_lib.make_masks)(params)
  params = masks_lib.apply_masks(params, masks)
  test = batching.bucketize(test)
  num_clients = int(clients['count'].shape[0])
  rows = []
  for r in range(1, s.rounds + 1):
    sampled = np.stack([sample_clients(num_clients, s.per_round, seed, r)
                        for seed in seeds])
    keys = jnp.stack([client_keys(root, r, c)
                      for root, c in zip(roots, sampled)])
    before = params
    params, each = program.round(
        params, masks, jax.tree.map(lambda x: x[sampled], clients), keys)
    accuracy = np.asarray(program.test(params, test))
    for i, seed in enumerate(seeds):
      returned = [_host(each, i, j) for j in range(len(sampled[i]))]
      down, up = wires[i].round_bytes(_host(before, i), returned, sampled[i])
      rows.append({'seed': int(seed), 'round': r,
                   'test_accuracy': float(accuracy[i]), 'bytes_down': down,
                   'bytes_up': up, 'bytes_total': wires[i].total})
    if on_round is not None:
      on_round(r, rows[-len(seeds):], params)
  return rows


def _host(tree: PyTree, *index: int) -> PyTree:
  """tree[index] of every leaf, as numpy (None leaves kept)."""
  return jax.tree.map(lambda x: None if x is None else np.asarray(x[index]),
                      tree, is_leaf=masks_lib.is_none)
