"""Look before training: a data check of corpus splits, in the spirit of spaCy's ``debug data``.

``check_data`` takes named splits of documents and returns a ``DataCheck`` with these sections
(``to_dict()`` for JSON, ``format_check`` for text); errors and warnings are gathered at the end:

- ``counts``: documents, words (whitespace-separated) and spans per model entity type and split,
  and the total (the table ``conflict-ie stats`` always printed).
- ``spans_per_document``: mean, median and largest number of spans per document, and the documents
  with no span (info: such documents teach the model what is *not* an entity).
- ``window_cut`` (only with a tokenizer): long documents are split into overlapping windows exactly
  as training does (``inference.alignment.make_windows``, ``max_length`` tokens with special
  tokens, ``stride`` tokens shared). A span is *cut* when it runs past the end of the first window
  it starts in. A cut span is still trained on whole in the next window, which overlaps the first
  by ``stride`` tokens; only a span whole in *no* window (``cut_in_every_window``, a warning) is
  never seen whole. Spans that do not start and end on the tokenizer's word units can not be
  trained at all (``not_on_token_boundaries``, an error: ``train`` refuses them).
- ``rare_labels``: the reference split is the one named ``train`` (``train`` or ``train.jsonl``),
  else the first. A label is rare in another split when its share of that split's spans is below
  ``RARE_FRACTION`` (one half) of its share of the reference split's spans (a split with no spans
  is skipped). A label with fewer than ``MIN_REFERENCE_EXAMPLES`` spans in the reference split is
  warned about too (spaCy warns under 50 examples for a named-entity label).
- ``inconsistent_strings``: ``training.corpus.quality``'s ``inconsistent`` check run over all splits
  together (the same string between the same two words labelled differently, or labelled in some
  places and untagged in others within casualty sentences); each occurrence departing from the
  majority is listed.
- ``new_labels``: entity types of a split absent from the reference split (a warning: the model
  never learns them), and entity types outside the label schema's (an error naming the schema: the
  default labels, a config's, a model's or the corpus's; ``label_set`` says which).
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from inference.alignment import SpecialTokens, make_windows, tokenize_text
from inference.schema import DEFAULT_SCHEMA, LabelSchema
from inference.spans import Document, Span

RARE_FRACTION = 0.5
MIN_REFERENCE_EXAMPLES = 50
SHOWN = 10  # items of a long list shown in the text form (the JSON has them all)


def type_of(span: Span) -> str:
    """A span's entity type as the model sees it (``CASUALTY_COUNT:killed``); as read, if unknown."""
    return f"{span.label}:{span.outcome}" if span.outcome else span.label


@dataclass
class SplitCounts:
    documents: int = 0
    words: int = 0
    spans: int = 0
    labels: dict[str, int] = field(default_factory=dict)


@dataclass
class SpanDensity:
    mean: float
    median: float
    max: int
    documents_without_spans: int
    ids_without_spans: list[str]


@dataclass
class WindowCut:
    spans: int = 0
    documents: int = 0
    documents_with_several_windows: int = 0
    windows: int = 0
    cut_in_first_window: int = 0
    cut_in_every_window: int = 0
    not_on_token_boundaries: int = 0
    # (document id, start, end, text) of spans whole in no window, and of unaligned spans
    never_whole: list[tuple[str, int, int, str]] = field(default_factory=list)
    unaligned: list[tuple[str, int, int, str]] = field(default_factory=list)

    @property
    def share_cut(self) -> float:
        return self.cut_in_first_window / self.spans if self.spans else 0.0


@dataclass
class RareLabel:
    split: str
    label: str
    count: int
    share: float
    reference_share: float


@dataclass
class Inconsistent:
    split: str
    document: str
    start: int
    end: int
    text: str
    message: str


@dataclass
class DataCheck:
    splits: list[str]
    reference: str
    labels: list[str]
    counts: dict[str, SplitCounts]
    total: SplitCounts
    density: dict[str, SpanDensity]
    window_cut: dict[str, WindowCut] | None
    tokenizer: str | None
    max_length: int
    stride: int
    rare: list[RareLabel]
    few_reference_examples: dict[str, int]
    inconsistent: list[Inconsistent]
    not_in_reference: dict[str, list[str]]
    outside_label_set: dict[str, list[str]]
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    label_set: str = "the project's set"  # whose labels ``labels`` are, in messages

    def to_dict(self) -> dict[str, Any]:
        window = None
        if self.window_cut is not None:
            window = {
                "tokenizer": self.tokenizer,
                "max_length": self.max_length,
                "stride": self.stride,
                "splits": {
                    split: {
                        **{k: v for k, v in asdict(cut).items() if k not in ("never_whole", "unaligned")},
                        "share_cut": round(cut.share_cut, 4),
                        "never_whole": [_place(*item) for item in cut.never_whole],
                        "unaligned": [_place(*item) for item in cut.unaligned],
                    }
                    for split, cut in self.window_cut.items()
                },
            }
        return {
            "splits": self.splits,
            "reference": self.reference,
            "labels": self.labels,
            "counts": {**{s: asdict(c) for s, c in self.counts.items()}, "total": asdict(self.total)},
            "spans_per_document": {s: asdict(d) for s, d in self.density.items()},
            "window_cut": window,
            "rare_labels": {
                "fraction": RARE_FRACTION,
                "min_reference_examples": MIN_REFERENCE_EXAMPLES,
                "rare": [asdict(r) for r in self.rare],
                "few_reference_examples": self.few_reference_examples,
            },
            "inconsistent_strings": [asdict(i) for i in self.inconsistent],
            "new_labels": {
                "not_in_reference": self.not_in_reference,
                "outside_label_set": self.outside_label_set,
            },
            "warnings": self.warnings,
            "errors": self.errors,
        }


def _place(doc_id: str, start: int, end: int, text: str) -> dict[str, Any]:
    return {"document": doc_id, "start": start, "end": end, "text": text}


def reference_split(names: list[str]) -> str:
    """The split named train (``train``, ``train.jsonl``, ``data/train.jsonl``), else the first."""
    return next((name for name in names if Path(name).stem == "train"), names[0])


def check_data(
    files: dict[str, list[Document]],
    tokenizer: Any = None,
    max_length: int = 256,
    stride: int = 64,
    schema: LabelSchema = DEFAULT_SCHEMA,
    label_set: str = "the project's set",
) -> DataCheck:
    """The data check of named splits (see the module) against ``schema``'s entity types, which
    ``label_set`` names in messages; ``tokenizer=None`` skips the window cut."""
    if not files:
        raise ValueError("no split to check")
    names = list(files)
    reference = reference_split(names)
    known = schema.entity_types()
    counts = {name: _counts(documents, known) for name, documents in files.items()}
    total = SplitCounts(labels={k: 0 for k in known})
    for split in counts.values():
        total.documents += split.documents
        total.words += split.words
        total.spans += split.spans
        for label, n in split.labels.items():
            total.labels[label] = total.labels.get(label, 0) + n

    window_cut = None
    tokenizer_name = None
    if tokenizer is not None:
        special = SpecialTokens.of(tokenizer)
        if not 0 <= stride < max_length - special.count:
            raise ValueError(
                f"need 0 <= stride < max_length - {special.count} special tokens, "
                f"got max_length={max_length}, stride={stride}"
            )
        tokenizer_name = getattr(tokenizer, "name_or_path", None)
        window_cut = {
            name: _window_cut(documents, tokenizer, max_length - special.count, stride)
            for name, documents in files.items()
        }

    rare, few = _rare_labels(counts, reference, known)
    not_in_reference = {
        name: [label for label, n in split.labels.items() if n and not counts[reference].labels.get(label)]
        for name, split in counts.items()
        if name != reference
    }
    outside = {
        name: [label for label in split.labels if label not in known] for name, split in counts.items()
    }
    check = DataCheck(
        splits=names,
        reference=reference,
        labels=known,
        counts=counts,
        total=total,
        density={name: _density(documents) for name, documents in files.items()},
        window_cut=window_cut,
        tokenizer=tokenizer_name,
        max_length=max_length,
        stride=stride,
        rare=rare,
        few_reference_examples=few,
        inconsistent=_inconsistent(files),
        not_in_reference={k: v for k, v in not_in_reference.items() if v},
        outside_label_set={k: v for k, v in outside.items() if v},
        label_set=label_set,
    )
    _judge(check)
    return check


def _counts(documents: list[Document], known: list[str]) -> SplitCounts:
    labels = {k: 0 for k in known}
    for document in documents:
        for span in document.spans:
            labels[type_of(span)] = labels.get(type_of(span), 0) + 1
    return SplitCounts(
        documents=len(documents),
        words=sum(len(d.text.split()) for d in documents),
        spans=sum(len(d.spans) for d in documents),
        labels=labels,
    )


def _density(documents: list[Document]) -> SpanDensity:
    per_document = [len(d.spans) for d in documents] or [0]
    empty = [d.id for d in documents if not d.spans]
    return SpanDensity(
        mean=round(statistics.fmean(per_document), 4),
        median=float(statistics.median(per_document)),
        max=max(per_document),
        documents_without_spans=len(empty),
        ids_without_spans=empty,
    )


def _window_cut(documents: list[Document], tokenizer: Any, max_tokens: int, stride: int) -> WindowCut:
    cut = WindowCut(documents=len(documents))
    for document in documents:
        tokenized = tokenize_text(tokenizer, document.text)
        windows = make_windows(tokenized, max_tokens, stride)
        cut.windows += len(windows)
        cut.documents_with_several_windows += len(windows) > 1
        units = tokenized.units
        unit_at_start = {unit.start: i for i, unit in enumerate(units)}
        unit_at_end = {unit.end: i for i, unit in enumerate(units)}
        for span in document.spans:
            cut.spans += 1
            where = (document.id, span.start, span.end, document.text[span.start : span.end])
            first, last = unit_at_start.get(span.start), unit_at_end.get(span.end)
            if first is None or last is None or last < first:
                cut.not_on_token_boundaries += 1
                cut.unaligned.append(where)
                continue
            first_token = units[first].token
            # A unit's tokens run up to the next unit's first token.
            last_token = (units[last + 1].token if last + 1 < len(units) else len(tokenized.token_ids)) - 1
            opening = next(w for w in windows if w.start <= first_token < w.end)
            if last_token >= opening.end:
                cut.cut_in_first_window += 1
                if not any(w.start <= first_token and last_token < w.end for w in windows):
                    cut.cut_in_every_window += 1
                    cut.never_whole.append(where)
    return cut


def _rare_labels(
    counts: dict[str, SplitCounts], reference: str, known: list[str]
) -> tuple[list[RareLabel], dict[str, int]]:
    base = counts[reference]
    rare = []
    for name, split in counts.items():
        if name == reference or not split.spans or not base.spans:
            continue
        for label in known:
            reference_share = base.labels.get(label, 0) / base.spans
            share = split.labels.get(label, 0) / split.spans
            if reference_share and share < RARE_FRACTION * reference_share:
                rare.append(
                    RareLabel(
                        name, label, split.labels.get(label, 0), round(share, 4), round(reference_share, 4)
                    )
                )
    few = {
        label: base.labels.get(label, 0)
        for label in known
        if base.labels.get(label, 0) < MIN_REFERENCE_EXAMPLES
    }
    return rare, few


def _inconsistent(files: dict[str, list[Document]]) -> list[Inconsistent]:
    from training.corpus.quality import inconsistent_strings

    located = [
        (name, number, document)
        for name, documents in files.items()
        for number, document in enumerate(documents, start=1)
    ]
    texts = {(name, number): document.text for name, number, document in located}
    order = {name: index for index, name in enumerate(files)}
    return [
        Inconsistent(s.path, s.doc_id, s.start, s.end, texts[(s.path, s.line)][s.start : s.end], s.message)
        for s in sorted(inconsistent_strings(located), key=lambda s: (order[s.path], s.line, s.start))
    ]


def _judge(check: DataCheck) -> None:
    reference = check.reference
    for name, labels in check.outside_label_set.items():
        check.errors.append(
            f"{name}: entity type(s) outside {check.label_set} ({', '.join(check.labels)}): "
            f"{', '.join(labels)}"
        )
    for name, labels in check.not_in_reference.items():
        check.warnings.append(
            f"{name}: entity type(s) not in {reference}, never learned: {', '.join(labels)}"
        )
    if check.window_cut is not None:
        for name, cut in check.window_cut.items():
            if cut.not_on_token_boundaries:
                check.errors.append(
                    f"{name}: {cut.not_on_token_boundaries} span(s) not on the tokenizer's word units "
                    "(train refuses them)"
                )
            if cut.cut_in_every_window:
                check.warnings.append(
                    f"{name}: {cut.cut_in_every_window} span(s) whole in no window (longer than the "
                    f"{check.stride}-token overlap): never trained on whole"
                )
    for item in check.rare:
        check.warnings.append(
            f"{item.split}: {item.label} is rare: {item.share:.1%} of its spans ({item.count}) against "
            f"{item.reference_share:.1%} in {reference}"
        )
    for label, n in check.few_reference_examples.items():
        check.warnings.append(f"{reference}: only {n} {label} span(s) (fewer than {MIN_REFERENCE_EXAMPLES})")
    if check.inconsistent:
        strings = len({(i.text.lower(), i.message.split(" is ")[0]) for i in check.inconsistent})
        check.warnings.append(
            f"{len(check.inconsistent)} occurrence(s) of {strings} string(s) labelled differently from "
            "the same string in the same context elsewhere"
        )
    for name, density in check.density.items():
        documents = check.counts[name].documents
        if documents and density.documents_without_spans == documents:
            check.warnings.append(f"{name}: no document has a span")


def _table(check: DataCheck) -> list[str]:
    keys = check.labels
    lines = [f"{'split':28s} {'docs':>5s} {'words':>7s} " + " ".join(f"{k:>22s}" for k in keys)]
    for name, split in [*check.counts.items(), ("total", check.total)]:
        lines.append(
            f"{Path(name).name:28s} {split.documents:5d} {split.words:7d} "
            + " ".join(f"{split.labels.get(k, 0):22d}" for k in keys)
        )
    return lines


def format_check(check: DataCheck) -> str:
    """The text form: the label table first, then one section per check, then the verdicts."""
    lines = _table(check)
    lines += [
        "",
        "== spans per document",
        f"{'split':28s} {'mean':>6s} {'median':>6s} {'max':>4s} {'no spans':>9s}",
    ]
    for name, d in check.density.items():
        share = (
            d.documents_without_spans / check.counts[name].documents if check.counts[name].documents else 0
        )
        lines.append(
            f"{Path(name).name:28s} {d.mean:6.2f} {d.median:6.1f} {d.max:4d} "
            f"{d.documents_without_spans:4d} ({share:.0%})"
        )
    lines.append("")
    if check.window_cut is None:
        lines.append("== window cut: skipped (no tokenizer)")
    else:
        lines.append(
            f"== window cut: max_length {check.max_length}, stride {check.stride}, "
            f"tokenizer {check.tokenizer}"
        )
        lines.append(
            "cut: spans running past the end of the first window they start in; each is still trained on "
            "whole in the next, overlapping window, unless 'never whole'"
        )
        lines.append(
            f"{'split':28s} {'spans':>6s} {'long docs':>9s} {'cut':>5s} {'share':>6s} {'never whole':>11s} "
            f"{'unaligned':>9s}"
        )
        for name, cut in check.window_cut.items():
            lines.append(
                f"{Path(name).name:28s} {cut.spans:6d} {cut.documents_with_several_windows:9d} "
                f"{cut.cut_in_first_window:5d} {cut.share_cut:6.1%} {cut.cut_in_every_window:11d} "
                f"{cut.not_on_token_boundaries:9d}"
            )
    lines += [
        "",
        f"== label shares (rare: below {RARE_FRACTION:g} of the share in {check.reference})",
    ]
    shares = []
    for name, split in check.counts.items():
        row = [f"{split.labels.get(k, 0) / split.spans:.1%}" if split.spans else "-" for k in check.labels]
        shares.append(f"{Path(name).name:28s} " + " ".join(f"{cell:>22s}" for cell in row))
    lines += [f"{'split':28s} " + " ".join(f"{k:>22s}" for k in check.labels), *shares]
    lines += [
        "",
        f"== strings labelled differently ({len(check.inconsistent)}; "
        "training/corpus/quality.py 'inconsistent')",
    ]
    for item in check.inconsistent[:SHOWN]:
        lines.append(f"{item.split}: {item.document} [{item.start}:{item.end}] {item.message}")
    if len(check.inconsistent) > SHOWN:
        lines.append(f"... and {len(check.inconsistent) - SHOWN} more (--json, or conflict-ie check-corpus)")
    lines += ["", "== new labels"]
    for name, labels in check.not_in_reference.items():
        lines.append(f"{name}: not in {check.reference}: {', '.join(labels)}")
    for name, labels in check.outside_label_set.items():
        lines.append(f"{name}: outside {check.label_set}: {', '.join(labels)}")
    if not check.not_in_reference and not check.outside_label_set:
        lines.append(f"none: every split's entity types are in {check.reference} and {check.label_set}")
    lines += ["", f"== {len(check.errors)} error(s), {len(check.warnings)} warning(s)"]
    lines += [f"error: {e}" for e in check.errors] + [f"warning: {w}" for w in check.warnings]
    return "\n".join(lines)
