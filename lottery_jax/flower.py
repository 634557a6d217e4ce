"""Federated sparsify-and-transfer on Flower (`flwr`, the `flower` extra).

The same client update, FedAvg and codec as the in-library simulation
(`federated`), as a Flower ClientApp and a Flower strategy, so that a ticket
re-trained here in Flower's simulation engine runs unchanged on a Flower
deployment across machines:

  `client_app`  a ClientApp: its node's part of the target's training split
                (node_config 'partition-id' of a `ClientJob`'s clients), the
                ticket's mask kept in the node's state once received,
                `federated.client_update` on the decoded params, the
                surviving values sent back
  `TicketFedAvg` a Flower strategy: samples the round's clients as
                `federated.sample_clients` does (so both agree), sends the
                mask once and the surviving values every round, and averages
                the returned params weighted by examples (`federated.fedavg`)

Every payload is one raw uint8 Array holding the codec's bytes, so the
bytes Flower carries are the codec's (`TicketFedAvg.bytes_down`,
`bytes_up`). One seed per strategy; seeds run as separate Flower runs.
`flower_study` builds both from a preset for the Flower App
(experiments/flower_app, `flwr run`).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

from flwr.app import Array
from flwr.app import ArrayRecord
from flwr.app import ConfigRecord
from flwr.app import Context
from flwr.app import Message
from flwr.app import MessageType
from flwr.app import MetricRecord
from flwr.app import RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy
import jax
import jax.numpy as jnp
import numpy as np

from lottery_jax import codec
from lottery_jax import federated
from lottery_jax import masks as masks_lib

PyTree = Any


def to_array(payload: bytes) -> Array:
  """A codec payload as a raw Flower Array: its data are the payload."""
  return Array(dtype='uint8', shape=(len(payload),), stype='raw',
               data=payload)


def carried(record: ArrayRecord) -> int:
  """Bytes of the Arrays of a record (what travels, headers aside)."""
  return sum(len(a.data) for a in record.values())


@dataclasses.dataclass(frozen=True)
class ClientJob:
  """What a node needs to train: every client's rows
  (`federated.stack_clients`, as numpy; the node uses its 'partition-id'
  row), one seed's mask and params pytrees (shapes and None leaves) to
  decode payloads with, the jitted `federated.client_update` with its
  model, optimiser, epochs and batch size bound, the seed's key
  (`federated.client_keys`) and the values' dtype on the wire."""
  data: Dict[str, np.ndarray]
  masks_template: PyTree
  params_template: PyTree
  update: Callable[..., PyTree]
  root: jax.Array
  dtype: str = 'float32'


def client_app(job: Callable[[Context], ClientJob]) -> ClientApp:
  """A ClientApp whose node trains on its row of ``job(context).data``
  (`job` is called for every message: cache what it builds)."""
  app = ClientApp()

  @app.query()
  def query(msg: Message, context: Context) -> Message:
    part = int(context.node_config['partition-id'])
    return Message(RecordDict({'node': ConfigRecord({'partition': part})}),
                   reply_to=msg)

  @app.train()
  def train(msg: Message, context: Context) -> Message:
    return _train(job(context), msg, context)

  return app


def _train(job: ClientJob, msg: Message, context: Context) -> Message:
  """A node's local update: decode the global values (and the mask, kept
  in the node's state the first time it comes), train, send the surviving
  values back with the node's example count."""
  part = int(context.node_config['partition-id'])
  arrays = msg.content['arrays']
  if 'mask' in arrays:  # The first round this node is sampled.
    context.state['ticket'] = ArrayRecord({'mask': arrays['mask']})
  masks = (codec.decode_masks(context.state['ticket']['mask'].data,
                              job.masks_template)
           if 'ticket' in context.state else None)
  params = codec.decode_values(arrays['values'].data, masks,
                               job.params_template, job.dtype)
  round_ = int(msg.content['config']['round'])
  key = federated.client_keys(job.root, round_, np.array([part]))[0]
  mine = jax.tree.map(lambda x: jnp.asarray(x[part]), job.data)
  full = masks_lib.make_masks(params) if masks is None else masks
  new = jax.tree.map(np.asarray, job.update(params, full, mine, key))
  reply = RecordDict({
      'arrays': ArrayRecord({'values': to_array(
          codec.encode_values(new, masks, job.dtype))}),
      'metrics': MetricRecord({'num-examples': int(job.data['count'][part])})})
  return Message(reply, reply_to=msg)


class TicketFedAvg(Strategy):
  """FedAvg of a ticket's surviving weights over Flower messages."""

  def __init__(self, masks: Optional[PyTree], params_template: PyTree,
               num_clients: int, per_round: int, seed: int,
               dtype: str = 'float32'):
    self.masks, self.template = masks, params_template
    self.num_clients, self.per_round, self.seed = num_clients, per_round, seed
    self.dtype = dtype
    self.mask_payload = None if masks is None else codec.encode_masks(masks)
    self.nodes: Dict[int, int] = {}  # partition -> node id
    self.has_mask: set = set()
    self.bytes_down: List[int] = []
    self.bytes_up: List[int] = []
    self.params: Optional[PyTree] = None

  def summary(self) -> None:
    pass

  def _find_nodes(self, grid: Grid, timeout: float = 600.0) -> None:
    """Waits for every client's node, then asks each its partition: the
    map that sampling needs."""
    start = time.time()
    while len(ids := list(grid.get_node_ids())) < self.num_clients:
      if time.time() - start > timeout:
        raise RuntimeError(f'{len(ids)} of {self.num_clients} Flower nodes '
                           f'connected after {timeout:.0f} s')
      time.sleep(0.2)
    replies = grid.send_and_receive([
        Message(RecordDict(), message_type=MessageType.QUERY,
                dst_node_id=node) for node in ids])
    for reply in replies:
      self.nodes[int(reply.content['node']['partition'])] = (
          reply.metadata.src_node_id)

  def configure_train(self, server_round: int, arrays: ArrayRecord,
                      config: ConfigRecord, grid: Grid
                      ) -> Iterable[Message]:
    if not self.nodes:
      self._find_nodes(grid)
    sampled = federated.sample_clients(self.num_clients, self.per_round,
                                       self.seed, server_round)
    messages, sent = [], 0
    for part in sampled:
      record = {'values': arrays['values']}
      if self.mask_payload is not None and part not in self.has_mask:
        record['mask'] = to_array(self.mask_payload)
        self.has_mask.add(int(part))
      record = ArrayRecord(record)
      sent += carried(record)
      messages.append(Message(
          RecordDict({'arrays': record,
                      'config': ConfigRecord({'round': server_round})}),
          message_type=MessageType.TRAIN, dst_node_id=self.nodes[int(part)]))
    self.bytes_down.append(sent)
    return messages

  def aggregate_train(self, server_round: int, replies: Iterable[Message]):
    replies = list(replies)
    errors = [r.error for r in replies if r.has_error()]
    if errors:
      raise RuntimeError(f'round {server_round}: a client failed: '
                         f'{errors[0].reason}')
    params = [codec.decode_values(r.content['arrays']['values'].data,
                                  self.masks, self.template, self.dtype)
              for r in replies]
    weights = jnp.asarray([r.content['metrics']['num-examples']
                           for r in replies])
    self.bytes_up.append(sum(carried(r.content['arrays']) for r in replies))
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *params)
    full = (masks_lib.make_masks(self.template) if self.masks is None
            else self.masks)
    self.params = jax.tree.map(np.asarray,
                               federated.fedavg(stacked, weights, full))
    values = codec.encode_values(self.params, self.masks, self.dtype)
    return ArrayRecord({'values': to_array(values)}), None

  def configure_evaluate(self, server_round, arrays, config, grid):
    return []

  def aggregate_evaluate(self, server_round, replies):
    return None

  def initial_arrays(self, params: PyTree) -> ArrayRecord:
    """The global params of round 0, encoded."""
    return ArrayRecord({'values': to_array(codec.encode_values(
        params, self.masks, self.dtype))})
