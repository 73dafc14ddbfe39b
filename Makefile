# symcorpus: `make demo` and `make test` set everything up on a fresh machine by themselves.
PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: demo test test-e2e test-fast bench-ingest java audio browser bytecode jvm-classes venv clean

venv: $(STAMP)

# torch first, pinned: it is the CPU wheel on disk; an unpinned torch would pull a multi-GB CUDA build.
# uv installs what pip would (the best version over every index, as pip picks) in about half pip's
# time; it reads no pip configuration, so scripts/uv_flags.py hands pip's indexes and constraints on.
UV_INSTALL = $(VENV)/bin/uv pip install --python $(PY) --quiet --compile-bytecode \
	--index-strategy unsafe-best-match $$($(PY) scripts/uv_flags.py)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq uv
	$(UV_INSTALL) torch==2.13.0
	$(UV_INSTALL) -e '.[dev]'
	touch $(STAMP)

# PySpark 4 needs Java 17 or newer: install a headless JRE where it is missing or older.
java:
	@major=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1); \
	if [ -z "$$major" ] || [ "$$major" -lt 17 ]; then \
		echo "Java 17+ not found (found: '$${major:-none}'); installing openjdk-17-jre-headless"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; \
	fi

# WAVs of samples and of the dataset card's pieces: FluidSynth and TimGM6mb, a 6 MB General MIDI
# SoundFont (fluid-soundfont-gm sounds better but is 145 MB).
audio:
	@if ! command -v fluidsynth >/dev/null 2>&1 || ! ls /usr/share/sounds/sf2/*.sf2 >/dev/null 2>&1; then \
		echo "FluidSynth or a General MIDI SoundFont missing; installing fluidsynth timgm6mb-soundfont"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			fluidsynth timgm6mb-soundfont; \
	fi

# The tests open the dataset card's HTML page in headless Chromium.
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
		echo "Chromium missing; installing chromium fonts-liberation (headless, for the card's test)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium fonts-liberation; \
	fi

# The package's bytecode, compiled ahead: where PYTHONDONTWRITEBYTECODE is set (as on the machines
# this project is tested on), every Spark and Ray worker process would compile the modules it
# imports (~0.3 s of CPU each).
bytecode: $(STAMP)
	@$(PY) -m compileall -q symcorpus >/dev/null

# The classes a local build's JVM loads, archived once (Java class-data sharing) and mapped by every
# later local session: ~5 s less JVM CPU per command (spark/class_archive.py). About a minute the
# first time; a no-op while PySpark and Java stay the same.
jvm-classes: $(STAMP) java bytecode
	@$(PY) -m symcorpus.spark.archive_classes

demo: $(STAMP) java audio bytecode jvm-classes
	$(VENV)/bin/symcorpus demo

test: $(STAMP) java audio browser bytecode jvm-classes
	$(PY) -m pytest -q -n 2 --dist loadgroup -m "not e2e" --durations=15 $(PYTEST_ARGS)

# Whole-pipeline and process-death runs (DVC repro, builds killed at every step, a standalone Spark
# cluster, a two-node Ray cluster, a Ray run resumed after losing a worker, the whole demo corpus's
# captions): tens of CLI processes, ~30 min here; one at a time, since they start and stop clusters.
test-e2e: $(STAMP) java bytecode jvm-classes
	$(PY) -m pytest -q -m e2e $(PYTEST_ARGS)

# The unit tier: no Spark, no Ray (tests/unit), for the edit-test loop.
test-fast: $(STAMP) bytecode
	$(PY) -m pytest -q -m "not integration" $(PYTEST_ARGS)

bench-ingest: $(STAMP) java jvm-classes
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) data bench/out .pytest_cache
