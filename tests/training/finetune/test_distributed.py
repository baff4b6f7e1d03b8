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

from inference.batching import length_grouped_batches
from tests.batch_order import BATCH_SIZE, EPOCHS, LENGTHS, SEED, batch_order
from training.corpus.store import load_documents, write_documents

ROOT = Path(__file__).resolve().parents[3]
TWO_PROCESSES = [
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
]
LAUNCH = [*TWO_PROCESSES, "training.cli"]
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


def epoch_batches(epoch: int) -> list[list[int]]:
    """The batches of one epoch in one process: the order that two processes share out."""
    return length_grouped_batches(LENGTHS, BATCH_SIZE, SEED + epoch)


def test_one_process_trains_on_each_epochs_own_length_grouped_batches(base_model_path):
    assert batch_order(base_model_path) == [epoch_batches(epoch) for epoch in range(1, EPOCHS + 1)]


def test_two_processes_share_out_each_epochs_batches_and_reshuffle_every_epoch(base_model_path, tmp_path):
    expected = [epoch_batches(epoch) for epoch in range(1, EPOCHS + 1)]
    assert any(len(batch) < BATCH_SIZE for batches in expected for batch in batches[1::2]), (
        "a short batch on the second process's turn: accelerate must not drop it"
    )
    run([*TWO_PROCESSES, "tests.batch_order", base_model_path, str(tmp_path)])
    first, second = (json.loads((tmp_path / f"{rank}.json").read_text()) for rank in (0, 1))

    assert first[0] != first[1] != first[2], "every epoch has its own batch order"
    for epoch, (mine, theirs) in enumerate(zip(first, second, strict=True)):
        seen = [window for batch in mine + theirs for window in batch]
        assert sorted(seen) == list(range(len(LENGTHS))), f"epoch {epoch + 1}: each window once"
        assert (mine, theirs) == (expected[epoch][0::2], expected[epoch][1::2])


@pytest.fixture(scope="module")
def one_layer_minilm(base_model_path, tmp_path_factory) -> Path:
    """The first layer of the real all-MiniLM-L6-v2: pretrained embeddings learn in a few epochs.
    Without dropout: the random draws of one process and of two differ, and with lr 2e-3 on 12
    documents they alone moved the last epoch's loss by 30% (0.21 against 0.15)."""
    from transformers import AutoModel, AutoTokenizer

    directory = tmp_path_factory.mktemp("minilm-1")
    model = AutoModel.from_pretrained(
        base_model_path, num_hidden_layers=1, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
    model.save_pretrained(directory)
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
