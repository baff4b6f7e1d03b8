"""Evaluation reports on one gold, one or several runs a side: score differences and a paired bootstrap."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from training.evaluation.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, paired_test
from training.evaluation.metrics import SECTIONS, DocumentCounts

HEADLINE = "seqeval_strict"


class CompareError(ValueError):
    pass


def _documents(report: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    if "per_document" not in report:
        raise CompareError(
            f"{name} has no per-document results (made by an older `conflict-ie evaluate`?); "
            "evaluate again with --output to get a report that can be compared"
        )
    return {d["id"]: d for d in report["per_document"]}


def check_same_gold(a: dict[str, Any], b: dict[str, Any], name_a: str = "A", name_b: str = "B") -> None:
    """Refuse two reports whose gold documents (ids, texts, spans) are not the same."""
    docs_a, docs_b = _documents(a, name_a), _documents(b, name_b)
    only_a = sorted(set(docs_a) - set(docs_b))
    only_b = sorted(set(docs_b) - set(docs_a))
    shared = set(docs_a) & set(docs_b)
    changed = sorted(i for i in shared if docs_a[i]["gold_sha256"] != docs_b[i]["gold_sha256"])
    if not (only_a or only_b or changed):
        return
    problems = []
    groups = ((f"only in {name_a}", only_a), (f"only in {name_b}", only_b), ("different gold", changed))
    for what, ids in groups:
        if ids:
            shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
            problems.append(f"{len(ids)} document(s) {what}: {shown}")
    raise CompareError(
        f"the reports are not on the same gold ({name_a}: {a.get('data')}, {len(docs_a)} documents; "
        f"{name_b}: {b.get('data')}, {len(docs_b)} documents): " + "; ".join(problems)
    )


def _scores(report: dict[str, Any]) -> dict[str, float | None]:
    """Every score of one report: micro P/R/F1, macro F1 and per-label F1 per section, outcome accuracy."""
    scores: dict[str, float | None] = {}
    for section in SECTIONS:
        if section not in report:
            continue
        for measure in ("precision", "recall", "f1"):
            scores[f"{section} micro {measure}"] = report[section]["micro"][measure]
        scores[f"{section} macro f1"] = report[section]["macro"]["f1"]
        for label, values in report[section]["per_label"].items():
            scores[f"{section} {label} f1"] = values["f1"]
    if "outcome" in report:
        scores["outcome accuracy"] = report["outcome"].get("accuracy")
    return scores


def _mean_scores(runs: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Each score's mean over the runs, where every run has it; None (n/a) where any run's is n/a."""
    per_run = [_scores(report) for report in runs]
    means: dict[str, float | None] = {}
    for metric in per_run[0]:
        values = [scores[metric] for scores in per_run if metric in scores]
        if len(values) < len(per_run):
            continue
        known = [value for value in values if value is not None]
        means[metric] = sum(known) / len(known) if len(known) == len(values) else None
    return means


def metric_rows(runs_a: Sequence[dict[str, Any]], runs_b: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every score both sides have, in A's order (the model's schema): each side's mean over its
    runs, and B - A."""
    scores_a, scores_b = _mean_scores(runs_a), _mean_scores(runs_b)
    rows = []
    for metric in [m for m in scores_a if m in scores_b]:
        value_a, value_b = scores_a[metric], scores_b[metric]
        # A score that is n/a (None: outcome accuracy with no matched count) has no difference.
        delta = None if value_a is None or value_b is None else value_b - value_a
        rows.append({"metric": metric, "a": value_a, "b": value_b, "delta": delta})
    return rows


def _pooled_counts(
    runs: list[dict[str, dict[str, Any]]], order: list[str], section: str
) -> list[DocumentCounts]:
    """Each document's counts of one section summed over one system's runs (its trainings), the
    runs given as ``_documents`` maps."""
    pooled = []
    for doc_id in order:
        totals: dict[str, tuple[int, int, int]] = {}
        for run in runs:
            for label, (tp, predicted, gold) in run[doc_id]["counts"][section].items():
                before = totals.get(label, (0, 0, 0))
                totals[label] = (before[0] + tp, before[1] + predicted, before[2] + gold)
        pooled.append(totals)
    return pooled


def _side(runs: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    return {
        "name": ", ".join(names),
        "model": ", ".join(str(report.get("model")) for report in runs),
        "data": runs[0].get("data"),
        "runs": len(runs),
    }


def compare_runs(
    runs_a: Sequence[dict[str, Any]],
    runs_b: Sequence[dict[str, Any]],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    names: tuple[Sequence[str], Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Two systems, each given as one or more reports (trainings with other seeds), on one gold.

    The scores are each side's mean over its runs. The paired bootstrap draws documents and
    scores each side on its runs' counts of those documents summed (micro F1 pooled over the
    runs), so seed noise is averaged out of the test instead of being taken for a difference.
    """
    if not runs_a or not runs_b:
        raise CompareError("each side needs at least one report")
    names_a, names_b = names or (
        [f"A{i + 1}" for i in range(len(runs_a))],
        [f"B{i + 1}" for i in range(len(runs_b))],
    )
    side_a, side_b = list(zip(runs_a, names_a, strict=True)), list(zip(runs_b, names_b, strict=True))
    (first, first_name), *others = side_a + side_b
    for report, name in others:
        check_same_gold(first, report, first_name, name)
    order = [d["id"] for d in first["per_document"]]
    everything = [d for report in [*runs_a, *runs_b] for d in report["per_document"]]
    docs_a = [_documents(report, name) for report, name in side_a]
    docs_b = [_documents(report, name) for report, name in side_b]
    tests = {
        section: paired_test(
            _pooled_counts(docs_a, order, section), _pooled_counts(docs_b, order, section), resamples, seed
        )
        for section in SECTIONS
        if all(section in d["counts"] for d in everything)
    }
    return {
        "a": _side(runs_a, names_a),
        "b": _side(runs_b, names_b),
        "documents": len(order),
        "metrics": metric_rows(runs_a, runs_b),
        "paired_bootstrap": tests,
        "headline": HEADLINE,
    }


def compare_reports(
    a: dict[str, Any],
    b: dict[str, Any],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    names: tuple[str, str] = ("A", "B"),
) -> dict[str, Any]:
    """Two reports (one run each) on the same gold: see ``compare_runs``."""
    return compare_runs([a], [b], resamples, seed, ([names[0]], [names[1]]))


def format_comparison(result: dict[str, Any]) -> str:
    a, b = result["a"], result["b"]
    lines = [f"{side}: {_described(run)}" for side, run in (("A", a), ("B", b))]
    lines += [
        f"gold: {a['data']}, {result['documents']} documents",
        f"{'metric':40s} {'A':>8s} {'B':>8s} {'B - A':>8s}",
    ]
    for row in result["metrics"]:
        a_value, b_value = _cell(row["a"], "8.4f"), _cell(row["b"], "8.4f")
        lines.append(f"{row['metric']:40s} {a_value} {b_value} {_cell(row['delta'], '+8.4f')}")
    for section, test in result["paired_bootstrap"].items():
        b_over_a = format_p(test["p_value"], test["resamples"], "p(B not better)")
        a_over_b = format_p(test["p_value_a_over_b"], test["resamples"], "p(A not better)")
        lines.append(
            f"paired bootstrap, {section} micro F1: B - A = {test['delta']:+.4f} "
            f"[{test['low']:+.4f}, {test['high']:+.4f}], {b_over_a}, {a_over_b} "
            f"({test['resamples']} resamples over documents, seed {test['seed']})"
        )
    headline = result["paired_bootstrap"].get(result["headline"])
    if headline:
        lines.append(f"{result['headline']}: {verdict(headline)}")
    return "\n".join(lines)


def verdict(test: dict[str, Any], level: float = 0.05) -> str:
    """Which model is better at ``level``, with the p-value of that direction (or of both)."""
    b_over_a = format_p(test["p_value"], test["resamples"])
    a_over_b = format_p(test["p_value_a_over_b"], test["resamples"])
    if test["p_value"] < level:
        return f"B is better at the {level:.0%} level ({b_over_a} for B over A)"
    if test["p_value_a_over_b"] < level:
        return f"A is better at the {level:.0%} level ({a_over_b} for A over B)"
    both = f"{b_over_a} for B over A, {a_over_b} for A over B"
    return f"no significant difference at the {level:.0%} level ({both})"


def format_p(p_value: float, resamples: int, name: str = "p") -> str:
    """``p = 0.0123``, or ``p < 1/resamples`` when no resample went the other way (a share of 0
    out of ``resamples`` only says the p-value is below one resample's weight). ``name`` replaces
    ``p``: ``p(B not better) < 0.001``."""
    return f"{name} < {1 / resamples:.2g}" if p_value == 0 else f"{name} = {p_value:.4f}"


def _described(side: dict[str, Any]) -> str:
    runs = side.get("runs", 1)
    several = f"; scores are the mean of {runs} runs, the test pools them" if runs > 1 else ""
    return f"{side['model']} ({side['name']}{several})"


def _cell(value: float | None, spec: str) -> str:
    """A table cell: the number in ``spec``, or ``n/a`` (right-aligned to the same width)."""
    if value is None:
        width = int("".join(c for c in spec.split(".")[0] if c.isdigit()) or 0)
        return f"{'n/a':>{width}s}"
    return f"{value:{spec}}"
