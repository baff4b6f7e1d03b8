"""Bootstrap over documents: confidence intervals for micro F1, and a paired test of two systems.

Documents, not tokens or spans, are resampled: errors cluster within a document (one article,
one writing style), so resampling smaller units would give intervals that are too narrow.
Micro F1 of a resample is computed from summed per-document counts (true positives, predicted,
gold), which equals scoring the resampled documents directly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training.evaluation.metrics import DocumentCounts

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0


def count_matrix(documents: list[DocumentCounts]) -> np.ndarray:
    """(documents, 3) array of true positives, predicted and gold summed over labels."""
    rows = [[sum(triple[i] for triple in counts.values()) for i in range(3)] for counts in documents]
    return np.array(rows, dtype=np.int64).reshape(len(documents), 3)


def micro_f1(totals: np.ndarray) -> np.ndarray:
    """F1 = 2 TP / (predicted + gold) along the last axis; 0 where nothing was predicted or gold."""
    tp, predicted, gold = totals[..., 0], totals[..., 1], totals[..., 2]
    denominator = predicted + gold
    return np.divide(2.0 * tp, denominator, out=np.zeros(tp.shape), where=denominator > 0)


def resample_indices(documents: int, resamples: int, seed: int) -> np.ndarray:
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    return np.random.default_rng(seed).integers(0, documents, size=(resamples, documents))


def confidence_interval(
    documents: list[DocumentCounts],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Percentile bootstrap interval of micro F1 over documents."""
    counts = count_matrix(documents)
    point = float(micro_f1(counts.sum(axis=0)))
    result = {"f1": point, "confidence": confidence, "resamples": resamples, "seed": seed}
    if len(documents) == 0:
        return {**result, "low": point, "high": point}
    samples = micro_f1(counts[resample_indices(len(documents), resamples, seed)].sum(axis=1))
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return {**result, "low": float(low), "high": float(high)}


def paired_test(
    documents_a: list[DocumentCounts],
    documents_b: list[DocumentCounts],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Paired bootstrap (Koehn 2004) on micro F1, the same documents in the same order for A and B.

    Each resample draws documents with replacement and scores both systems on the same draw.
    ``p_value`` is the share of resamples in which B is *not* better than A (ties count against
    B), the p-value of "B is better than A"; ``p_value_a_over_b`` is the share in which A is not
    better than B. A share of 0 means no resample went the other way: p < 1 / ``resamples``.
    """
    if len(documents_a) != len(documents_b):
        raise ValueError(f"paired test needs the same documents: {len(documents_a)} vs {len(documents_b)}")
    a, b = count_matrix(documents_a), count_matrix(documents_b)
    f1_a, f1_b = float(micro_f1(a.sum(axis=0))), float(micro_f1(b.sum(axis=0)))
    result = {"a": f1_a, "b": f1_b, "delta": f1_b - f1_a, "resamples": resamples, "seed": seed}
    if len(documents_a) == 0:
        return {**result, "low": 0.0, "high": 0.0, "p_value": 1.0, "p_value_a_over_b": 1.0}
    indices = resample_indices(len(documents_a), resamples, seed)
    deltas = micro_f1(b[indices].sum(axis=1)) - micro_f1(a[indices].sum(axis=1))
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(deltas, [tail, 100 - tail])
    return {
        **result,
        "low": float(low),
        "high": float(high),
        "p_value": float(np.mean(deltas <= 0)),
        "p_value_a_over_b": float(np.mean(deltas >= 0)),
    }
