"""How fast the pyarrow reader packs training blocks, plain and with balancing and augmentation.

One thread, one epoch of the train split per mode, best of --repeats (the first pass also warms the
file cache). A GPU step needs ~0.65M tokens/s (base preset on an H100); the reader runs in a
prefetch thread beside it. With --ray, also one pass of the Ray Data pipeline (read_parquet ->
map_batches(pack_batch), augmented, local Ray on --ray-cpus) without and with the EpochClock that
tells the packing tasks the epoch: what asking the clock once per batch costs.

  symcorpus tokenize --corpus data/demo --out data/demo_remi --tokenizer remi   # REMI shards first
  .venv/bin/python -P bench/data_rate.py [--tokens data/demo_remi] [--block-size 1024] [--repeats 3] [--ray]

Augmentation shifts REMI's pitch and tempo tokens, so the shards must be REMI's (the demo's own
`data/demo_tokens` are ABC's).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from symcorpus.tokenizers import load_tokenizer
from symcorpus.tokenizers.augment import Augmentation
from symcorpus.train.balance import repeat_factors
from symcorpus.train.data import SequenceFormat, iter_blocks, ray_dataset, shard_files, start_epoch_clock


def ray_rates(files, fmt: SequenceFormat, augment: Augmentation, block_size: int, repeats: int, cpus: int,
              pad_id: int) -> dict[str, float]:
    """Tokens/s of one Ray Data pass, without and with an EpochClock, best of `repeats` each."""
    import ray
    import ray.data

    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    clock = start_epoch_clock()
    datasets = {"ray data, augmented": ray_dataset(files, fmt, block_size, seed=0, augment=augment),
                "ray data, augmented, epoch clock": ray_dataset(files, fmt, block_size, seed=0, augment=augment,
                                                                clock=clock)}
    rates = dict.fromkeys(datasets, 0.0)
    for _ in range(repeats):  # the two pipelines take turns, so a busy moment does not favour one
        for name, ds in datasets.items():
            t0 = time.perf_counter()
            n = sum(int(np.count_nonzero(b["block"][:, 1:] != pad_id)) for b in ds.iter_batches(batch_format="numpy"))
            rates[name] = max(rates[name], n / (time.perf_counter() - t0))
    ray.shutdown()
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", default="data/demo_remi")
    ap.add_argument("--block-size", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ray", action="store_true", help="also time the Ray Data pipeline, with and without the clock")
    ap.add_argument("--ray-cpus", type=int, default=2)
    args = ap.parse_args()
    tok = load_tokenizer(args.tokens)
    if tok.kind != "remi":
        raise SystemExit(f"{args.tokens} holds {tok.kind!r} tokens; this benchmark packs REMI shards: "
                         "symcorpus tokenize --corpus data/demo --out data/demo_remi --tokenizer remi")
    fmt = SequenceFormat.of(tok)
    files = shard_files(args.tokens, "train")
    augment = Augmentation.of(tok, 5, 8)
    modes = {
        "plain": {},
        "augmented (5 semitones, 8 tempo bins)": {"augment": augment},
        "augmented + instruments balanced": {
            "augment": augment,
            "repeats": repeat_factors(files, tok.conditions, "instruments", 0.25, 8.0)},
    }
    rates = {}
    for name, extra in modes.items():
        best = 0.0
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            n = sum(int(np.count_nonzero(b[1:] != fmt.pad_id)) for b in
                    iter_blocks(files, fmt, args.block_size, epoch=0, seed=0, **extra))
            best = max(best, n / (time.perf_counter() - t0))
        rates[name] = best
        print(f"{name:40s} {best / 1e6:6.2f}M tokens/s  ({best / rates['plain']:.2f}x plain)", flush=True)
    if args.ray:
        ray = ray_rates(files, fmt, augment, args.block_size, args.repeats, args.ray_cpus, fmt.pad_id)
        base = ray["ray data, augmented"]
        for name, rate in ray.items():
            print(f"{name:40s} {rate / 1e6:6.2f}M tokens/s  ({rate / base:.2f}x without the clock)", flush=True)


if __name__ == "__main__":
    main()
