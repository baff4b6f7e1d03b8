"""Several processes under ``accelerate launch`` on CPU (gloo): sharded prediction and training.

``accelerate launch --cpu`` starts a single process whatever ``--num_processes`` says (it only
spreads over CPUs through MPI), so these tests start two processes with ``--multi_gpu`` (torchrun)
and ``ACCELERATE_USE_CPU=1``, as the README tells users to do on CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training.corpus import load_documents, write_documents

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = [
    sys.executable,
    "-m",
    "accelerate.commands.launch",
    "--multi_gpu",
    "--num_processes",
    "2",
    "--num_machines",
    "1",
    "--mixed_precision",
    "no",
    "--dynamo_backend",
    "no",
    "--main_process_port",
    "0",
    "-m",
    "training.cli",
]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}


def run(command: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_sharded_prediction_equals_single_process_output_in_input_order(busy_model, tmp_path):
    inputs = tmp_path / "inputs.jsonl"
    documents = load_documents(ROOT / "data/annotations/dev.jsonl")[:6]
    inputs.write_text("".join(json.dumps({"id": d.id, "text": d.text}) + "\n" for d in documents))
    plain = tmp_path / "plain.txt"
    plain.write_text(documents[0].text[:300])
    arguments = ["predict", "--model", str(busy_model), str(inputs), str(plain)]

    single = run([sys.executable, "-m", "training.cli", *arguments])
    sharded = run([*LAUNCH, *arguments])

    assert "process 1/2: 4 of 7 texts" in sharded.stderr and "process 2/2: 3 of 7 texts" in sharded.stderr
    assert sharded.stdout == single.stdout
    lines = [json.loads(line) for line in sharded.stdout.splitlines()]
    assert [line["id"] for line in lines] == [d.id for d in documents] + ["plain"]
    assert sum(len(line["entities"]) for line in lines) > 20, "the busy model should tag plenty"


@pytest.fixture(scope="module")
def one_layer_minilm(base_model_path, tmp_path_factory) -> Path:
    """The first layer of the real all-MiniLM-L6-v2: pretrained embeddings learn in a few epochs."""
    from transformers import AutoModel, AutoTokenizer

    directory = tmp_path_factory.mktemp("minilm-1")
    AutoModel.from_pretrained(base_model_path, num_hidden_layers=1).save_pretrained(directory)
    AutoTokenizer.from_pretrained(base_model_path).save_pretrained(directory)
    return directory


@pytest.mark.slow
def test_two_process_training_is_as_good_as_one_process(one_layer_minilm, tmp_path):
    write_documents(tmp_path / "train.jsonl", load_documents(ROOT / "data/annotations/train.jsonl")[:12])
    write_documents(tmp_path / "dev.jsonl", load_documents(ROOT / "data/annotations/dev.jsonl")[:8])
    common = (
        f"base_model: {one_layer_minilm}\ntrain_file: {tmp_path / 'train.jsonl'}\n"
        f"dev_file: {tmp_path / 'dev.jsonl'}\nepochs: 3\nmax_length: 64\nstride: 16\nlearning_rate: 2.0e-3\n"
        "augment_strip_punctuation: 0.0\n"
        "augment_feed: 0.0\nfakes_dir: null\nfakes_annotations: null\n"
    )
    # The same global batch: 8 windows in one process, 4 in each of two.
    (tmp_path / "one.yaml").write_text(common + "batch_size: 8\n")
    (tmp_path / "two.yaml").write_text(common + "batch_size: 4\n")
    train = ["train", "--output"]
    run(
        [
            sys.executable,
            "-m",
            "training.cli",
            *train,
            str(tmp_path / "one"),
            "--config",
            str(tmp_path / "one.yaml"),
        ]
    )
    run([*LAUNCH, *train, str(tmp_path / "two"), "--config", str(tmp_path / "two.yaml")])

    one, two = (json.loads((tmp_path / name / "training_record.json").read_text()) for name in ("one", "two"))
    assert (one["processes"], two["processes"]) == (1, 2)
    f1_one, f1_two = (max(h["dev_f1"] for h in r["history"]) for r in (one, two))
    assert f1_one > 0.2 and f1_two > 0.2, "both runs must learn something for the comparison to mean anything"
    assert abs(f1_one - f1_two) < 0.1
    assert two["history"][-1]["loss"] == pytest.approx(one["history"][-1]["loss"], rel=0.25)
    hidden = [p.name for p in tmp_path.iterdir() if p.name.startswith(".") and p.name != ".windows-cache"]
    assert not hidden, "work directories left behind"
