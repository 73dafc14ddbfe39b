"""Every caption of the demo corpus states only facts in its tags: built exactly as `make demo`
builds it (music21's bundled corpus with the shipped params.yaml), then every caption is parsed
back and compared with its tags."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from symcorpus.music.captions import read_caption
from symcorpus.spark.build import build
from symcorpus.config import load_settings

from tests.conftest import make_settings

PARAMS = Path(__file__).resolve().parents[3] / "params.yaml"

# The whole demo corpus (13,298 records) built in the test: `make test-e2e`. CI's `make test` checks
# captions against their tags piece by piece in tests/unit/music/test_captions.py.
pytestmark = pytest.mark.e2e


def _check_captions(batches):
    for batch in batches:
        wrong = []
        for piece_id, caption, tags in zip(batch.column("id").to_pylist(), batch.column("caption").to_pylist(),
                                           batch.column("tags").to_pylist()):
            if caption is None or read_caption(caption) != json.loads(tags):
                wrong.append(piece_id)
        yield pa.RecordBatch.from_pydict({"n": [batch.num_rows], "wrong": [wrong]})


@pytest.fixture(scope="module")
def demo(spark, tmp_path_factory):
    settings = load_settings(PARAMS)
    settings.spark = make_settings().spark
    settings.ingest.cache_dir = None
    return build(["music21"], tmp_path_factory.mktemp("demo") / "demo", settings)


def test_every_demo_caption_is_faithful_to_its_tags(spark, demo):
    corpus = spark.read.parquet(str(demo.out / "corpus" / "*")).select("id", "caption", "tags")
    results = corpus.mapInArrow(_check_captions, "n long, wrong array<string>").collect()
    checked = sum(r["n"] for r in results)
    wrong = [i for r in results for i in r["wrong"]]
    assert checked == demo.counts["kept"] > 10_000
    assert wrong == []


def test_demo_captions_vary_and_labels_cover_the_corpus(spark, demo):
    rows = spark.read.parquet(str(demo.out / "corpus" / "*")).select("caption", "labels", "format").collect()
    openings = Counter(" ".join(r["caption"].split()[:2]) for r in rows)
    assert len(openings) >= 8  # phrasing varies
    assert openings.most_common(1)[0][1] < 0.5 * len(rows)
    periods = Counter(r["labels"]["period"] for r in rows)
    assert periods["Traditional"] > 5_000 and periods["Baroque"] > 50  # folk tunes, Bach chorales
    genres = Counter(r["labels"]["genre"] for r in rows if r["format"] == "abc")
    assert {"reel", "jig", "hornpipe"} <= set(genres)
