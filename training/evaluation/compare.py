"""Two evaluation reports on the same gold: differences per metric and a paired bootstrap test."""

from __future__ import annotations

from typing import Any

from training.evaluation.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, paired_test
from training.evaluation.metrics import SECTIONS

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


def metric_rows(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Every score both reports have: micro P/R/F1, macro F1 and per-label F1 per section."""
    rows = []

    def add(metric: str, value_a: float | None, value_b: float | None) -> None:
        # A score that is n/a (None: outcome accuracy with no matched count) has no difference.
        delta = None if value_a is None or value_b is None else value_b - value_a
        rows.append({"metric": metric, "a": value_a, "b": value_b, "delta": delta})

    for section in SECTIONS:
        if section not in a or section not in b:
            continue
        for measure in ("precision", "recall", "f1"):
            add(f"{section} micro {measure}", a[section]["micro"][measure], b[section]["micro"][measure])
        add(f"{section} macro f1", a[section]["macro"]["f1"], b[section]["macro"]["f1"])
        # The labels both reports score, in A's order (the model's schema).
        for label in [x for x in a[section]["per_label"] if x in b[section]["per_label"]]:
            label_a, label_b = a[section]["per_label"][label], b[section]["per_label"][label]
            add(f"{section} {label} f1", label_a["f1"], label_b["f1"])
    if "outcome" in a and "outcome" in b:
        add("outcome accuracy", a["outcome"].get("accuracy"), b["outcome"].get("accuracy"))
    return rows


def compare_reports(
    a: dict[str, Any],
    b: dict[str, Any],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    names: tuple[str, str] = ("A", "B"),
) -> dict[str, Any]:
    check_same_gold(a, b, *names)
    docs_b = _documents(b, names[1])
    order = [d["id"] for d in a["per_document"]]
    tests = {
        section: paired_test(
            [d["counts"][section] for d in a["per_document"]],
            [docs_b[i]["counts"][section] for i in order],
            resamples,
            seed,
        )
        for section in SECTIONS
        if all(section in d["counts"] for d in a["per_document"] + b["per_document"])
    }
    return {
        "a": {"name": names[0], "model": a.get("model"), "data": a.get("data")},
        "b": {"name": names[1], "model": b.get("model"), "data": b.get("data")},
        "documents": len(order),
        "metrics": metric_rows(a, b),
        "paired_bootstrap": tests,
        "headline": HEADLINE,
    }


def format_comparison(result: dict[str, Any]) -> str:
    a, b = result["a"], result["b"]
    lines = [
        f"A: {a['model']} ({a['name']})",
        f"B: {b['model']} ({b['name']})",
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


def _cell(value: float | None, spec: str) -> str:
    """A table cell: the number in ``spec``, or ``n/a`` (right-aligned to the same width)."""
    if value is None:
        width = int("".join(c for c in spec.split(".")[0] if c.isdigit()) or 0)
        return f"{'n/a':>{width}s}"
    return f"{value:{spec}}"
