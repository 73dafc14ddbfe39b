"""Dedup quality on labelled families of real music: pair precision, recall, F1, cluster ARI, and the
recall of each variant kind, at the params in params.yaml.

    python bench/dedup_quality.py                              # 1,000 families x 12 + 1,000 unrelated
    python bench/dedup_quality.py --families 200 --unrelated 200
    python bench/dedup_quality.py --baseline c89379c           # and the same files with older code

Each build is `symcorpus build` in a fresh process with the parse cache off, on local[CORES]. With
--baseline, the same files are built a second time, in the same run, with the code and params.yaml
of a git revision (git archive into bench/out), and both are scored.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from make_variants import make_families  # noqa: E402

from symcorpus.config import load_settings  # noqa: E402

OUT = Path("bench/out")


def comb2(n: int) -> int:
    return n * (n - 1) // 2


def scores(truth: dict[str, int], predicted: dict[str, str]) -> dict[str, float]:
    """Pair precision / recall / F1 and adjusted Rand index of a clustering against the truth."""
    table = Counter((predicted[k], truth[k]) for k in truth)
    together = sum(comb2(n) for n in table.values())
    predicted_pairs = sum(comb2(n) for n in Counter(predicted[k] for k in truth).values())
    true_pairs = sum(comb2(n) for n in Counter(truth.values()).values())
    precision = together / predicted_pairs if predicted_pairs else 1.0
    recall = together / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    expected = predicted_pairs * true_pairs / comb2(len(truth))
    ari = (together - expected) / ((predicted_pairs + true_pairs) / 2 - expected)
    return {"precision": precision, "recall": recall, "f1": f1, "ari": ari}


def clusters_of(out: Path) -> dict[str, str]:
    """path -> cluster id, for every kept piece and every duplicate."""
    cluster = {}
    for row in pq.read_table(out / "corpus", columns=["path", "dedup_cluster"]).to_pylist():
        cluster[row["path"]] = row["dedup_cluster"]
    for row in pq.read_table(out / "duplicates", columns=["path", "cluster_id"]).to_pylist():
        cluster[row["path"]] = row["cluster_id"]
    return cluster


def build_with(tree: Path, data: Path, out: Path, params: Path) -> tuple[dict, float]:
    """`symcorpus build` of `data` with the code in `tree`, in a fresh process, parse cache off:
    (manifest, seconds)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-m", "symcorpus.cli", "build", str(data.resolve()), "--out", str(out.resolve()),
           "--no-cache", "--overwrite", "--spark-master", f"local[{os.cpu_count()}]", "--params", str(params)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"build with {tree} failed:\n{proc.stderr[-3000:]}")
    return json.loads((out / "manifest.json").read_text()), time.perf_counter() - started


def checkout(revision: str, into: Path) -> Path:
    """The files of a git revision of this repository, in a folder of their own."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", revision], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def report_on(out: Path, manifest: dict, seconds: float, labels: dict, params: Path, name: str) -> dict:
    files = labels["files"]
    cluster = clusters_of(out)
    truth = {path: info["family"] for path, info in files.items()}
    overall = scores(truth, cluster)
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for path, info in files.items():
        if info["kind"] not in ("original", "unrelated"):
            original = f"family_{info['family']:05d}/original.mid"
            by_kind[info["kind"]].append(cluster[path] == cluster[original])
    members = Counter(cluster.values())
    unrelated_merged = sum(1 for p, i in files.items() if i["kind"] == "unrelated" and members[cluster[p]] > 1)
    d = load_settings(params).dedup
    report = {
        "code": name,
        "params": {"shingle_size": d.shingle_size, "bands": d.bands, "rows": d.rows,
                   "threshold": d.threshold, "transpose_invariant": d.transpose_invariant},
        "files": len(files), "families": labels["n_families"], "unrelated": labels["n_unrelated"],
        "seconds": round(seconds, 1),
        **{k: round(v, 4) for k, v in overall.items()},
        "recall_by_kind": {k: round(sum(v) / len(v), 4) for k, v in sorted(by_kind.items())},
        "unrelated_pieces_merged_with_another": unrelated_merged,
        "manifest_dedup": manifest["dedup"],
    }
    print(f"\n{name}: {len(files):,} files ({labels['n_families']:,} families of "
          f"{len(files) // max(labels['n_families'], 1)} + {labels['n_unrelated']:,} unrelated), built in {seconds:.1f} s")
    print(f"bands x rows = {d.bands} x {d.rows}, shingles of {d.shingle_size}, threshold {d.threshold}")
    print(f"pair precision {overall['precision']:.4f}  recall {overall['recall']:.4f}  "
          f"F1 {overall['f1']:.4f}  ARI {overall['ari']:.4f}")
    for kind, hits in report["recall_by_kind"].items():
        print(f"  {kind:24s} recall {hits:.4f}")
    print(f"unrelated pieces merged with another: {unrelated_merged}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", type=int, default=1000)
    parser.add_argument("--unrelated", type=int, default=1000)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--baseline", default=None,
                        help="also build the same files with the code (and params.yaml) of this git revision")
    args = parser.parse_args()
    data = OUT / f"dedup_families_{args.families}_{args.unrelated}"
    labels = make_families(data, args.families, args.unrelated)
    here = Path(__file__).resolve().parents[1]
    runs = [("this checkout", here, args.params.resolve())]
    if args.baseline:
        tree = checkout(args.baseline, OUT / "dedup_quality_baseline_code")
        runs.append((f"baseline {args.baseline}", tree, tree / "params.yaml"))
    reports = []
    for name, tree, params in runs:
        out = OUT / "dedup_quality_corpus"
        manifest, seconds = build_with(tree, data, out, params)
        reports.append(report_on(out, manifest, seconds, labels, params, name))
    (OUT / "dedup_quality.json").write_text(json.dumps(reports, indent=2) + "\n")


if __name__ == "__main__":
    main()
