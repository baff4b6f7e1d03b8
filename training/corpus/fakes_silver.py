"""Silver training data from the FA-KES crowd answers, for FA-KES ``train`` articles only.

Input (a folder the user gives; nothing from it is ever committed): ``fakes.csv`` (latin-1; the
article texts, by ``unit_id``), ``crowdsourced-annotations.derived.csv`` (UTF-8; workers' answers
copied from the article text, one row per article, no id) and ``splits.json`` (which ids are
``train``). The dev ids (gold-dev) and every other id must never be trained on: only ``train`` ids
are read into documents, and ``build_silver`` checks its output against that before returning.

How it works:

1. A crowd row is tied to the ``fakes.csv`` row whose text it is: the highest word-set Jaccard
   similarity over all rows (apostrophes dropped, case folded), accepted only when it is at least
   ``MIN_SIMILARITY`` and no row with another id comes within ``TIE_MARGIN`` of it. A row tied to an
   id outside ``train`` is not used (counted in the summary).
2. Each answer is split and placed on the article text (``fakes.csv``'s text, the one gold-dev uses):
   ``Actor`` → PERPETRATOR; ``Civilians``, ``NonCivilians``, ``Children``, ``Women`` → a
   CASUALTY_COUNT (outcome ``killed``: FA-KES counts deaths) and the VICTIM_TYPE inside the phrase
   ("57 civilians" → ``57`` + ``civilians``; "13 of whom were women" → ``13`` + ``women``; "a child"
   → ``child`` only, as the standard has no count for "a"; "Three" → ``Three`` only). A determiner
   or possessive in front is dropped; a quantifier right before the number in the text ("at least",
   "more than", ...) joins the count, as the standard says. An actor named only as the modifier of
   an attack or weapon ("Syrian aircraft", "Russian warplanes") becomes the modifier (``Syrian``).
3. Placing: words are compared case-folded, without apostrophes and number commas. An answer is
   put at its occurrences in sentences with a casualty word (kill, dead, died, death, wound,
   injur...; for actors also attack words); a one-word answer ("Russian", "31") needs exactly one
   such occurrence, or exactly one occurrence in the whole text. Anything else is reported.
4. Crowd workers marked at most one mention per field, so the rest of an article is not negative
   evidence. Only the sentences that hold a placed answer are emitted, each as its own document
   ``<unit_id>#s<k>`` (k = sentence number in the article): training then sees no unlabelled
   sentences, and the loss is restricted to those sentences without any change to training.
   A sentence is left out when it holds a number near a casualty word that no answer covers (it
   would teach the model that the number is no count; ``training.corpus.quality.untagged_numbers``), or
   when its text also occurs in a dev or reserved article (boilerplate).

Every answer not used is reported with the article id and the reason; the summary line gives the
counts of rows, answers, sentences and spans.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from inference.spans import CASUALTY_COUNT, PERPETRATOR, VICTIM_TYPE, Document, Span, cuts_word
from inference.text.counts import parse_count
from inference.text.lexicon import AFTER_COUNT_WORDS, ANSWER_WORD, DETERMINERS, KILL_CUE, SPAN_QUANTIFIERS
from inference.text.records import sentence_bounds
from training.corpus.formats import Imported
from training.corpus.problems import Problem
from training.corpus.quality import untagged_numbers
from training.corpus.textfiles import InputFileError, read_utf8

FAKES_FILE = "fakes.csv"
CROWD_FILE = "crowdsourced-annotations.derived.csv"
SPLITS_FILE = "splits.json"
COUNT_FIELDS = ("Civilians", "NonCivilians", "Children", "Women")
ACTOR_FIELD = "Actor"
MIN_SIMILARITY = 0.8
TIE_MARGIN = 0.05

_ATTACK_CUE = re.compile(
    r"^(?:attack\w*|strikes?|airstrikes?|raids?|shell\w*|bomb\w*|shot|shoot\w*|fire[ds]?|targeted|"
    r"struck|blast|explosion|gunmen|car|suicide|hit)$"
)
_NOT_IN_VICTIM = {"other", "more", "additional", "further", "another"}
# "a"/"an" are not dropped: "a child" is a victim without a count (see split_count_answer).
_DETERMINERS = (DETERMINERS - {"a", "an"}) | {"another"}
_CONNECTORS = [("of", "whom", "were"), ("of", "whom"), ("of", "them", "were"), ("of", "them"), ("including",)]
_ATTACK_NOUNS = {
    "aircraft", "aircrafts", "airstrike", "airstrikes", "air", "strikes", "strike", "raids", "raid",
    "shelling", "warplanes", "warplane", "jets", "jet", "planes", "plane", "helicopters", "helicopter",
    "bombs", "bomb", "bombing", "bombardment", "artillery", "missiles", "missile", "rockets", "rocket",
    "attack", "attacks", "fire", "shells", "drones", "drone", "planes'", "gunfire",
}  # fmt: skip
_NATIONALITY = re.compile(r"^[A-Z]\w*(?:ian|ish|ese|i)$")


class SilverError(ValueError):
    pass


@dataclass(frozen=True)
class _Word:
    start: int
    end: int
    norm: str


def normalize_word(word: str) -> str:
    return re.sub(r"['\u2019`,]", "", word.lower())


def words_of(text: str) -> list[_Word]:
    return [_Word(m.start(), m.end(), normalize_word(m.group())) for m in ANSWER_WORD.finditer(text)]


# --- reading ---------------------------------------------------------------------------------


def read_inputs(
    directory: str | Path,
) -> tuple[list[dict[str, str]], list[dict[str, str]], dict[str, list[str]]]:
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise SilverError(f"--fakes-dir {directory} is not a directory (the FA-KES folder)")
    missing = [n for n in (FAKES_FILE, CROWD_FILE, SPLITS_FILE) if not (directory / n).is_file()]
    if missing:
        raise SilverError(f"{directory}: missing {', '.join(missing)} (the FA-KES folder holds all three)")
    with (directory / FAKES_FILE).open(encoding="latin-1", newline="") as handle:
        fakes = list(csv.DictReader(handle))
    try:
        crowd = list(csv.DictReader(io.StringIO(read_utf8(directory / CROWD_FILE, universal_newlines=False))))
        splits = json.loads(read_utf8(directory / SPLITS_FILE))
    except InputFileError as error:
        raise SilverError(str(error)) from None
    except json.JSONDecodeError as error:
        raise SilverError(f"{directory / SPLITS_FILE}:{error.lineno}: invalid JSON ({error.msg})") from None
    if not isinstance(splits, dict):
        raise SilverError(f"{directory / SPLITS_FILE}: expected an object with lists 'train' and 'dev'")
    for name, rows, columns in (
        (FAKES_FILE, fakes, ("unit_id", "article_content")),
        (CROWD_FILE, crowd, ("Content-Title", ACTOR_FIELD, *COUNT_FIELDS)),
    ):
        if rows and not all(c in rows[0] for c in columns):
            raise SilverError(f"{directory / name}: expected columns {', '.join(columns)}")
    if not isinstance(splits.get("train"), list) or not isinstance(splits.get("dev"), list):
        raise SilverError(f"{directory / SPLITS_FILE}: expected lists 'train' and 'dev'")
    return fakes, crowd, {key: [str(i) for i in splits[key]] for key in ("train", "dev")}


def match_rows(fakes: list[dict[str, str]], crowd: list[dict[str, str]]) -> list[tuple[int | None, str]]:
    """For each crowd row: the index of its ``fakes.csv`` row (or None) and why."""
    sets = [frozenset(w.norm for w in words_of(row["article_content"])) for row in fakes]
    frequency = Counter(word for words in sets for word in words)
    postings: dict[str, list[int]] = defaultdict(list)
    for index, words in enumerate(sets):
        for word in words:
            if frequency[word] <= 30:  # rare words find the candidates fast
                postings[word].append(index)
    matches: list[tuple[int | None, str]] = []
    for row in crowd:
        words = frozenset(w.norm for w in words_of(row["Content-Title"]))
        shared = Counter(i for word in words for i in postings.get(word, ()))
        candidates = [i for i, _ in shared.most_common(20)]
        scored = sorted(((len(words & sets[i]) / len(words | sets[i]), i) for i in candidates), reverse=True)
        if not scored or scored[0][0] < MIN_SIMILARITY:
            matches.append((None, "no article in fakes.csv is similar enough"))
            continue
        best, index = scored[0]
        rivals = [i for score, i in scored[1:] if score >= best - TIE_MARGIN]
        if any(fakes[i]["unit_id"] != fakes[index]["unit_id"] for i in rivals):
            ids = sorted({fakes[i]["unit_id"] for i in [index, *rivals]})
            matches.append((None, f"matches several articles equally well ({', '.join(ids)})"))
            continue
        matches.append((index, ""))
    return matches


# --- answers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    label: str
    first: int  # word range inside the answer
    last: int
    outcome: str | None = None


def split_count_answer(answer: str) -> tuple[list[str], list[_Part]]:
    """Words of a count answer and its parts: the count, the victim type (either may be absent)."""
    words = [w.norm for w in words_of(answer)]
    start = 1 if words and words[0] in _DETERMINERS else 0
    count_end = start
    for end in range(len(words), start, -1):
        if parse_count(" ".join(words[start:end]))["best"] is not None:
            count_end = end
            break
    while count_end - start > 1 and words[count_end - 1] in AFTER_COUNT_WORDS:
        count_end -= 1  # parse_count reads "70 people" as 70; the count span is "70"
    parts = [_Part(CASUALTY_COUNT, start, count_end, "killed")] if count_end > start else []
    victim_start = count_end if parts else start
    if not parts and victim_start < len(words) and words[victim_start] in ("a", "an"):
        victim_start += 1  # "a child": no count, the victim only
    for connector in _CONNECTORS:
        if tuple(words[victim_start : victim_start + len(connector)]) == connector:
            victim_start += len(connector)
            break
    while victim_start < len(words) - 1 and words[victim_start] in _NOT_IN_VICTIM:
        victim_start += 1  # "20 other terrorists" -> "terrorists"
    raw_words = [m.group() for m in ANSWER_WORD.finditer(answer)]
    victim = raw_words[victim_start:]
    if (
        victim
        and len(victim) <= 6
        and all(re.fullmatch(r"[A-Za-z][A-Za-z-]*", w) for w in victim)
        and not (len(victim) == 1 and _NATIONALITY.match(victim[0]))  # "six Syrian": truncated
    ):
        parts.append(_Part(VICTIM_TYPE, victim_start, len(words)))
    return words, parts


def split_actor_answer(answer: str) -> tuple[list[str], list[_Part]]:
    """Coordinated actors are split ("Russian and Syrian regime" -> ``Russian``, ``Syrian regime``)."""
    words = [w.norm for w in words_of(answer)]
    raw = [m.group() for m in ANSWER_WORD.finditer(answer)]
    parts = []
    start = 0
    for end in [i for i, w in enumerate(words) if w in ("and", "or")] + [len(words)]:
        part = _actor_part(words, raw, start, end)
        if part is None:
            return words, []  # one unreadable conjunct ("those of its ally Russia"): leave the answer out
        parts.append(part)
        start = end + 1
    return words, parts


def _actor_part(words: list[str], raw: list[str], start: int, end: int) -> _Part | None:
    if start < end and words[start] in _DETERMINERS:
        start += 1
    if end - start >= 2 and re.search(r"['\u2019]s$", raw[start]):
        start += 1  # a possessive is a determiner: "Syria's government" -> "government"
    if end - start >= 2 and words[end - 1] in _ATTACK_NOUNS:
        end -= 1  # "Syrian aircraft" -> "Syrian", "Russian air strikes" -> "Russian"
        while end - start >= 2 and words[end - 1] in _ATTACK_NOUNS:
            end -= 1
    if end <= start or end - start > 6 or words[start] in ("those", "of", "a", "an"):
        return None
    return _Part(PERPETRATOR, start, end)


def _occurrences(text_words: list[_Word], answer_words: list[str]) -> list[int]:
    size = len(answer_words)
    if not size:
        return []
    first = answer_words[0]
    return [
        i
        for i in range(len(text_words) - size + 1)
        if text_words[i].norm == first and [w.norm for w in text_words[i : i + size]] == answer_words
    ]


@dataclass
class _Article:
    unit_id: str
    text: str
    words: list[_Word]
    sentences: list[tuple[int, int]]

    def sentence_of(self, offset: int) -> int:
        for number, (start, end) in enumerate(self.sentences):
            if start <= offset < end:
                return number
        return len(self.sentences) - 1

    def cue_sentences(self, actor: bool) -> set[int]:
        found = set()
        for word in self.words:
            if KILL_CUE.match(word.norm) or (actor and _ATTACK_CUE.match(word.norm)):
                found.add(self.sentence_of(word.start))
        return found


def place_answer(
    article: _Article, field: str, answer: str, anchors: set[int] | frozenset[int] = frozenset()
) -> tuple[list[Span], str]:
    """Spans for one crowd answer, or none and the reason. ``anchors``: sentences holding answers
    already placed, which settle a one-word answer found in several casualty sentences."""
    actor = field == ACTOR_FIELD
    words, parts = split_actor_answer(answer) if actor else split_count_answer(answer)
    if not parts:
        return [], "could not be read as a count, victim type or actor"
    lo, hi = min(p.first for p in parts), max(p.last for p in parts)
    found = _occurrences(article.words, words[lo:hi])
    if not found:
        return [], "not found in the article text"
    cues = article.cue_sentences(actor)
    in_cue = [i for i in found if article.sentence_of(article.words[i].start) in cues]
    if hi - lo == 1:
        chosen = in_cue if len(in_cue) == 1 else (found if len(found) == 1 else [])
        anchored = [i for i in found if article.sentence_of(article.words[i].start) in anchors]
        chosen = chosen or (anchored if len(anchored) == 1 else [])
        if not chosen:
            return [], f"one word found {len(found)} times ({len(in_cue)} in casualty sentences): ambiguous"
    else:
        chosen = in_cue or (found if len(found) == 1 else [])
        if not chosen:
            return [], f"found {len(found)} times, never in a sentence with a casualty word"
    spans = []
    for index in chosen:
        for part in parts:
            first = index + part.first - lo
            start, end = article.words[first].start, article.words[index + part.last - lo - 1].end
            if part.label == CASUALTY_COUNT:
                start = _with_quantifier(article, first, start)
            spans.append(Span(start, end, part.label, part.outcome))
    return spans, ""


def _with_quantifier(article: _Article, first: int, start: int) -> int:
    for quantifier in SPAN_QUANTIFIERS:
        size = len(quantifier)
        if first >= size and tuple(w.norm for w in article.words[first - size : first]) == quantifier:
            gap = article.text[article.words[first - 1].end : start]
            if not gap.strip():
                return article.words[first - size].start
    return start


# --- building ----------------------------------------------------------------------------------


def _sentence_documents(article: _Article, spans: list[Span]) -> list[Document]:
    ranges: list[tuple[int, int]] = []
    for start, end in article.sentences:
        if ranges and any(s.start < start < s.end for s in spans):
            ranges[-1] = (ranges[-1][0], end)  # never cut a span
        else:
            ranges.append((start, end))
    documents = []
    for number, (start, end) in enumerate(ranges):
        inside = [s for s in spans if start <= s.start < end]
        if not inside:
            continue
        raw = article.text[start:end]
        lead = len(raw) - len(raw.lstrip())
        text = raw.strip()
        moved = [Span(s.start - start - lead, s.end - start - lead, s.label, s.outcome) for s in inside]
        documents.append(Document(f"{article.unit_id}#s{number}", text, sorted(moved)))
    return documents


def build_silver(directory: str | Path, split: str = "train") -> tuple[Imported, str]:
    """Silver documents (one per sentence with a placed answer) and a summary of what was used."""
    if split != "train":
        raise SilverError("FA-KES silver data is built from the 'train' split only")
    fakes, crowd, splits = read_inputs(directory)
    train_ids, dev_ids = set(splits["train"]), set(splits["dev"])
    if train_ids & dev_ids:
        raise SilverError(f"{SPLITS_FILE}: ids in both train and dev: {sorted(train_ids & dev_ids)[:5]}")
    issues: list[Problem] = []
    tally: Counter[str] = Counter()
    placed: Counter[str] = Counter()
    answers = _train_answers(fakes, crowd, train_ids, tally, issues)
    # Boilerplate shared word for word with a dev or reserved article is left out too.
    elsewhere = [" ".join(r["article_content"].split()) for r in fakes if r["unit_id"] not in train_ids]
    documents: list[Document] = []
    for index, fields in sorted(answers.items()):
        unit_id, text = fakes[index]["unit_id"], fakes[index]["article_content"]
        article = _Article(unit_id, text, words_of(text), sentence_bounds(text))
        spans = _placed_spans(article, fields, placed, issues)
        kept = _kept_sentences(_sentence_documents(article, sorted(spans)), elsewhere, tally, issues)
        documents += kept
        tally["train articles with a placed answer"] += bool(kept)
    _check_train_only(documents, train_ids, dev_ids)
    return Imported(documents, issues), _summary(split, len(train_ids), tally, placed, documents)


def _train_answers(
    fakes: list[dict[str, str]],
    crowd: list[dict[str, str]],
    train_ids: set[str],
    tally: Counter[str],
    issues: list[Problem],
) -> dict[int, dict[str, list[str]]]:
    """article index -> field -> the distinct crowd answers, for the ``train`` articles only."""
    answers: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for number, (row, (index, why)) in enumerate(zip(crowd, match_rows(fakes, crowd), strict=True), start=2):
        where = f"{CROWD_FILE}:{number}"  # line 1 is the header; a row may span lines, so roughly
        if index is None:
            tally["crowd rows not matched"] += 1
            issues.append(Problem(where, None, f"crowd row not used: {why}", error=False))
            continue
        if fakes[index]["unit_id"] not in train_ids:
            tally["crowd rows of dev or reserved articles (not used)"] += 1
            continue
        tally["crowd rows of train articles"] += 1
        for field in (ACTOR_FIELD, *COUNT_FIELDS):
            value = (row.get(field) or "").strip()
            if value and value.lower() != "nan" and value not in answers[index][field]:
                answers[index][field].append(value)
    return answers


def _placed_spans(
    article: _Article, fields: dict[str, list[str]], placed: Counter[str], issues: list[Problem]
) -> list[Span]:
    """Each answer placed in the article's text; a span that overlaps another or cuts a word is left out."""
    spans: list[Span] = []
    results = {(f, v): place_answer(article, f, v) for f, values in fields.items() for v in values}
    anchors = {article.sentence_of(s.start) for found, _ in results.values() for s in found}
    for (field, value), (found, why) in results.items():
        if not found and anchors:  # a second try, now that the other answers are placed
            found, why = place_answer(article, field, value, anchors)
        placed[f"{field} {'placed' if found else 'not placed'}"] += 1
        where = f"article {article.unit_id} {field}"
        if why:
            issues.append(Problem(where, None, f"{value!r} {why}", error=False))
        for span in found:
            clash = next((s for s in spans if s.start < span.end and span.start < s.end), None)
            if clash == span:
                continue
            if clash or cuts_word(article.text, span.start, span.end):
                why = "overlaps another answer" if clash else "cuts a word"
                shown = article.text[span.start : span.end]
                issues.append(Problem(where, None, f"{shown!r} {why}; left out", error=False))
                continue
            spans.append(span)
    return spans


def _kept_sentences(
    sentences: list[Document], elsewhere: list[str], tally: Counter[str], issues: list[Problem]
) -> list[Document]:
    """The sentence documents that are in no other article and leave no casualty number unlabelled."""
    kept = []
    for document in sentences:
        # An unlabelled number beside "killed" would teach the model that it is no count.
        unlabelled = untagged_numbers(document)
        flat = " ".join(document.text.split())
        if any(flat in other for other in elsewhere):
            tally["sentences left out: also in a dev or reserved article"] += 1
            issues.append(
                Problem(document.id, None, "sentence left out: also in a non-train article", error=False)
            )
        elif unlabelled:
            tally["sentences left out: a number near a casualty word is not among the answers"] += 1
            shown = ", ".join(repr(document.text[a:b]) for a, b, _ in unlabelled)
            issues.append(
                Problem(document.id, None, f"sentence left out: {shown} not among the answers", error=False)
            )
        else:
            kept.append(document)
    return kept


def _summary(
    split: str, n_train_ids: int, tally: Counter[str], placed: Counter[str], documents: list[Document]
) -> str:
    labels = Counter(f"{s.label}:{s.outcome}" if s.outcome else s.label for d in documents for s in d.spans)
    return (
        f"FA-KES silver ({split}): {n_train_ids} train ids; "
        + ", ".join(f"{k} {v}" for k, v in sorted(tally.items()))
        + f"; answers: {', '.join(f'{k} {v}' for k, v in sorted(placed.items()))}"
        + f"; {len(documents)} sentence documents; spans: "
        + ", ".join(f"{k} {v}" for k, v in sorted(labels.items()))
    )


def _check_train_only(documents: list[Document], train_ids: set[str], dev_ids: set[str]) -> None:
    """The guard the split rule depends on: no document from outside ``train``, none from dev."""
    used = {d.id.split("#", 1)[0] for d in documents}
    if used & dev_ids or not used <= train_ids:
        raise AssertionError(
            f"silver data would use non-train FA-KES articles: {sorted(used - train_ids)[:5]}"
        )
