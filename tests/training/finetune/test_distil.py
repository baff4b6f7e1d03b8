"""Knowledge distillation: the teacher's probabilities per unit, their place in the windows, the
mixed loss, and a real training that learns toward a real teacher model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_training_config

import training.finetune.distil
from inference.alignment import IGNORE_INDEX, tag_names, tokenize_text
from inference.extractor import Extractor
from training.corpus.store import load_documents, write_documents
from training.finetune.config import ConfigError, config_from_dict
from training.finetune.distil import check_teacher, teacher_collator, teacher_rows, unit_targets
from training.finetune.features import document_windows, training_windows
from training.finetune.step import StepSettings, piece_loss_sum, teacher_loss_sum, token_loss_sum
from training.finetune.train import train

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT / "data" / "annotations"
TAGS = tag_names()
LABEL2ID = {name: i for i, name in enumerate(TAGS)}


def one_hot(tag: int) -> list[float]:
    return [1.0 if i == tag else 0.0 for i in range(len(TAGS))]


def test_unit_targets_take_the_teacher_row_starting_at_the_same_character_else_the_gold_tag() -> None:
    rows = {0: np.full(len(TAGS), 1 / len(TAGS), dtype=np.float32), 9: np.eye(len(TAGS))[3]}
    # The unit at 4 has no teacher unit starting there (the teacher glued it to the one before).
    targets = unit_targets([0, 4, 9], [0, 1, 2], rows, len(TAGS))
    assert targets[0] == pytest.approx([1 / len(TAGS)] * len(TAGS))
    assert targets[1] == one_hot(1)
    assert targets[2] == one_hot(3)


def test_windows_carry_the_teacher_rows_at_labelled_positions_only(tokenizer, tmp_path) -> None:
    document = load_documents(CORPUS / "train.jsonl")[0]
    units = tokenize_text(tokenizer, document.text).units
    rng = np.random.default_rng(0)
    rows = {unit.start: rng.dirichlet(np.ones(len(TAGS))).astype(np.float32) for unit in units}
    windows = document_windows(document, tokenizer, LABEL2ID, 64, 16, rows)
    assert len(windows) > 1
    seen = set()
    for window in windows:
        assert len(window.teacher) == len(window.input_ids)
        for label, row in zip(window.labels, window.teacher, strict=True):
            assert (label == IGNORE_INDEX) == (row == [])
            if row:
                seen.add(tuple(round(p, 6) for p in row))
    assert seen == {tuple(round(float(p), 6) for p in row) for row in rows.values()}
    # The gold labels are those of a window without a teacher; other rows are another cache entry.
    plain = document_windows(document, tokenizer, LABEL2ID, 64, 16)
    assert [w.labels for w in windows] == [w.labels for w in plain] and plain[0].teacher is None
    cached, _ = training_windows([document], tokenizer, LABEL2ID, 64, 16, tmp_path, [rows])
    assert cached == windows
    other = {start: row[::-1].copy() for start, row in rows.items()}
    _, was_cached = training_windows([document], tokenizer, LABEL2ID, 64, 16, tmp_path, [other])
    assert not was_cached


def test_the_collator_pads_teacher_rows_to_the_batch(tokenizer) -> None:
    from inference.batching import window_collator

    collate = teacher_collator(window_collator(tokenizer), len(TAGS))
    features = [
        {"input_ids": [101, 7, 102], "labels": [-100, 0, -100], "teacher": [[], one_hot(0), []]},
        {"input_ids": [101, 102], "labels": [-100, -100], "teacher": [[], []]},
    ]
    batch = collate(features)
    assert batch["teacher"].shape == (2, 3, len(TAGS))
    assert batch["teacher"][0, 1].tolist() == one_hot(0)
    assert batch["teacher"].sum() == 1.0


def test_the_teacher_loss_is_zero_at_the_teacher_and_weighs_like_the_gold_loss() -> None:
    torch.manual_seed(0)
    teacher = torch.softmax(torch.randn(2, 5, len(TAGS)), dim=-1)
    labels = torch.tensor([[-100, 1, 0, 2, -100], [-100, 0, 0, -100, -100]])
    for temperature in (1.0, 2.0):
        at_teacher = teacher_loss_sum(teacher.log(), teacher, labels, None, temperature)
        assert float(at_teacher) == pytest.approx(0.0, abs=1e-5)
        elsewhere = teacher_loss_sum(torch.zeros_like(teacher), teacher, labels, None, temperature)
        assert float(elsewhere) > 0.01
    # Ignored positions do not count, whatever the teacher says there.
    noisy = teacher.clone()
    noisy[labels == -100] = torch.softmax(torch.randn(int((labels == -100).sum()), len(TAGS)), dim=-1)
    logits = torch.randn_like(teacher)
    assert float(teacher_loss_sum(logits, noisy, labels, None, 2.0)) == pytest.approx(
        float(teacher_loss_sum(logits, teacher, labels, None, 2.0))
    )
    # Tag weights multiply each token's divergence by its gold tag's weight.
    weights = torch.ones(len(TAGS))
    weights[2] = 3.0

    def alone(row: int, column: int) -> float:
        only = torch.full_like(labels, -100)
        only[row, column] = labels[row, column]
        return float(teacher_loss_sum(logits, teacher, only, None, 1.0))

    positions = [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2)]  # the labelled ones; (0, 3) is tag 2
    expected = sum(alone(*p) for p in positions) + 2 * alone(0, 3)
    assert float(teacher_loss_sum(logits, teacher, labels, weights, 1.0)) == pytest.approx(expected)


def test_the_mixed_loss_is_the_weighted_sum_and_the_gold_loss_without_a_teacher() -> None:
    torch.manual_seed(1)
    logits = torch.randn(1, 4, len(TAGS))
    piece = {"labels": torch.tensor([[-100, 1, 0, -100]]), "teacher": torch.softmax(torch.randn(1, 4, 9), -1)}
    gold = float(token_loss_sum(logits, piece["labels"], None))
    soft = float(teacher_loss_sum(logits, piece["teacher"], piece["labels"], None, 2.0))
    mixed = StepSettings(teacher_weight=0.25, teacher_temperature=2.0)
    assert float(piece_loss_sum(logits, piece, None, mixed)) == pytest.approx(0.75 * gold + 0.25 * soft)
    assert float(piece_loss_sum(logits, {"labels": piece["labels"]}, None, mixed)) == pytest.approx(gold)
    assert float(piece_loss_sum(logits, piece, None, StepSettings())) == pytest.approx(gold)


def test_a_teacher_that_is_no_model_or_tags_otherwise_is_refused(tmp_path, tiny_model) -> None:
    with pytest.raises(ConfigError, match="teacher"):
        check_teacher(tmp_path / "missing", TAGS)
    other = tmp_path / "other"
    shutil.copytree(tiny_model, other)
    config = json.loads((other / "config.json").read_text())
    config["id2label"] = {str(i): f"B-X{i}" for i in range(len(TAGS))}
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=f"teacher {other} tags B-X0"):
        check_teacher(other, TAGS)


def test_a_training_with_a_bad_teacher_fails_before_any_work(tmp_path, tiny_base) -> None:
    write_documents(tmp_path / "train.jsonl", load_documents(CORPUS / "train.jsonl")[:4])
    write_documents(tmp_path / "dev.jsonl", load_documents(CORPUS / "dev.jsonl")[:2])
    config = config_from_dict(tiny_training_config(tiny_base, tmp_path, teacher=str(tmp_path / "nothing")))
    with pytest.raises(ConfigError, match="teacher"):
        train(config, tmp_path / "model", log=lambda _: None)
    assert not (tmp_path / "model").exists() and not (tmp_path / ".windows-cache").exists()


def student_divergence(model_dir: Path, teacher: Path, texts: list[str]) -> float:
    """Mean KL divergence from the teacher's unit distributions to the student's."""
    ours = Extractor.from_pretrained(model_dir, precision="fp32").unit_probabilities(texts)
    theirs = Extractor.from_pretrained(teacher, precision="fp32").unit_probabilities(texts)
    total, units = 0.0, 0
    for mine, reference in zip(ours, theirs, strict=True):
        p, q = np.clip(reference.probs, 1e-12, 1), np.clip(mine.probs, 1e-12, 1)
        total += float((p * (np.log(p) - np.log(q))).sum())
        units += len(p)
    return total / units


def test_a_student_learns_toward_its_teacher_and_reuses_its_cached_probabilities(
    tmp_path, tiny_base, busy_model, monkeypatch
) -> None:
    """The teacher is a model whose tags are far from the gold ones (``busy_model``): a student
    trained on the teacher alone ends nearer to it than one trained on the gold tags alone."""
    train_docs = load_documents(CORPUS / "train.jsonl")[:16]
    write_documents(tmp_path / "train.jsonl", train_docs)
    write_documents(tmp_path / "dev.jsonl", load_documents(CORPUS / "dev.jsonl")[:4])
    teacher = {"teacher": str(busy_model), "teacher_weight": 1.0, "teacher_temperature": 1.0}
    settings = tiny_training_config(tiny_base, tmp_path, epochs=4, learning_rate=3e-3, **teacher)
    record = train(config_from_dict(settings), tmp_path / "distilled", log=lambda _: None)
    assert record["config"]["teacher"] == str(busy_model)
    assert len(list((tmp_path / ".windows-cache").glob("teacher-*.npz"))) == 1
    gold_only = {**settings, "teacher": None}
    train(config_from_dict(gold_only), tmp_path / "gold", log=lambda _: None)
    texts = [d.text for d in train_docs]
    assert student_divergence(tmp_path / "distilled", busy_model, texts) < 0.5 * student_divergence(
        tmp_path / "gold", busy_model, texts
    )

    # A second training with the same teacher and documents reads the probabilities back.
    def no_tagging(*_args, **_kwargs):
        raise AssertionError("the teacher tagged the documents again")

    monkeypatch.setattr(training.finetune.distil, "tag_with_teacher", no_tagging)
    train(config_from_dict({**settings, "teacher_weight": 0.5}), tmp_path / "again", log=lambda _: None)


def test_teacher_rows_are_in_the_students_tag_order(tmp_path, busy_model) -> None:
    documents = load_documents(CORPUS / "dev.jsonl")[:2]
    reordered = [*TAGS[1:], TAGS[0]]
    rows = teacher_rows(documents, busy_model, reordered, tmp_path, log=lambda _: None)
    extractor = Extractor.from_pretrained(busy_model, precision="fp32")
    direct = extractor.unit_probabilities([documents[0].text])[0]
    first_unit = direct.units[0].start
    assert rows[0][first_unit] == pytest.approx([*direct.probs[0][1:], direct.probs[0][0]], abs=1e-5)
