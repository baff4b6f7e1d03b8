"""A self-contained HTML page of predictions against gold, entities coloured in the text.

The look follows displaCy's entity view: each entity is a coloured mark with its label beside the
words. Gold and prediction sit side by side (stacked on narrow screens); a prediction that is not
exactly a gold span has a solid red frame, a gold span the model did not find exactly has a
dashed one. All text is HTML-escaped; the page loads nothing from elsewhere.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from inference.spans import Document, Span

COLOURS = {"CASUALTY_COUNT": "#feca74", "VICTIM_TYPE": "#7aecec", "PERPETRATOR": "#aa9cfc"}
_GOLDEN_ANGLE = 137.508  # successive hues this far apart stay distinct however many there are


def label_colours(labels: Iterable[str]) -> dict[str, str]:
    """A background colour per label: the default palette for its labels, and for the others (in
    name order) light hues a golden angle apart."""
    colours = {label: COLOURS[label] for label in labels if label in COLOURS}
    others = sorted({label for label in labels if label not in COLOURS})
    for index, label in enumerate(others):
        colours[label] = f"hsl({(100 + index * _GOLDEN_ANGLE) % 360:.0f}, 75%, 78%)"
    return colours


def page_labels(documents: list[Document], predicted: list[list[Span]]) -> list[str]:
    """The labels of a page's legend: the default ones when every span has one, else those found."""
    found = {s.label for d in documents for s in d.spans} | {s.label for p in predicted for s in p}
    return list(COLOURS) if found <= set(COLOURS) else sorted(found)


_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2.5em; } h3 { font-size: 0.9em; color: #666; }
table { border-collapse: collapse; } td, th { padding: 0.2em 0.8em; text-align: left; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 2em; }
@media (max-width: 900px) { .pair { grid-template-columns: 1fr; } }
.text { white-space: pre-wrap; line-height: 2.5; border-top: 1px solid #ddd; }
mark.ent { padding: 0.25em 0.4em; margin: 0 0.15em; border-radius: 0.35em; line-height: 1;
  box-decoration-break: clone; -webkit-box-decoration-break: clone; }
mark.wrong { outline: 2px solid #d00; } mark.missed { outline: 2px dashed #d00; }
.label { font-size: 0.6em; font-weight: bold; line-height: 1; vertical-align: middle; margin-left: 0.5em;
  text-transform: uppercase; }
.counts { font-weight: normal; color: #666; font-size: 0.85em; }
body.errors-only section.clean { display: none; }
"""

_SCRIPT = (
    "document.getElementById('only-errors').addEventListener('change', "
    "e => document.body.classList.toggle('errors-only', e.target.checked));"
)


def _key(span: Span) -> tuple[int, int, str]:
    return (span.start, span.end, span.label)


def _mark(text: str, span: Span, css: str, note: str, colours: dict[str, str]) -> str:
    label = span.label + (f" {span.outcome}" if span.outcome else "")
    colour = colours.get(span.label, "#ddd")
    title = f' title="{html.escape(note)}"' if note else ""
    return (
        f'<mark class="{" ".join(["ent", css]).strip()}" style="background: {colour}"{title}>'
        f"{html.escape(text[span.start : span.end])}"
        f'<span class="label">{html.escape(label)}</span></mark>'
    )


def _marked_text(text: str, marks: list[tuple[Span, str, str]], colours: dict[str, str]) -> str:
    """The text with each (span, css class, tooltip) marked; overlapping marks are skipped."""
    parts, position = [], 0
    for span, css, note in sorted(marks, key=lambda m: (m[0].start, m[0].end)):
        if span.start < position:
            continue
        parts.append(html.escape(text[position : span.start]))
        parts.append(_mark(text, span, css, note, colours))
        position = span.end
    parts.append(html.escape(text[position:]))
    return "".join(parts)


def _document_marks(
    gold: list[Span], predicted: list[Span]
) -> tuple[list[tuple[Span, str, str]], list[tuple[Span, str, str]], dict[str, int]]:
    gold_by_key = {_key(s): s for s in gold}
    pred_keys = {_key(s) for s in predicted}
    gold_marks = [
        (s, "" if _key(s) in pred_keys else "missed", "" if _key(s) in pred_keys else "not found exactly")
        for s in gold
    ]
    pred_marks = []
    counts = {"correct": 0, "false positives": 0, "false negatives": 0, "wrong outcome": 0}
    for span in predicted:
        match = gold_by_key.get(_key(span))
        if match is None:
            pred_marks.append((span, "wrong", "not a gold span"))
            counts["false positives"] += 1
        elif match.outcome != span.outcome:
            pred_marks.append((span, "wrong", f"gold outcome is {match.outcome}"))
            counts["wrong outcome"] += 1
        else:
            pred_marks.append((span, "", ""))
            counts["correct"] += 1
    counts["false negatives"] = sum(1 for _, css, _ in gold_marks if css)
    return gold_marks, pred_marks, counts


def render_html(
    documents: list[Document],
    predicted: list[list[Span]],
    title: str = "conflict-ie: predictions against gold",
    report: dict[str, Any] | None = None,
) -> str:
    """The whole page as a string; ``report`` (from ``evaluate``) adds a score table on top."""
    labels = page_labels(documents, predicted)
    colours = label_colours(labels)
    sections, index_rows = [], []
    for number, (document, pred_spans) in enumerate(zip(documents, predicted, strict=True)):
        gold_marks, pred_marks, counts = _document_marks(document.spans, pred_spans)
        errors = counts["false positives"] + counts["false negatives"] + counts["wrong outcome"]
        summary = " · ".join(
            f"{value} {name}" for name, value in counts.items() if value or name != "wrong outcome"
        )
        anchor = f"doc-{number}"
        gold_text = _marked_text(document.text, gold_marks, colours)
        pred_text = _marked_text(document.text, pred_marks, colours)
        index_rows.append(
            f'<tr><td><a href="#{anchor}">{html.escape(document.id)}</a></td>'
            f"<td>{counts['correct']}</td><td>{counts['false positives']}</td>"
            f"<td>{counts['false negatives']}</td></tr>"
        )
        sections.append(
            f'<section id="{anchor}" class="{"errors" if errors else "clean"}">'
            f'<h2>{html.escape(document.id)} <span class="counts">{summary}</span></h2>'
            f'<div class="pair"><div><h3>gold</h3><div class="text">{gold_text}'
            f'</div></div><div><h3>predicted</h3><div class="text">{pred_text}'
            "</div></div></div></section>"
        )
    legend = " ".join(_mark(label, Span(0, len(label), label), "", "", colours) for label in labels)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{_scores_table(report) if report else ''}"
        f'<p>{legend}</p><p><mark class="ent wrong">predicted, not a gold span</mark> '
        '<mark class="ent missed">gold, not found exactly</mark></p>'
        '<p><label><input type="checkbox" id="only-errors"> only documents with errors</label></p>'
        "<table><tr><th>document</th><th>correct</th><th>false positives</th><th>false negatives</th></tr>"
        f"{''.join(index_rows)}</table>{''.join(sections)}<script>{_SCRIPT}</script></body></html>\n"
    )


def _scores_table(report: dict[str, Any]) -> str:
    rows = []
    for section in ("seqeval_strict", "seqeval_default", "span_exact", "span_overlap"):
        if section not in report:
            continue
        micro = report[section]["micro"]
        interval = report.get("bootstrap", {}).get(section)
        ci = f" [{interval['low']:.3f}, {interval['high']:.3f}]" if interval else ""
        rows.append(
            f"<tr><td>{section}</td><td>{micro['precision']:.3f}</td><td>{micro['recall']:.3f}</td>"
            f"<td>{micro['f1']:.3f}{ci}</td></tr>"
        )
    source = " · ".join(html.escape(str(report[k])) for k in ("model", "predictions", "data") if k in report)
    intervals = list(report.get("bootstrap", {}).values())
    ci_name = f" [{intervals[0]['confidence']:.0%} CI over documents]" if intervals else ""
    return (
        f"<p>{source}</p><table><tr><th>micro</th><th>P</th><th>R</th><th>F1{ci_name}</th></tr>"
        f"{''.join(rows)}</table>"
    )
