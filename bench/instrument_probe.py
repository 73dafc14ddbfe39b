"""Does a model read the instruments condition, or guess the instrument from the other labels?

For up to 40 train pieces played by one instrument alone, feed [bos] + conditions + [sep] + the
music up to the piece's first Program token, and print the mean probability of that Program token:
  as_is        the piece's own conditions
  piano_slot   the instruments condition says Acoustic Grand Piano instead
  only_instr   every family but instruments shown as unknown
A model that uses the instruments condition scores high on only_instr and lower on piano_slot.

  .venv/bin/python bench/instrument_probe.py RUN [--instrument "Voice Oohs"] [--tokens bench/out/controllability/tokens]
      [--corpus data/demo]
"""

from __future__ import annotations

import argparse

import duckdb
import numpy as np
import torch

from symcorpus.tokenizers.conditions import FAMILIES
from symcorpus.train.generate import load_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a run directory or checkpoint")
    ap.add_argument("--instrument", default="Voice Oohs")
    ap.add_argument("--tokens", default="bench/out/controllability/tokens")
    ap.add_argument("--corpus", default="data/demo")
    ap.add_argument("--pieces", type=int, default=40)
    args = ap.parse_args()
    torch.set_num_threads(2)
    run = load_run(args.run, "cpu")
    tok, model = run.tokenizer, run.model
    programs = set(range(tok.remi.program0, tok.remi.program0 + 129))
    rows = duckdb.sql(f"""
        SELECT t.conditions, t.tokens
        FROM read_parquet('{args.tokens}/train/*.parquet') t
        JOIN read_parquet('{args.corpus}/corpus/train/*.parquet') c USING (id)
        WHERE t.chunk = 0 AND c.instruments = [$name]
        ORDER BY hash(t.id) LIMIT {int(args.pieces)}""", params={"name": args.instrument}).fetchall()
    if not rows:
        raise SystemExit(f"no train piece is played by {args.instrument!r} alone")
    ids = tok.conditions.ids["instruments"]
    wanted, piano = ids[args.instrument], ids["Acoustic Grand Piano"]
    family_of, unknown = tok.conditions.slots()
    instruments = FAMILIES.index("instruments")

    def variant(cond: list[int], kind: str) -> list[int]:
        if kind == "piano_slot":
            return [piano if c == wanted else c for c in cond]
        if kind == "only_instr":
            return [c if f == instruments else u for c, f, u in zip(cond, family_of, unknown)]
        return list(cond)

    print(f"{run.checkpoint}: {len(rows)} pieces played by {args.instrument} alone")
    for kind in ("as_is", "piano_slot", "only_instr"):
        probs = []
        for cond, tokens in rows:
            first = next(i for i, t in enumerate(tokens) if t in programs)
            seq = [tok.bos_id, *variant(cond, kind), tok.sep_id, *tokens[:first]]
            with torch.no_grad():
                logits, _ = model(torch.tensor([seq]))
            probs.append(torch.softmax(logits[0, -1].float(), -1)[tokens[first]].item())
        print(f"{kind:11s} P(first Program token) mean {np.mean(probs):.3f} median {np.median(probs):.3f}")


if __name__ == "__main__":
    main()
