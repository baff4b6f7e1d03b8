"""Event accuracy on FA-KES: the main event of each article (``inference.text.events``) against the
article's coded fields (killed civilians, children, women, non-civilians; actor; cause of death).

    .venv/bin/python benchmarks/event_accuracy.py --model DIR [--fakes-dir DIR] [--split dev]
        [--device auto] [--no-train] [--output FILE.json]

Runs the model (``Extractor.extract_events``) on the split's articles and prints, per figure, the
exact-match accuracy and the mean absolute error, and actor and cause accuracy, beside two
baselines: the largest killed count in the text (per figure: the largest killed count whose victim
is of that figure's kind, any civilian or unknown victim for civilians) and the majority class (the
most frequent value of each field among the ``train`` articles). A null actor or cause is scored as
FA-KES's ``unknown``; a report with no one killed is scored by its injured totals, as FA-KES codes it.
With ``--split dev`` (the default) the same table follows for ``train``, for
reference (the default model is trained on 250 of those articles' spans, so train is optimistic),
with two more rows: the rules on the project's gold spans of the annotated train articles
(``data/annotations/fakes/train.standoff.jsonl``), and a document classifier for actor and cause
(TF-IDF and logistic regression, 5-fold cross-validation on train; on dev it is trained on all of
train). Only ``train`` and ``dev`` articles are read; any other split is refused. Without a FA-KES
folder the benchmark says so and exits 0.

``--split heldout`` scores the annotated ``train`` articles that the model was *not* trained on:
those not among the first ``fakes.documents`` (plus any calibration articles) of the annotation
file its ``training_record.json`` names (train one with ``--set fakes_max_documents=N``, or on a
file of some of the articles, ``--set fakes_annotations=FOLD``), beside the rules on their gold
spans. That is real news on which event rules may be developed and tuned with
a model's spans, which neither ``dev`` (measured only) nor the default model's ``train`` allow.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FAKES_DIR = ROOT.parent / "shared" / "datasets" / "fa-kes"
SPLITS = ("train", "dev")
HELDOUT = "heldout"
FIGURES = {
    "civilians": "nb_civilians",
    "children": "nb_children",
    "women": "nb_women",
    "non_civilians": "nb_noncivilians",
}
FIELDS = {"actor": "actor", "cause": "cause_of_death"}
UNKNOWN = "unknown"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class BenchmarkError(ValueError):
    pass


def read_fakes(directory: Path) -> tuple[dict[str, dict[str, str]], dict[str, list[str]]]:
    """Rows of ``fakes.csv`` by id, for train and dev articles only, and those two splits' ids."""
    with (directory / "fakes.csv").open(encoding="latin-1", newline="") as handle:
        rows = list(csv.DictReader(handle))
    splits = json.loads((directory / "splits.json").read_text(encoding="utf-8"))
    ids = {split: [str(i) for i in splits.get(split, [])] for split in SPLITS}
    allowed = set(ids["train"]) | set(ids["dev"])
    by_id: dict[str, dict[str, str]] = {}
    for row in rows:
        if row["unit_id"] in allowed:
            by_id.setdefault(row["unit_id"], row)  # a repeated id: its first row
    missing = sorted(i for i in allowed if i not in by_id)
    if missing:
        raise BenchmarkError(f"{directory / 'fakes.csv'}: no row for ids {', '.join(missing[:5])}")
    return by_id, ids


def figure(value: str) -> int:
    return int(float(value or 0))


def truth(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {name: figure(row[column]) for name, column in FIGURES.items()}
    out.update({name: row[column].strip().lower() for name, column in FIELDS.items()})
    return out


def event_answer(event: dict[str, Any]) -> dict[str, Any]:
    """The event as FA-KES codes it: the killed figures, or for a report with no one killed, the
    injured ones (FA-KES's coders put an injured-only report's casualties in the same fields: all
    5 such ``train`` articles are coded non-zero, 3 of them with exactly the injured totals)."""
    killed = event["killed"]
    out: dict[str, Any] = dict(killed if any(killed.values()) else event["injured"])
    out["actor"] = event["actor"] or UNKNOWN
    out["cause"] = event["cause"] or UNKNOWN
    return out


def largest_count_answer(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per figure, the largest killed count whose victim is of that kind (0 if none)."""
    from inference.text.categories import CHILD, COMBATANT, WOMAN

    kinds = {"children": {CHILD}, "women": {WOMAN}, "non_civilians": {COMBATANT}}
    out: dict[str, Any] = {}
    killed = [r for r in records if r["count"]["outcome"] == "killed" and r["count"]["best"] is not None]
    for name in FIGURES:
        values = [
            r["count"]["best"]
            for r in killed
            if (r["victim_category"] in kinds[name] if name in kinds else r["victim_category"] != COMBATANT)
        ]
        out[name] = max(values, default=0)
    return out


def majority_answer(train_truths: list[dict[str, Any]]) -> dict[str, Any]:
    return {name: Counter(t[name] for t in train_truths).most_common(1)[0][0] for name in [*FIGURES, *FIELDS]}


def score(answers: list[dict[str, Any]], truths: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in FIGURES:
        out[f"{name}_exact"] = sum(a[name] == t[name] for a, t in zip(answers, truths, strict=True)) / len(
            truths
        )
        out[f"{name}_mae"] = sum(abs(a[name] - t[name]) for a, t in zip(answers, truths, strict=True)) / len(
            truths
        )
    for name in FIELDS:
        if all(name in a for a in answers):
            out[name] = sum(a[name] == t[name] for a, t in zip(answers, truths, strict=True)) / len(truths)
    return out


def classifier_answers(
    train_texts: list[str], train_truths: list[dict[str, Any]], texts: list[str] | None
) -> list[dict[str, Any]]:
    """Actor and cause from a TF-IDF + logistic regression document classifier: trained on train
    and applied to ``texts``, or (``texts`` None) 5-fold cross-validated on train."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold

    def fit_predict(fit_texts: list[str], fit_truths: list[dict[str, Any]], apply: list[str]) -> list[dict]:
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        features = vectorizer.fit_transform(fit_texts)
        out: list[dict[str, Any]] = [{} for _ in apply]
        for name in FIELDS:
            model = LogisticRegression(max_iter=2000, C=10.0).fit(features, [t[name] for t in fit_truths])
            for answer, label in zip(out, model.predict(vectorizer.transform(apply)), strict=True):
                answer[name] = str(label)
        return out

    if texts is not None:
        return fit_predict(train_texts, train_truths, texts)
    answers: list[dict[str, Any]] = [{} for _ in train_texts]
    for fit, held in KFold(5, shuffle=True, random_state=0).split(train_texts):
        predicted = fit_predict(
            [train_texts[i] for i in fit], [train_truths[i] for i in fit], [train_texts[i] for i in held]
        )
        for i, answer in zip(held, predicted, strict=True):
            answers[i] = answer
    return answers


def held_out_ids(model_dir: Path, standoff: Path) -> list[str]:
    """The annotated train articles (``standoff`` order) that the model's training did not read:
    not among the first ``fakes.documents`` (plus calibration articles) of the annotation file its
    training record names, or of ``standoff`` when it names none."""
    record_path = model_dir / "training_record.json"
    if not record_path.is_file():
        raise BenchmarkError(f"{record_path}: no training record, so the articles it trained on are unknown")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    used = (record.get("fakes") or {}).get("documents", 0)
    used += (record.get("config") or {}).get("fakes_calibration_documents", 0) or 0
    trained_on = Path((record.get("fakes") or {}).get("annotations") or standoff)
    if not trained_on.is_file():
        raise BenchmarkError(f"{record_path}: the annotation file it trained on, {trained_on}, is missing")
    ids = _standoff_ids(standoff)
    read = set(_standoff_ids(trained_on)[:used])
    held = [i for i in ids if i not in read]
    if not held:
        raise BenchmarkError(
            f"{model_dir} was trained on all {len(ids)} annotated FA-KES train articles: none is held out "
            "(train one with --set fakes_max_documents=N)"
        )
    return held


def _standoff_ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def gold_span_events(
    fakes_dir: Path, rows: dict[str, dict[str, str]], only: set[str] | None = None
) -> tuple[list, list] | None:
    """Events built from the project's gold spans of the annotated train articles (None if absent),
    or of the ``only`` ones."""
    from inference.text.events import build_event
    from inference.text.records import build_records
    from training.corpus.fakes_standoff import STANDOFF_FILE, read_standoff

    if not STANDOFF_FILE.is_file():
        return None
    answers, truths = [], []
    for document in read_standoff(STANDOFF_FILE, fakes_dir):
        if only is not None and document.id not in only:
            continue
        entities = sorted(document.spans)
        records = build_records(document.text, entities)
        answers.append(event_answer(build_event(document.text, entities, records).to_dict()))
        truths.append(truth(rows[document.id]))
    return answers, truths


def table(title: str, rows: list[tuple[str, dict[str, float]]]) -> str:
    head = ["system", *(f"{n} exact" for n in FIGURES), *(f"{n} MAE" for n in FIGURES), "actor", "cause"]
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, scores in rows:
        cells = [_cell(scores, f"{n}_exact", "{:.3f}") for n in FIGURES]
        cells += [_cell(scores, f"{n}_mae", "{:.1f}") for n in FIGURES]
        cells += [_cell(scores, n, "{:.3f}") for n in FIELDS]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return "\n".join(lines)


def evaluate_split(
    split: str, extractor: Any, rows: dict[str, dict[str, str]], ids: dict[str, list[str]], fakes_dir: Path
) -> tuple[str, dict[str, Any]]:
    held = set(ids.get(HELDOUT, []))
    train_truths = [truth(rows[i]) for i in ids["train"] if i not in held]
    texts = [rows[i]["article_content"] for i in ids[split]]
    truths = [truth(rows[i]) for i in ids[split]]
    results = extractor.extract_events(texts, progress=True)
    systems = [
        ("events (model spans)", score([event_answer(r["event"]) for r in results], truths)),
        (
            "baseline: largest killed count",
            score([largest_count_answer(r["records"]) for r in results], truths),
        ),
        ("baseline: majority class (train)", score([majority_answer(train_truths)] * len(truths), truths)),
    ]
    if split == "train":
        gold = gold_span_events(fakes_dir, rows)
        if gold is not None:
            systems.append((f"events (gold spans, {len(gold[0])} annotated)", score(*gold)))
    if split == HELDOUT:
        gold = gold_span_events(fakes_dir, rows, set(ids[split]))
        if gold is not None:
            systems.append(("events (gold spans)", score(*gold)))
    if split != HELDOUT:  # trained on all of train, the classifier would have read held-out articles
        systems += classifier_system(split, rows, ids, train_truths, texts, truths)
    title = f"FA-KES {split} ({len(truths)} articles)"
    result = {"split": split, "articles": len(truths), "systems": dict(systems)}
    return table(title, systems), result


def classifier_system(
    split: str,
    rows: dict[str, dict[str, str]],
    ids: dict[str, list[str]],
    train_truths: list[dict[str, Any]],
    texts: list[str],
    truths: list[dict[str, Any]],
) -> list[tuple[str, dict[str, float]]]:
    """The document classifier's actor and cause row (none without scikit-learn)."""
    try:
        train_texts = [rows[i]["article_content"] for i in ids["train"]]
        answers = classifier_answers(train_texts, train_truths, None if split == "train" else texts)
    except ImportError:
        return []  # scikit-learn is part of the [train] extra
    zero = {n: 0 for n in FIGURES}
    name = "classifier, actor/cause (5-fold on train)" if split == "train" else "classifier, actor/cause"
    scores = score([{**zero, **a} for a in answers], truths)
    return [(name, {k: v for k, v in scores.items() if k in FIELDS})]


def _cell(scores: dict[str, float], key: str, form: str) -> str:
    return form.format(scores[key]) if key in scores else "-"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="model directory (PyTorch or ONNX)")
    parser.add_argument("--fakes-dir", default=str(FAKES_DIR), help="FA-KES folder (fakes.csv, splits.json)")
    parser.add_argument(
        "--split",
        default="dev",
        help="train, dev (default) or heldout (the annotated train articles the model did not train on)",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-train", action="store_true", help="with --split dev: leave out the train table")
    parser.add_argument("--output", help="write the scores as JSON")
    return parser


def main(argv: list[str] | None = None, log: Any = print) -> int:
    args = build_parser().parse_args(argv)
    if args.split not in (*SPLITS, HELDOUT):
        log(f"--split {args.split!r} refused: only {' and '.join(SPLITS)} articles may be scored here")
        return 2
    fakes_dir = Path(args.fakes_dir)
    if not (fakes_dir / "fakes.csv").is_file() or not (fakes_dir / "splits.json").is_file():
        log(f"FA-KES not found at {fakes_dir} (fakes.csv and splits.json): nothing to measure, skipped")
        return 0
    try:
        rows, ids = read_fakes(fakes_dir)
        if args.split == HELDOUT:
            from training.corpus.fakes_standoff import STANDOFF_FILE

            ids[HELDOUT] = held_out_ids(Path(args.model), STANDOFF_FILE)
    except (BenchmarkError, OSError, KeyError, json.JSONDecodeError) as error:
        log(f"error: {error}")
        return 2
    from inference import Extractor
    from inference.atomic import write_json

    extractor = Extractor.from_pretrained(args.model, device=args.device)
    splits = [args.split] + (["train"] if args.split == "dev" and not args.no_train else [])
    results = []
    for split in splits:
        text, result = evaluate_split(split, extractor, rows, ids, fakes_dir)
        log(text + "\n")
        results.append(result)
    log(f"model {args.model}; null actor or cause scored as 'unknown'")
    if args.output:
        write_json(args.output, {"model": args.model, "results": results}, indent=1, ensure_ascii=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
