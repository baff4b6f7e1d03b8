"""One type for what is wrong, or worth a look, in a user's input: a problem with its place."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Problem:
    """``path``: the file, or another place ("--tokenizer", "article 12 Actor"), or None for an
    item of a list (``line`` is then its number); ``line``: None where the problem is the whole
    place's. A corpus suspect also names
    its character range, document and check (``training.corpus.quality``); a problem that is only a note
    (``error=False``) does not fail a conversion. Ordered by place, then range."""

    path: str | None
    line: int | None
    start: int | None = field(default=None, kw_only=True)
    end: int | None = field(default=None, kw_only=True)
    doc_id: str | None = field(default=None, kw_only=True)
    check: str | None = field(default=None, kw_only=True)
    message: str
    error: bool = field(default=True, kw_only=True)

    def __str__(self) -> str:
        if self.path is None:
            where = f"item {self.line}"
        else:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
        if self.check is not None:
            return f"{where}: {self.doc_id} [{self.start}:{self.end}] {self.check}: {self.message}"
        return f"{where}: {self.message}" + ("" if self.error else " (note)")
