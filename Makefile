# Two set-up commands: `make demo` and `make test`. Both create .venv if missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint bench clean train-small

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch is pinned to 2.13.0 in pyproject.toml so that pip takes the CPU wheel.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m auricle.demo

test: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/python -m pytest -q -p no:cacheprovider tests

lint: $(STAMP)
	$(BIN)/ruff check auricle tests bench
	$(BIN)/ruff format --check auricle tests bench

# Regenerate the synthetic corpus, retrain auricle-small (stage 1, stage 2) and package it into
# auricle/weights/auricle-small; about 2 h 25 min on a 2-core CPU with AMX (stage 1: 3,100 compiled
# steps of 12,288 positions in about 1 h 40 min, in a process of its own after --prepare;
# ≈ 3 h 30 min on a 2-core AMD EPYC without AMX, measured with the tenth version; docs/model-card.md).
train-small: $(STAMP)
	$(BIN)/auricle data synth --out runs/corpus-general --hours 24 --seed 1 --jobs 2 --languages en,zh,de,fr,es,it
	$(BIN)/auricle data synth --out runs/corpus-speech --hours 32 --seed 2 --jobs 2 --languages en,zh,de,fr,es,it --tasks asr,srwt,lid,s2tt
	$(BIN)/auricle train auricle-small-stage1 --prepare
	$(BIN)/auricle train auricle-small-stage1 --resume
	$(BIN)/auricle train auricle-small-stage2 --resume
	$(BIN)/python -m auricle.train.package runs/auricle-small/stage1/model auricle/weights/auricle-small \
		--chat runs/auricle-small/stage2/model --recipe runs/auricle-small/stage1/model/recipe.yaml --recipe runs/auricle-small/stage2/model/recipe.yaml

clean:
	rm -rf $(VENV) build *.egg-info
