"""Evaluation: hand-computed scores, bootstrap intervals, the paired test, error lists, HTML, compare."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from inference.alignment import tokenize_text, unit_tags
from inference.spans import LABELS, Document, Span
from training.cli import main
from training.corpus.store import load_documents, write_documents
from training.evaluation.bootstrap import confidence_interval, paired_test
from training.evaluation.compare import CompareError, compare_reports, compare_runs, format_comparison
from training.evaluation.errors import context, document_errors
from training.evaluation.html import render_html
from training.evaluation.metrics import (
    SECTIONS,
    document_counts,
    evaluate,
    seqeval_from_tags,
    span_overlap_scores,
    span_scores,
)
from training.evaluation.report import build_report

ROOT = Path(__file__).resolve().parents[3]
TEXT = "Gunmen killed 12 villagers and wounded three in Zamfara on Monday."
GOLD = [
    Span(0, 6, "PERPETRATOR"),
    Span(14, 16, "CASUALTY_COUNT", "killed"),
    Span(17, 26, "VICTIM_TYPE"),
    Span(39, 44, "CASUALTY_COUNT", "injured"),
]
PREDICTED = [
    Span(0, 6, "PERPETRATOR"),  # right
    Span(7, 16, "CASUALTY_COUNT", "killed"),  # "killed 12": overlaps "12", wrong boundary
    Span(17, 26, "VICTIM_TYPE"),  # right
    Span(48, 55, "PERPETRATOR"),  # "Zamfara": spurious
]  # "three" is missed


def test_spans_in_the_example_are_what_the_comments_say():
    assert [TEXT[s.start : s.end] for s in GOLD] == ["Gunmen", "12", "villagers", "three"]
    assert [TEXT[s.start : s.end] for s in PREDICTED] == ["Gunmen", "killed 12", "villagers", "Zamfara"]


def test_exact_span_scores_by_hand():
    scores = span_scores([GOLD], [PREDICTED])
    # 2 of 4 predictions exactly right, 2 of 4 gold found.
    assert scores["micro"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 4})
    assert scores["per_label"]["PERPETRATOR"]["f1"] == pytest.approx(2 * 0.5 * 1.0 / 1.5)  # P 1/2, R 1/1
    assert scores["per_label"]["CASUALTY_COUNT"]["f1"] == 0.0
    assert scores["per_label"]["VICTIM_TYPE"]["f1"] == 1.0
    assert scores["macro"]["f1"] == pytest.approx((2 / 3 + 0 + 1) / 3)


def test_overlap_span_scores_by_hand():
    scores = span_overlap_scores([GOLD], [PREDICTED])
    # "killed 12" now matches "12": 3 of 4 predictions, 3 of 4 gold.
    assert scores["micro"]["f1"] == pytest.approx(0.75)
    count = scores["per_label"]["CASUALTY_COUNT"]
    assert (count["precision"], count["recall"]) == pytest.approx((1.0, 0.5))


def test_overlap_matching_is_one_to_one():
    gold = [Span(0, 6, "PERPETRATOR"), Span(7, 13, "PERPETRATOR")]
    one_long_prediction = [Span(0, 13, "PERPETRATOR")]
    scores = span_overlap_scores([gold], [one_long_prediction])
    assert scores["micro"]["precision"] == 1.0 and scores["micro"]["recall"] == 0.5


def test_seqeval_scores_by_hand(tokenizer):
    report = evaluate([Document("d", TEXT, GOLD)], [PREDICTED], tokenizer)
    # Units are words: B-PERPETRATOR and B-VICTIM_TYPE agree; the count spans do not.
    for mode in ("seqeval_strict", "seqeval_default"):
        assert report[mode]["micro"]["f1"] == pytest.approx(0.5)
        assert report[mode]["per_label"]["VICTIM_TYPE"]["f1"] == 1.0
    assert report["outcome"] == {"accuracy": None, "matched_counts": 0}  # n/a: no count found exactly


OVERLAP_TEXT = "Gunmen killed at least 14 people in the town."
OVERLAP_GOLD = [
    Span(0, 6, "PERPETRATOR"),
    Span(14, 25, "CASUALTY_COUNT", "killed"),
    Span(26, 32, "VICTIM_TYPE"),
]


def test_overlapping_predictions_are_each_scored_not_overwritten(tokenizer):
    predicted = [OVERLAP_GOLD[0], Span(14, 32, "CASUALTY_COUNT", "killed"), OVERLAP_GOLD[2]]
    assert OVERLAP_TEXT[14:32] == "at least 14 people"
    report = evaluate([Document("d", OVERLAP_TEXT, OVERLAP_GOLD)], [predicted], tokenizer)
    assert report["span_exact"]["micro"]["f1"] == pytest.approx(2 / 3)
    for mode in ("seqeval_strict", "seqeval_default"):
        assert report[mode]["micro"]["f1"] == pytest.approx(2 / 3)
        assert report[mode]["per_label"]["CASUALTY_COUNT"]["f1"] == 0.0


def test_a_prediction_cut_inside_a_word_is_a_false_positive(tokenizer):
    predicted = [Span(0, 5, "PERPETRATOR"), *OVERLAP_GOLD[1:]]
    assert OVERLAP_TEXT[0:5] == "Gunme"
    documents = [Document("d", OVERLAP_TEXT, OVERLAP_GOLD)]
    (counts,) = document_counts(documents, [predicted], tokenizer)
    report = evaluate(documents, [predicted], tokenizer)
    for mode in ("seqeval_strict", "seqeval_default"):
        assert counts[mode]["PERPETRATOR"] == (0, 1, 1)
        assert report[mode]["per_label"]["PERPETRATOR"] == {
            "precision": 0.0,
            "recall": 0.0,
            "f1": 0.0,
            "support": 1,
        }
        assert report[mode]["micro"]["precision"] == pytest.approx(2 / 3)


def randomly_perturbed(documents: list[Document], seed: int) -> list[list[Span]]:
    """Gold spans dropped, relabelled, duplicated, with boundaries shifted by characters (into
    words, across words) and with overlapping extra predictions."""
    rng = random.Random(seed)

    def labelled(start: int, end: int, label: str) -> Span:
        return Span(start, end, label, "killed" if label == "CASUALTY_COUNT" else None)

    out = []
    for document in documents:
        spans: list[Span] = []
        for span in document.spans:
            roll = rng.random()
            if roll < 0.15:
                continue
            start = min(max(0, span.start + rng.choice([0, 0, 0, -2, -1, 1, 3])), span.end - 1)
            end = max(min(len(document.text), span.end + rng.choice([0, 0, 0, -1, 1, 2, 7])), start + 1)
            spans.append(labelled(start, end, rng.choice(LABELS) if roll > 0.9 else span.label))
            if roll > 0.7:
                spans.append(labelled(max(0, span.start - rng.choice([0, 10])), span.end, rng.choice(LABELS)))
        out.append(spans)
    return out


@pytest.mark.parametrize("seed", range(12))
def test_seqeval_is_never_more_lenient_than_exact_spans(dev_documents, tokenizer, seed):
    predicted = randomly_perturbed(dev_documents, seed)
    report = evaluate(dev_documents, predicted, tokenizer)
    exact = report["span_exact"]["micro"]
    for mode in ("seqeval_strict", "seqeval_default"):
        for measure in ("precision", "recall", "f1"):
            assert report[mode]["micro"][measure] <= exact[measure] + 1e-9, (mode, measure)
    counts = document_counts(dev_documents, predicted, tokenizer)
    for section in ("seqeval_strict", "span_exact"):
        tp, n_pred, n_gold = (sum(c[section][label][i] for c in counts for label in LABELS) for i in range(3))
        assert report[section]["micro"]["precision"] == pytest.approx(tp / n_pred)
        assert report[section]["micro"]["recall"] == pytest.approx(tp / n_gold)


def test_seqeval_scores_of_well_formed_predictions_are_seqeval_s_own(dev_documents, tokenizer):
    predicted = perturbed(dev_documents)
    report = evaluate(dev_documents, predicted, tokenizer)
    units = [tokenize_text(tokenizer, d.text).units for d in dev_documents]
    gold_tags, pred_tags = (
        [unit_tags(u, spans, type_of=lambda s: s.label)[0] for u, spans in zip(units, side, strict=True)]
        for side in ([d.spans for d in dev_documents], predicted)
    )
    for mode in ("strict", "default"):
        expected = seqeval_from_tags(gold_tags, pred_tags, mode)
        scores = report[f"seqeval_{mode}"]
        assert scores["micro"] == pytest.approx(expected["micro"])
        assert scores["macro"] == pytest.approx(expected["macro"])
        for label in LABELS:
            assert scores["per_label"][label] == pytest.approx(expected["per_label"][label])


def test_strict_and_default_modes_differ_on_ill_formed_tags():
    gold = [["B-PERPETRATOR", "I-PERPETRATOR", "O"]]
    predicted = [["I-PERPETRATOR", "I-PERPETRATOR", "O"]]  # no B-: conlleval repairs it, strict drops it
    assert seqeval_from_tags(gold, predicted, "default")["micro"]["f1"] == 1.0
    assert seqeval_from_tags(gold, predicted, "strict")["micro"]["f1"] == 0.0
    with pytest.raises(ValueError, match="unknown seqeval mode"):
        seqeval_from_tags(gold, predicted, "lenient")


def perturbed(documents: list[Document]) -> list[list[Span]]:
    """Predictions with every kind of error: dropped, relabelled, and cut to their first word."""
    out = []
    for document in documents:
        spans = []
        for i, span in enumerate(document.spans):
            if i % 4 == 0:
                continue
            if i % 4 == 1:
                spans.append(Span(span.start, span.end, LABELS[(LABELS.index(span.label) + 1) % 3]))
            elif i % 4 == 2 and " " in document.text[span.start : span.end]:
                spans.append(Span(span.start, document.text.index(" ", span.start), span.label, span.outcome))
            else:
                spans.append(span)
        out.append(spans)
    return out


@pytest.fixture(scope="module")
def dev_documents() -> list[Document]:
    return load_documents(ROOT / "data/annotations/dev.jsonl")[:10]


def test_per_document_counts_add_up_to_the_whole_set_scores(dev_documents, tokenizer):
    predicted = perturbed(dev_documents)
    report = evaluate(dev_documents, predicted, tokenizer)
    counts = document_counts(dev_documents, predicted, tokenizer)
    for section in SECTIONS:
        tp, n_pred, n_gold = (sum(c[section][label][i] for c in counts for label in LABELS) for i in range(3))
        micro = report[section]["micro"]
        assert micro["precision"] == pytest.approx(tp / n_pred)
        assert micro["recall"] == pytest.approx(tp / n_gold)
        assert 0.2 < micro["f1"] < 0.9, "the perturbation should leave a mix of right and wrong"
    assert report["span_overlap"]["micro"]["f1"] > report["span_exact"]["micro"]["f1"]


def test_bootstrap_interval_holds_the_point_estimate_and_repeats_with_its_seed(dev_documents, tokenizer):
    counts = [
        c["seqeval_strict"] for c in document_counts(dev_documents, perturbed(dev_documents), tokenizer)
    ]
    interval = confidence_interval(counts, resamples=500, seed=7)
    report = evaluate(dev_documents, perturbed(dev_documents), tokenizer)
    assert interval["f1"] == pytest.approx(report["seqeval_strict"]["micro"]["f1"])
    assert interval["low"] < interval["f1"] < interval["high"]
    assert confidence_interval(counts, resamples=500, seed=7) == interval
    assert confidence_interval(counts, resamples=500, seed=8) != interval
    perfect = [{"PERPETRATOR": (3, 3, 3)}, {"VICTIM_TYPE": (1, 1, 1)}]
    assert confidence_interval(perfect, resamples=100)["low"] == 1.0


def test_paired_test_on_identical_and_on_clearly_better_systems():
    a = [{"PERPETRATOR": (1, 2, 2)} for _ in range(20)]
    same = paired_test(a, a, resamples=300)
    assert same["delta"] == 0.0 and same["p_value"] == 1.0
    better = [{"PERPETRATOR": (2, 2, 2)} for _ in range(20)]
    result = paired_test(a, better, resamples=300)
    assert result["delta"] == pytest.approx(0.5) and result["p_value"] == 0.0 and result["low"] > 0
    assert paired_test(better, a, resamples=300)["p_value"] == 1.0


def test_paired_test_gives_the_p_value_in_both_directions():
    a = [{"PERPETRATOR": (1, 2, 2)} for _ in range(20)]
    worse = [{"PERPETRATOR": (0, 2, 2)} for _ in range(20)]
    result = paired_test(a, worse, resamples=300)
    assert result["p_value"] == 1.0 and result["p_value_a_over_b"] == 0.0
    same = paired_test(a, a, resamples=300)
    assert same["p_value"] == same["p_value_a_over_b"] == 1.0
    doc = " ".join((paired_test.__doc__ or "").split())
    assert "accident" not in doc and "share of resamples in which B is *not* better than A" in doc


def gold_entities(documents: list[Document]) -> tuple[list[list[Span]], list[list[dict]]]:
    """The gold spans as predictions: the spans scored and their JSON shown in the report."""
    shown = [
        [{**s.to_dict(), "text": d.text[s.start : s.end], "score": 1.0} for s in d.spans] for d in documents
    ]
    return [list(d.spans) for d in documents], shown


@pytest.mark.parametrize("resamples,shown", [(1000, "p < 0.001"), (300, "p < 0.0033")])
def test_compare_says_which_model_is_better(tokenizer, resamples, shown):
    documents = load_documents(ROOT / "data/annotations/dev.jsonl")[:6]
    perfect = build_report(documents, *gold_entities(documents), tokenizer, resamples=10)
    nothing = [[] for _ in documents]
    empty = build_report(documents, nothing, nothing, tokenizer, resamples=10)
    worse_b = format_comparison(compare_reports(perfect, empty, resamples=resamples))
    assert f"seqeval_strict: A is better at the 5% level ({shown} for A over B)" in worse_b
    assert "favouring B" not in worse_b and "p = 1.0000" not in worse_b.splitlines()[-1]
    better_b = format_comparison(compare_reports(empty, perfect, resamples=resamples))
    assert f"seqeval_strict: B is better at the 5% level ({shown} for B over A)" in better_b
    same = format_comparison(compare_reports(empty, empty, resamples=resamples))
    assert same.splitlines()[-1] == (
        "seqeval_strict: no significant difference at the 5% level "
        "(p = 1.0000 for B over A, p = 1.0000 for A over B)"
    )


def test_compare_runs_averages_scores_and_pools_the_test(tokenizer, tmp_path, capsys):
    documents = load_documents(ROOT / "data/annotations/dev.jsonl")[:6]
    perfect = build_report(documents, *gold_entities(documents), tokenizer, resamples=10)
    nothing = [[] for _ in documents]
    empty = build_report(documents, nothing, nothing, tokenizer, resamples=10)
    single = compare_reports(empty, perfect, resamples=200)
    # The same training twice on each side: same means, and pooled counts give the same test.
    twice = compare_runs([empty, empty], [perfect, perfect], resamples=200)
    assert twice["metrics"] == single["metrics"]
    assert twice["paired_bootstrap"] == single["paired_bootstrap"]
    assert (twice["a"]["runs"], single["a"]["runs"]) == (2, 1)
    # Two different runs on one side: each score is their mean; the test scores the pooled counts.
    mixed = compare_runs([empty, perfect], [perfect], resamples=200)
    row = next(r for r in mixed["metrics"] if r["metric"] == "seqeval_strict micro f1")
    assert (row["a"], row["b"], row["delta"]) == (0.5, 1.0, 0.5)
    strict = mixed["paired_bootstrap"]["seqeval_strict"]
    tp, gold = (
        sum(t[i] for d in perfect["per_document"] for t in d["counts"]["seqeval_strict"].values())
        for i in (0, 2)
    )
    assert strict["a"] == pytest.approx(2 * tp / (tp + 2 * gold))  # pooled: tp of one run, gold of two
    assert "scores are the mean of 2 runs, the test pools them" in format_comparison(mixed)
    fewer = build_report(documents[:5], nothing[:5], nothing[:5], tokenizer, resamples=10)
    with pytest.raises(CompareError, match=rf"1 document\(s\) only in A1: {documents[5].id}"):
        compare_runs([empty, fewer], [perfect])
    paths = {}
    for name, report in (("empty", empty), ("perfect", perfect)):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(report))
    args = ["compare", "--a", str(paths["empty"]), str(paths["perfect"]), "--b", str(paths["perfect"])]
    assert main([*args, "--output", str(tmp_path / "c.json")]) == 0
    assert json.loads((tmp_path / "c.json").read_text())["metrics"] == mixed["metrics"]
    capsys.readouterr()
    assert main(["compare", "--a", str(paths["empty"])]) == 2
    assert main([*args, "--data", str(paths["empty"])]) == 2
    assert "--a REPORT... --b REPORT..." in capsys.readouterr().err


def test_false_positives_and_negatives_with_their_context():
    errors = document_errors(TEXT, GOLD, PREDICTED, words=2)
    assert [(e["text"], e["type"]) for e in errors["false_positives"]] == [
        ("killed 12", "boundary"),
        ("Zamfara", "spurious"),
    ]
    assert [(e["text"], e["type"]) for e in errors["false_negatives"]] == [
        ("12", "boundary"),
        ("three", "missed"),
    ]
    missed = errors["false_negatives"][1]["context"]
    assert missed == {"left": "…and wounded ", "text": "three", "right": " in Zamfara…"}
    assert errors["false_positives"][0]["other"]["text"] == "12"


def test_wrong_label_and_wrong_outcome_are_told_apart():
    gold = [Span(0, 6, "PERPETRATOR"), Span(39, 44, "CASUALTY_COUNT", "injured")]
    predicted = [Span(0, 6, "VICTIM_TYPE"), Span(39, 44, "CASUALTY_COUNT", "killed")]
    errors = document_errors(TEXT, gold, predicted)
    assert [e["type"] for e in errors["false_positives"]] == ["label"]
    assert [e["type"] for e in errors["false_negatives"]] == ["label"]
    assert [(e["outcome"], e["other"]["outcome"]) for e in errors["outcome_errors"]] == [
        ("killed", "injured")
    ]


def test_context_squashes_whitespace_and_marks_cut_text():
    text = "First line.\n\nSecond   line with a count of 12 people\tand more words here."
    start = text.index("12")
    assert context(text, start, start + 2, words=3) == {
        "left": "…a count of ",
        "text": "12",
        "right": " people and more…",
    }


def test_html_view_escapes_text_and_colours_both_sides():
    text = 'Militants <script>alert("x")</script> & co killed 5 "civilians".'
    gold = [Span(0, 9, "PERPETRATOR"), Span(50, 51, "CASUALTY_COUNT", "killed"), Span(53, 62, "VICTIM_TYPE")]
    predicted = [Span(0, 9, "PERPETRATOR"), Span(53, 62, "VICTIM_TYPE"), Span(40, 42, "PERPETRATOR")]
    assert text[50:51] == "5" and text[53:62] == "civilians"
    page = render_html([Document("doc<1>", text, gold)], [predicted])
    assert "<script>alert" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "doc&lt;1&gt;" in page and "doc<1>" not in page
    assert page.count('<mark class="ent missed"') == 1 + 1  # the "5" and the legend
    assert page.count('<mark class="ent wrong"') == 1 + 1  # "co" and the legend
    assert ">Militants<span" in page and ">civilians<span" in page
    assert "http://" not in page and "https://" not in page and "src=" not in page


@pytest.fixture(scope="module")
def small_gold(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gold") / "gold.jsonl"
    write_documents(path, load_documents(ROOT / "data/annotations/dev.jsonl")[:5])
    return path


def test_evaluate_command_writes_report_predictions_and_html(busy_model, small_gold, tmp_path, capsys):
    from inference import Extractor

    out, page = tmp_path / "report.json", tmp_path / "view.html"
    args = ["evaluate", "--model", str(busy_model), "--data", str(small_gold), "--resamples", "200"]
    assert main([*args, "--output", str(out), "--html", str(page)]) == 0
    printed = capsys.readouterr().out
    assert "seqeval_default:" in printed and "most frequent errors" in printed
    report = json.loads(out.read_text())
    assert set(report) >= {"seqeval_strict", "seqeval_default", "span_exact", "span_overlap", "bootstrap"}
    assert report["bootstrap"]["seqeval_strict"]["resamples"] == 200
    documents = load_documents(small_gold)
    expected = Extractor.from_pretrained(busy_model, device="cpu").extract([d.text for d in documents])
    assert [d["entities"] for d in report["per_document"]] == [[e.to_dict() for e in doc] for doc in expected]
    assert any(d["errors"]["false_positives"] for d in report["per_document"])
    html_page = page.read_text()
    assert all(f">{document.id}</a>" in html_page for document in documents)
    first_entity = expected[0][0]
    assert f">{first_entity.text}<span" in html_page


def test_compare_reports_from_files_and_from_models(busy_model, tiny_model, small_gold, tmp_path, capsys):
    paths = []
    for name, model in (("tiny", tiny_model), ("busy", busy_model)):
        paths.append(tmp_path / f"{name}.json")
        assert (
            main(["evaluate", "--model", str(model), "--data", str(small_gold), "--output", str(paths[-1])])
            == 0
        )
    capsys.readouterr()
    assert main(["compare", str(paths[0]), str(paths[0])]) == 0
    assert "p(B not better) = 1.0000" in capsys.readouterr().out
    out = tmp_path / "comparison.json"
    assert main(["compare", str(paths[0]), str(paths[1]), "--output", str(out)]) == 0
    from_files = json.loads(out.read_text())
    busy, tiny = (json.loads(p.read_text()) for p in (paths[1], paths[0]))
    row = next(r for r in from_files["metrics"] if r["metric"] == "seqeval_strict micro f1")
    assert row["delta"] == pytest.approx(
        busy["seqeval_strict"]["micro"]["f1"] - tiny["seqeval_strict"]["micro"]["f1"]
    )
    assert 0.0 <= from_files["paired_bootstrap"]["seqeval_strict"]["p_value"] <= 1.0

    args = ["compare", "--models", str(tiny_model), str(busy_model), "--data", str(small_gold)]
    assert main([*args, "--output", str(out)]) == 0
    from_models = json.loads(out.read_text())
    assert from_models["metrics"] == from_files["metrics"]
    assert from_models["paired_bootstrap"] == from_files["paired_bootstrap"]


def test_compare_refuses_reports_on_different_gold(tokenizer, tmp_path, capsys):
    documents = load_documents(ROOT / "data/annotations/dev.jsonl")[:4]
    entities = [[] for _ in documents]
    base = build_report(documents, entities, entities, tokenizer, resamples=10)
    fewer = build_report(documents[:3], entities[:3], entities[:3], tokenizer, resamples=10)
    with pytest.raises(CompareError, match=rf"1 document\(s\) only in A: {documents[3].id}"):
        compare_reports(base, fewer)
    changed = [Document(d.id, d.text, d.spans[1:]) if i == 2 else d for i, d in enumerate(documents)]
    with pytest.raises(CompareError, match=rf"different gold: {documents[2].id}"):
        compare_reports(base, build_report(changed, entities, entities, tokenizer, resamples=10))
    (tmp_path / "a.json").write_text(json.dumps(base))
    (tmp_path / "b.json").write_text(json.dumps(fewer))
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 2
    assert "not on the same gold" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "a.json")]) == 2
    assert "give two report files" in capsys.readouterr().err


def write_predictions(path: Path, documents: list[Document], entities: list[list[dict]]) -> Path:
    lines = [json.dumps({"id": d.id, "entities": e}) for d, e in zip(documents, entities, strict=True)]
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def test_outcome_accuracy_without_matched_counts_is_n_a_and_left_out_of_compare(tmp_path, capsys):
    """0 matched counts: the accuracy is undefined, not 0; compare shows no difference for it."""
    documents = [
        d for d in load_documents(ROOT / "data/annotations/dev.jsonl") if any(s.outcome for s in d.spans)
    ][:3]
    gold = tmp_path / "gold.jsonl"
    write_documents(gold, documents)
    systems = {
        "none": [[] for _ in documents],  # finds no count: nothing to judge the outcome of
        "gold": gold_entities(documents)[1],
    }
    reports = {}
    for name, entities in systems.items():
        predictions = write_predictions(tmp_path / f"{name}-predictions.jsonl", documents, entities)
        reports[name] = tmp_path / f"{name}.json"
        args = ["evaluate", "--predictions", str(predictions), "--data", str(gold), "--resamples", "20"]
        assert main([*args, "--output", str(reports[name])]) == 0
        printed = capsys.readouterr().out
        if name == "none":
            assert "outcome accuracy n/a on 0 matched counts" in printed and "0.0000 on 0" not in printed
    none, perfect = (json.loads(reports[n].read_text()) for n in ("none", "gold"))
    assert none["outcome"] == {"accuracy": None, "matched_counts": 0}
    assert perfect["outcome"]["accuracy"] == 1.0 and perfect["outcome"]["matched_counts"] > 0

    out = tmp_path / "comparison.json"
    assert main(["compare", str(reports["none"]), str(reports["gold"]), "--output", str(out)]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("outcome accuracy")]
    assert line.split() == ["outcome", "accuracy", "n/a", "1.0000", "n/a"]
    (row,) = [r for r in json.loads(out.read_text())["metrics"] if r["metric"] == "outcome accuracy"]
    assert row == {"metric": "outcome accuracy", "a": None, "b": 1.0, "delta": None}


def test_compare_prints_every_p_value_of_0_as_below_one_resample(tokenizer, tmp_path, capsys):
    """The per-section lines use the verdict's form: a share of 0 is ``p < 1/resamples``."""
    documents = load_documents(ROOT / "data/annotations/dev.jsonl")[:6]
    paths = []
    nothing = [[] for _ in documents]
    for name, (spans, shown) in (("empty", (nothing, nothing)), ("perfect", gold_entities(documents))):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(build_report(documents, spans, shown, tokenizer, resamples=10)))
    assert main(["compare", *map(str, paths)]) == 0
    printed = capsys.readouterr().out
    sections = [line for line in printed.splitlines() if line.startswith("paired bootstrap, ")]
    assert len(sections) == len(SECTIONS)
    for line in sections:
        assert "p(B not better) < 0.001, p(A not better) = 1.0000" in line, line
    assert "= 0.0000" not in printed
