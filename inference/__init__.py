"""conflict-ie inference: load a trained model and extract casualty entities from text."""

from inference.spans import LABELS, Document, Relation, Span

__all__ = ["LABELS", "Document", "Extractor", "Relation", "Span"]


def __getattr__(name: str):  # keep `import inference` light: torch loads only when needed
    if name == "Extractor":
        from inference.extractor import Extractor

        return Extractor
    raise AttributeError(name)
