"""Perpetrator spans to actor ids through an alias table in YAML.

``normalise_actor("Assad regime forces") == "syrian government or russian troops"``. The shipped
table (``inference/text/data/actors_syria.yaml``) covers the Syrian war, with FA-KES's actor category
strings as ids; ``load_actor_table(path)`` reads a replacement of the same shape::

    generic_words: [forces, fighters, ...]    # stripped from the ends of a span before lookup
    actors:
      <actor id>: [alias, alias, ...]

Lookup (see the YAML file's header): the whole normalised span, then the phrase after "of" /
"from" / "loyal to" / "linked to" / "led by", then either with generic words stripped from the
end, from the start, and from both, then an alias inside the span (``ActorTable._within``). A span
that matches no alias gets ``None``: unknown stays unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from inference.text.counts import edits1
from inference.text.lexicon import ARTICLES

DEFAULT_TABLE = "actors_syria.yaml"
UNKNOWN_ACTOR = "unknown"  # the shipped table's id for attackers the text does not identify
_FUNCTION_WORDS = frozenset({"of", "from", "by", "to", "and", "with"})
_AFTER = re.compile(r"\b(?:of|from|loyal to|linked to|led by|affiliated with)\s+(.+)$")


def actor_key(text: str) -> str:
    """Lower case, straight quotes, no possessive, no leading determiner, single spaces."""
    key = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    key = re.sub(r"[\u2010-\u2014]", "-", key)
    key = re.sub(r"'s\b|'$", "", key)
    key = re.sub(r"[^\w'./ -]+", " ", key)
    words = key.split()
    while words and words[0] in ARTICLES:
        words = words[1:]
    return " ".join(words).strip(" .")


class ActorTableError(ValueError):
    """A replacement alias table that cannot be used; the message names the file and entry."""


@dataclass(frozen=True)
class ActorTable:
    aliases: dict[str, str]  # normalised alias -> actor id
    generic_words: frozenset[str] = frozenset()
    vocabulary: frozenset[str] = field(default=frozenset())

    @classmethod
    def from_mapping(cls, data: Any, source: str = "actor table") -> ActorTable:
        """The table of a parsed YAML mapping; ``ActorTableError`` names ``source`` and the bad entry."""
        if not isinstance(data, dict):
            raise ActorTableError(f"{source}: expected a mapping with 'actors', got {type(data).__name__}")
        unknown = sorted(set(data) - {"actors", "generic_words"})
        if unknown:
            raise ActorTableError(
                f"{source}: unknown key {unknown[0]!r}; expected 'actors' and 'generic_words'"
            )
        actors = data.get("actors")
        if not isinstance(actors, dict) or not actors:
            raise ActorTableError(f"{source}: 'actors' must map actor ids to lists of aliases")
        aliases: dict[str, str] = {}
        for actor, names in actors.items():
            where = f"{source}: actors[{actor!r}]"
            if not isinstance(actor, str) or not actor.strip():
                raise ActorTableError(f"{where}: an actor id must be a non-empty string")
            if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
                raise ActorTableError(f"{where}: aliases must be a list of strings")
            for name in [actor, *(names or [])]:
                key = actor_key(name)
                if not key and name is not actor:
                    raise ActorTableError(f"{where}: alias {name!r} is empty once normalised")
                if key in aliases and aliases[key] != actor:
                    raise ActorTableError(f"{where}: alias {name!r} is also given for {aliases[key]!r}")
                aliases[key] = actor
        generic_words = data.get("generic_words") or []
        if not isinstance(generic_words, list) or not all(isinstance(w, str) for w in generic_words):
            raise ActorTableError(f"{source}: 'generic_words' must be a list of strings")
        generic = frozenset(actor_key(w) for w in generic_words)
        words = {w for key in [*aliases, *generic] for w in key.split()}
        return cls(aliases, generic, frozenset(words))

    @property
    def ids(self) -> list[str]:
        return sorted(set(self.aliases.values()))

    def lookup(self, text: str, inside: bool = True) -> str | None:
        """The actor id of a perpetrator span, or None when no alias matches; ``inside=False``
        leaves out aliases found inside a longer span (for phrases that are not tagged spans)."""
        key = " ".join(self._spell(w) for w in actor_key(text).split())
        if not key:
            return None
        candidates = [key]
        after = _AFTER.search(key)
        if after:
            candidates.append(actor_key(after.group(1)))
        for candidate in candidates:
            found = self._match(candidate)
            if found is not None:
                return found
        return self._within(key.split()) if inside else None

    def _match(self, key: str) -> str | None:
        if key in self.aliases:
            return self.aliases[key]
        first = key.split()
        for words in (first, first[::-1]):  # generic words off the end, then off the start
            reverse = words is not first
            while len(words) > 1 and words[-1] in self.generic_words:
                words = words[:-1]
                phrase = " ".join(words[::-1] if reverse else words)
                if phrase in self.aliases:
                    return self.aliases[phrase]
        core = list(first)  # then off both ends: "Takfiri ISIL group" -> "isil"
        while len(core) > 1 and core[-1] in self.generic_words:
            core = core[:-1]
        while len(core) > 1 and core[0] in self.generic_words:
            core = core[1:]
        return self.aliases.get(" ".join(core))

    def _within(self, words: list[str]) -> str | None:
        """An alias inside a longer span ("suicide bomber from al-Qaeda's Syrian affiliate al-Nusra
        Front", "Nusra Front-linked terrorist"): named actors before ``unknown``, then the longest,
        then the last. A one-word alias is taken at the start of the span or after a generic or
        function word only: any other word qualifies it ("Turkish army", "Saudi-led coalition",
        "al-Qaeda loyalists")."""
        best: tuple[tuple[bool, int, int], str] | None = None
        for n in range(len(words) - 1, 0, -1):
            for i in range(len(words) - n + 1):
                actor = self.aliases.get(" ".join(words[i : i + n]))
                if actor is None or (n == 1 and i > 0 and words[i - 1] not in self._unqualifying):
                    continue
                rank = (actor != UNKNOWN_ACTOR, n, i)
                if best is None or rank > best[0]:
                    best = (rank, actor)
        return best[1] if best else None

    @property
    def _unqualifying(self) -> frozenset[str]:
        return self.generic_words | ARTICLES | _FUNCTION_WORDS

    def _spell(self, word: str) -> str:
        if word in self.vocabulary or len(word) < 5 or not word.isalpha():
            return word
        if word.endswith("s") and word[:-1] in self.vocabulary:
            return word[:-1]  # a possessive whose apostrophe a feed dropped: "Russias" is not "Russian"
        candidates = edits1(word) & self.vocabulary
        return candidates.pop() if len(candidates) == 1 else word


def load_actor_table(path: str | Path | None = None) -> ActorTable:
    """The alias table at ``path``, or the shipped Syrian-war table; a missing, unreadable or
    malformed file is an ``ActorTableError`` naming it (and the bad entry)."""
    if path is None:
        source = DEFAULT_TABLE
        text = resources.files("inference.text").joinpath("data", DEFAULT_TABLE).read_text(encoding="utf-8")
    else:
        source = f"actor table {path}"
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ActorTableError(f"{source}: cannot read it ({error})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ActorTableError(f"{source}: not valid YAML: {error}") from None
    return ActorTable.from_mapping(data, source)


def actor_table(table: str | Path | ActorTable | None) -> ActorTable | None:
    """An ``ActorTable`` as given, or loaded from a path; None (the shipped table) stays None."""
    if table is None or isinstance(table, ActorTable):
        return table
    return load_actor_table(table)


@lru_cache(maxsize=1)
def default_actor_table() -> ActorTable:
    return load_actor_table()


def normalise_actor(text: str, table: ActorTable | None = None, inside: bool = True) -> str | None:
    """Actor id for a perpetrator span's text (``None`` if the table does not know it)."""
    return (table or default_actor_table()).lookup(text, inside)
