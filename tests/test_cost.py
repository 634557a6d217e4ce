"""What the trainings cost (cost.py): convergence and worker seconds per
strategy and per domain, and the wall time per stage."""

from lottery_jax import cost


def _row(strategy, round_, seed, best, run, wall, experiment='tickets',
         source='home', target='home'):
  return dict(experiment=experiment, source=source, target=target,
              strategy=strategy, seed=seed, round=round_, sparsity=0.5,
              test_accuracy=0.8, best_epoch=best, epochs_run=run,
              wall_time=wall)


def test_effort_table_counts_convergence_and_worker_seconds():
  rows = ([_row('full_model', 0, s, 5, 8, 30.0) for s in range(2)]
          # Two RESET trainings: 10 s and 30 s for two seeds each; one seed
          # peaked at its last epoch, the limit of 10.
          + [_row('ticket_reset', 1, 0, 4, 7, 10.0),
             _row('ticket_reset', 1, 1, 10, 10, 10.0),
             _row('ticket_reset', 2, 0, 3, 6, 30.0),
             _row('ticket_reset', 2, 1, 5, 8, 30.0)]
          + [{**_row('ticket_random', 1, 0, 1, 1, 5.0), 'epochs_run': None}])
  lines = cost.effort_table(rows, max_epochs=10).splitlines()
  assert len(lines) == 4  # RANDOM's row predates epoch counts: left out.
  assert lines[2] == ('| tickets | FULL-MODEL | 1 | 2 | 8.0 | 2 (100%) | 0 '
                      '| 30 | 43% | 1.88 |')
  assert lines[3] == ('| tickets | TICKET-RESET | 2 | 4 | 7.8 | 3 (75%) | 1 '
                      '| 40 | 57% | 1.29 |')


def test_domain_table_sums_each_target_s_trainings():
  rows = ([_row('full_model', 0, s, 5, 8, 30.0) for s in range(2)]
          + [_row('ticket_reset', 1, s, 4, 6, 10.0) for s in range(2)]
          # Transfer into books: one training of two seeds, 60 s; its
          # source's name does not count.
          + [_row('masks_reset', 1, s, 2, 5, 60.0, experiment='transfer',
                  source='home', target='books') for s in range(2)]
          + [{**_row('ticket_random', 1, 0, 1, 1, 5.0), 'epochs_run': None}])
  lines = cost.domain_table(rows).splitlines()
  assert lines[2:] == [
      '| home | 2 | 0 | 28 | 40 | 40% | 1.43 |',
      '| books | 0 | 1 | 10 | 60 | 60% | 6.00 |',
      '| all | 2 | 1 | 38 | 100 | 100% | 2.63 |']


def test_stage_times_sum_the_invocations_with_their_notes():
  record = {'invocations': [
      {'started': '2026-12-06 01:19:19', 'stages': {'data': 6.0,
                                                    'trainings': 600.0},
       'note': 'beside the test suite'},
      {'started': '2026-12-06 03:22:09', 'stages': {'data': 0.0,
                                                    'trainings': 1200.0}}]}
  table, notes = cost.stage_times(record).split('\n\n')
  assert table.splitlines()[2:] == ['| data | 0.1 min (6 s) |',
                                    '| trainings | 30.0 min (1800 s) |',
                                    '| total | 30.1 min |']
  assert notes == ('Summed over 2 invocations of the command: a stage that '
                   'was interrupted and resumed counts each part. '
                   'Invocation 1 (2026-12-06 01:19:19): beside the test '
                   'suite.')
  one = {'invocations': record['invocations'][1:]}
  assert '\n\n' not in cost.stage_times(one)
