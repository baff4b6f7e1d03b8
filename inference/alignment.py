"""Character spans <-> token tags, and long texts <-> overlapping model windows.

This is the one place where tokenization meets annotation: training builds its labels here and
inference decodes its predictions here, so the two can never tokenize differently.

A *unit* is the thing the model tags: a run of words (``\\w+`` or one punctuation mark) that begins
where a token begins. With WordPiece every word is a unit; with tokenizers whose tokens cross word
boundaries, the crossed words are glued into the unit before them. Only the first token of a unit
carries a label; the others are ignored (-100) in training and in decoding.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from inference.schema import DEFAULT_SCHEMA, LabelSchema
from inference.spans import Span
from inference.text.lexicon import MODEL_UNIT, NAMES_WITH_AND

IGNORE_INDEX = -100
_AND_GAP = re.compile(r"\s+and\s+", re.IGNORECASE)


def entity_types(schema: LabelSchema = DEFAULT_SCHEMA) -> list[str]:
    """Model entity types: a label with outcomes (counts) is split by outcome so one head predicts both."""
    return schema.entity_types()


def tag_names(schema: LabelSchema = DEFAULT_SCHEMA) -> list[str]:
    return schema.tag_names()


def entity_type_of(span: Span) -> str:
    return f"{span.label}:{span.outcome}" if span.outcome is not None else span.label


def span_fields(entity_type: str) -> tuple[str, str | None]:
    """Split a model entity type back into (label, outcome)."""
    label, _, outcome = entity_type.partition(":")
    return label, outcome or None


@dataclass(frozen=True)
class Unit:
    start: int  # character offsets of the glued words
    end: int
    token: int  # index of the unit's first token in the text's token list


@dataclass
class TokenizedText:
    token_ids: list[int]
    units: list[Unit]


def tokenize_text(tokenizer: Any, text: str) -> TokenizedText:
    """Tokenize a whole text (no truncation, no special tokens) and find its units."""
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets = [_trim(text, start, end) for start, end in encoding["offset_mapping"]]
    return TokenizedText(list(encoding["input_ids"]), _units(text, offsets))


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    # Some tokenizers (byte-level BPE, SentencePiece) include the leading space in the offset.
    while start < end and text[start].isspace():
        start += 1
    return start, end


def _units(text: str, offsets: list[tuple[int, int]]) -> list[Unit]:
    units: list[Unit] = []
    token = 0
    for word in MODEL_UNIT.finditer(text):
        while token < len(offsets) and (
            offsets[token][1] <= word.start() or offsets[token][0] == offsets[token][1]
        ):
            token += 1
        starts_here = token < len(offsets) and offsets[token][0] < word.end()
        owned_by_previous = units and (
            not starts_here or units[-1].token == token or offsets[token][0] < word.start()
        )
        if owned_by_previous:
            units[-1] = Unit(units[-1].start, word.end(), units[-1].token)
        elif starts_here:
            units.append(Unit(word.start(), word.end(), token))
    return units


def unit_tags(
    units: list[Unit], spans: list[Span], type_of: Callable[[Span], str] = entity_type_of
) -> tuple[list[str], list[Span]]:
    """BIO tag per unit for the spans; also the spans that units cannot express."""
    tags = ["O"] * len(units)
    unit_at_start = {unit.start: i for i, unit in enumerate(units)}
    unit_ends = {unit.end for unit in units}
    lost: list[Span] = []
    for span in spans:
        first = unit_at_start.get(span.start)
        if first is None or span.end not in unit_ends:
            lost.append(span)
            continue
        etype = type_of(span)
        tags[first] = f"B-{etype}"
        index = first + 1
        while index < len(units) and units[index].end <= span.end:
            tags[index] = f"I-{etype}"
            index += 1
    return tags, lost


def spans_from_unit_probs(
    units: list[Unit], probs: list[list[float]], names: list[str]
) -> list[tuple[Span, float]]:
    """Decode per-unit tag probabilities into spans with a confidence score.

    Boundaries come from the best well-formed tag sequence (``constrained_tags``; where the argmax
    tags are well formed, they are that sequence), with the outcome ignored so that a count whose
    tokens disagree on killed/injured stays one span; its outcome is the one with the larger summed
    probability over the span's units. A span's score is the mean probability of its tags. The
    labels that carry an outcome, and their outcomes, are read from ``names`` (``LABEL:outcome``).
    """
    outcome_columns = _outcome_columns(names)
    best = constrained_tags(probs, names)
    groups: list[tuple[str, list[int]]] = []
    for index, tag_index in enumerate(best):
        name = names[tag_index]
        if name == "O":
            continue
        prefix, etype = name.split("-", 1)
        base = etype.partition(":")[0]
        if prefix == "I":  # well formed: it continues the span of its label just before it
            groups[-1][1].append(index)
        else:
            groups.append((base, [index]))
    spans: list[tuple[Span, float]] = []
    for base, members in groups:
        outcome = None
        if base in outcome_columns:
            columns = outcome_columns[base]
            mass = {o: sum(probs[i][j] for i in members for j in columns[o]) for o in columns}
            outcome = max(columns, key=mass.__getitem__)
        score = sum(probs[i][best[i]] for i in members) / len(members)
        spans.append((Span(units[members[0]].start, units[members[-1]].end, base, outcome), score))
    return spans


def constrained_tags(probs: list[list[float]], names: list[str]) -> list[int]:
    """The most probable tag sequence (Viterbi over log probabilities) in which every ``I-`` tag
    follows a ``B-`` or ``I-`` tag of its label, outcome aside: where the argmax tags break that
    (``O I-X``, ``B-X I-Y``), the path chooses between the readings instead of starting a span at
    whichever unit happens to be tagged ``I-``."""
    if not probs:
        return []
    matrix = np.asarray(probs, dtype=np.float64)
    label = np.array([None if name == "O" else name.split("-", 1)[1].partition(":")[0] for name in names])
    inside = np.array([name.startswith("I-") for name in names])
    allowed = ~inside[None, :] | (label[:, None] == label[None, :])  # [i, j]: tag j may follow tag i
    greedy = matrix.argmax(axis=1)
    if not inside[greedy[0]] and allowed[greedy[:-1], greedy[1:]].all():
        return greedy.tolist()  # already well formed, so already the best path
    scores = np.log(np.clip(matrix, 1e-12, 1.0))
    transition = np.where(allowed, 0.0, -np.inf)
    best = np.where(inside, -np.inf, scores[0])
    back = np.zeros(scores.shape, dtype=np.int64)
    for i in range(1, len(scores)):
        candidates = best[:, None] + transition
        back[i] = candidates.argmax(axis=0)
        best = candidates[back[i], np.arange(len(names))] + scores[i]
    path = [int(best.argmax())]
    for i in range(len(scores) - 1, 0, -1):
        path.append(int(back[i][path[-1]]))
    return path[::-1]


def join_split_names(text: str, spans: list[tuple[Span, float]]) -> list[tuple[Span, float]]:
    """Two spans of one label that the tagger cut apart at the "and" of one organisation's name
    (``NAMES_WITH_AND``: "Defence | and | Security Forces"), made one span again; its score is the
    lower of the two. Coordinated actors that are no such name stay apart."""
    names = [match.span() for match in NAMES_WITH_AND.finditer(text)]
    if not names:
        return spans
    joined: list[tuple[Span, float]] = []
    for span, score in sorted(spans, key=lambda item: item[0].start):
        if joined:
            left, left_score = joined[-1]
            if left.label == span.label and _name_across(text, names, left, span):
                joined[-1] = (Span(left.start, span.end, left.label, left.outcome), min(left_score, score))
                continue
        joined.append((span, score))
    return joined


def _name_across(text: str, names: list[tuple[int, int]], left: Span, right: Span) -> bool:
    if not _AND_GAP.fullmatch(text, left.end, right.start):
        return False
    return any(start < left.end and end > right.start for start, end in names)


def _outcome_columns(names: list[str]) -> dict[str, dict[str, list[int]]]:
    """label -> outcome -> the columns of its B- and I- tags, in the order the tags name them."""
    columns: dict[str, dict[str, list[int]]] = {}
    for j, name in enumerate(names):
        label, _, outcome = name.split("-", 1)[-1].partition(":")
        if outcome:
            columns.setdefault(label, {}).setdefault(outcome, []).append(j)
    return columns


@dataclass(frozen=True)
class Window:
    start: int  # token slice [start, end) of the text's tokens
    end: int


def make_windows(tokenized: TokenizedText, max_tokens: int, stride: int) -> list[Window]:
    """Overlapping windows of at most ``max_tokens`` tokens, each starting on a unit.

    Consecutive windows share about ``stride`` tokens, so every unit sits well inside at least
    one window; nothing is ever truncated.
    """
    if max_tokens <= 0 or not 0 <= stride < max_tokens:
        raise ValueError(f"need 0 <= stride < max_tokens, got stride={stride}, max={max_tokens}")
    total = len(tokenized.token_ids)
    if total <= max_tokens:
        return [Window(0, total)]
    heads = [unit.token for unit in tokenized.units]
    windows: list[Window] = []
    start = 0
    while True:
        end = min(start + max_tokens, total)
        windows.append(Window(start, end))
        if end == total:
            return windows
        target = end - stride
        # Start the next window on the last unit head at or before the target, moving forward.
        candidates = [h for h in heads if start < h <= target]
        start = candidates[-1] if candidates else target


def assign_units(tokenized: TokenizedText, windows: list[Window]) -> list[int]:
    """For each unit, the window where it sits farthest from an edge (most context)."""
    owner: list[int] = []
    for unit in tokenized.units:
        best_window, best_margin = 0, -1
        for index, window in enumerate(windows):
            if window.start <= unit.token < window.end:
                margin = min(unit.token - window.start, window.end - 1 - unit.token)
                if margin > best_margin:
                    best_window, best_margin = index, margin
        owner.append(best_window)
    return owner


@dataclass(frozen=True)
class SpecialTokens:
    """The special tokens a tokenizer puts around one sequence ([CLS] ... [SEP], <s> ... </s>)."""

    prefix: tuple[int, ...]
    suffix: tuple[int, ...]

    @classmethod
    def of(cls, tokenizer: Any) -> SpecialTokens:
        encoding = tokenizer("a", add_special_tokens=True, return_special_tokens_mask=True)
        ids, mask = encoding["input_ids"], encoding["special_tokens_mask"]
        content = [i for i, special in enumerate(mask) if not special]
        if not content:
            return cls(tuple(ids), ())
        return cls(tuple(ids[: content[0]]), tuple(ids[content[-1] + 1 :]))

    def wrap(self, token_ids: list[int]) -> list[int]:
        return [*self.prefix, *token_ids, *self.suffix]

    @property
    def count(self) -> int:
        return len(self.prefix) + len(self.suffix)
