"""The HTML view's colours: the default palette for the default labels, distinct colours for others."""

from __future__ import annotations

import re

from inference.spans import Document, Span
from training.evaluation.html import COLOURS, label_colours, render_html

MUC4 = ("PERP_IND", "PERP_ORG", "TARGET", "VICTIM", "WEAPON")


def background(page: str, label: str) -> str:
    found = re.search(rf'style="background: ([^"]+)">[^<]*<span class="label">{label}</span>', page)
    assert found, label
    return found.group(1)


def test_labels_outside_the_default_palette_get_distinct_colours() -> None:
    colours = label_colours([*MUC4, "VICTIM_TYPE"])
    assert colours["VICTIM_TYPE"] == COLOURS["VICTIM_TYPE"]
    others = [colours[label] for label in MUC4]
    assert len(set(others)) == len(MUC4) and not set(others) & {*COLOURS.values(), "#ddd"}
    assert label_colours(list(reversed(MUC4))) == label_colours(list(MUC4))  # not by order of appearance


def test_a_page_of_other_labels_colours_and_lists_them() -> None:
    text = "guerrillas attacked the embassy with a car bomb"
    gold = [Span(0, 10, "PERP_IND"), Span(20, 31, "TARGET"), Span(39, 47, "WEAPON")]
    page = render_html([Document("d", text, gold)], [gold[:2]])
    colours = {label: background(page, label) for label in ("PERP_IND", "TARGET", "WEAPON")}
    assert len(set(colours.values())) == 3 and "#ddd" not in colours.values()
    assert colours == {label: label_colours(["PERP_IND", "TARGET", "WEAPON"])[label] for label in colours}
    assert "CASUALTY_COUNT" not in page  # the legend lists the page's labels


def test_a_page_of_default_labels_keeps_the_default_legend() -> None:
    text = "Rebels killed 5 civilians."
    gold = [Span(0, 6, "PERPETRATOR"), Span(14, 15, "CASUALTY_COUNT", "killed")]
    page = render_html([Document("d", text, gold)], [gold])
    assert all(f"background: {colour}" in page for colour in COLOURS.values())
    assert "VICTIM_TYPE</span>" in page  # in the legend, though no span has it
