"""The data layer: review files in, encoded splits and divergences out.

  input_pipeline  readers of every review format (the only code that opens
                  review files)
  domains         the domain registry, layouts, dedup and balanced splits
  vocab           the shared SentencePiece vocabulary
  dataset         `prepare` (read, split, vocabulary, encode; cached stages)
                  and `load_split`
  download        fetching McAuley review files into a data directory
  divergence      Jensen-Shannon divergence between domains (Figure 1)

Nothing here imports the model, training or lottery modules. Submodules are
imported by name (`from lottery_jax.data import dataset`).
"""
