"""How fast the pyarrow reader packs training blocks, plain and with balancing and augmentation.

One thread, one epoch of the train split per mode, best of --repeats (the first pass also warms the
file cache). A GPU step needs ~0.65M tokens/s (base preset on an H100); the reader runs in a
prefetch thread beside it.

  .venv/bin/python -P bench/data_rate.py [--tokens data/demo_tokens] [--block-size 1024] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from symcorpus.tokenizers import load_tokenizer
from symcorpus.tokenizers.augment import Augmentation
from symcorpus.train.balance import repeat_factors
from symcorpus.train.data import SequenceFormat, iter_blocks, shard_files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", default="data/demo_tokens")
    ap.add_argument("--block-size", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    tok = load_tokenizer(args.tokens)
    fmt = SequenceFormat.of(tok)
    files = shard_files(args.tokens, "train")
    modes = {
        "plain": {},
        "augmented (5 semitones, 8 tempo bins)": {"augment": Augmentation.of(tok, 5, 8)},
        "augmented + instruments balanced": {
            "augment": Augmentation.of(tok, 5, 8),
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


if __name__ == "__main__":
    main()
