"""The data layer: review files in, encoded splits and divergences out.

  input_pipeline  `read_reviews`: every review format, detected and read;
                  with the four modules below, the only code that opens
                  review files
    reviews       the `Review` record, text cleaning, skip reasons, errors
    file_streams  plain or gzip byte streams: lines, tagged blocks, skips
    file_formats  format detection and the record parser of each format
    tfds_reader   prepared TFDS amazon_us_reviews directories
  domains         the domain registry, layouts, dedup and balanced splits
  vocab           the shared SentencePiece vocabulary
  dataset         `prepare` (read, split, vocabulary, encode; cached stages)
                  and `load_split`
  data_report     the data report of `prepare` and its plain-text table
  download        fetching McAuley review files into a data directory
  http_lines      the lines of a remote file, read over HTTP as they arrive
  divergence      Jensen-Shannon divergence between domains (Figure 1)

Below it are only `config` and `batching`: nothing here imports the model,
training or lottery modules. Submodules are imported by name
(`from lottery_jax.data import dataset`).
"""
