"""Perpetrator spans to actor ids: the shipped Syrian-war table and a replacement table."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from inference import Extractor
from inference.text.actors import ActorTableError, load_actor_table, normalise_actor

ANNOTATIONS = Path(__file__).resolve().parents[3] / "data" / "annotations"
SYRIAN = ("syra-", "syrb-", "stmd-", "mntr-", "pana-")
FAKES_IDS = {
    "syrian government or russian troops",
    "the organization of the islamic state in iraq and the levant - isis",
    "international coalition forces",
    "armed opposition groups",
    "self administration forces",
    "al-nusra front",
    "unknown",
}


def syrian_perpetrators() -> Counter[str]:
    strings: Counter[str] = Counter()
    for path in sorted(ANNOTATIONS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            document = json.loads(line)
            if not document["id"].startswith(SYRIAN):
                continue
            for span in document["spans"]:
                if span["label"] == "PERPETRATOR":
                    strings[document["text"][span["start"] : span["end"]]] += 1
    return strings


def test_the_shipped_table_uses_the_fakes_ids_verbatim():
    assert set(load_actor_table().ids) == FAKES_IDS


def test_most_perpetrators_of_syrian_war_documents_are_normalised():
    strings = syrian_perpetrators()
    mentions = sum(strings.values())
    normalised = sum(n for text, n in strings.items() if normalise_actor(text) is not None)
    share = normalised / mentions
    print(f"normalised {normalised}/{mentions} perpetrator mentions ({share:.1%})")
    assert mentions > 500
    assert share >= 0.8


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("regime", "syrian government or russian troops"),
        ("Assad's forces", "syrian government or russian troops"),
        ("Russian", "syrian government or russian troops"),
        ("forces loyal to President Bashar al-Assad", "syrian government or russian troops"),
        ("IS sleeper cells", "the organization of the islamic state in iraq and the levant - isis"),
        (
            "fighters of the Islamic State",
            "the organization of the islamic state in iraq and the levant - isis",
        ),
        ("islamic state militnts", "the organization of the islamic state in iraq and the levant - isis"),
        ("US-led coalition", "international coalition forces"),
        ("Free Syrian Army", "armed opposition groups"),
        ("SDF fighters", "self administration forces"),
        ("PKK/YPG terrorists", "self administration forces"),
        ("Hayat Tahrir al-Sham", "al-nusra front"),
        ("unidentified gunmen", "unknown"),
        ("female suicide bomber", "unknown"),
        ("army", "syrian government or russian troops"),
        ("US-led", "international coalition forces"),  # "US-led air strikes"
        # generic words off both ends, "coalition" and "jihadists" among them
        ("Takfiri ISIL group", "the organization of the islamic state in iraq and the levant - isis"),
        (
            "Islamic State group jihadists",
            "the organization of the islamic state in iraq and the levant - isis",
        ),
        ("U.S.-led coalition", "international coalition forces"),
        ("Russian Aerospace Forces", "syrian government or russian troops"),
        ("the air force", "syrian government or russian troops"),
        ("Syrian army men", "syrian government or russian troops"),
        ("Kurdish SDF troops", "self administration forces"),
        ("Syrian Islamist rebels", "armed opposition groups"),
        ("Takfiri terrorists", "unknown"),
        # feeds drop the apostrophe of a possessive: "Russias" is "Russia's", not "Russian"
        ("Russias", "syrian government or russian troops"),
        ("Russias Aerospace Forces", "syrian government or russian troops"),
        ("Assads forces", "syrian government or russian troops"),
        # an alias inside a longer span: named actors before "unknown", then the longest
        (
            "suicide bomber from al-Qaedas Syrian affiliate al-Nusra Front",
            "al-nusra front",
        ),
        ("Nusra Front-linked terrorists", "al-nusra front"),
        ("militant Syrian rebel groups", "armed opposition groups"),
        ("motorcycle bomber", None),  # a one-word alias after a word the table does not know
        ("Al-Qaeda loyalists", None),  # is qualified by it: not the government's "loyalists"
        ("Syria regime", "syrian government or russian troops"),
        ("Saudi-led coalition", None),
        ("Turkish army", None),  # not "army": Turkey has no id in the table
        ("Turkish", None),
        ("forces", None),
        ("", None),
    ],
)
def test_aliases(text, actor):
    assert normalise_actor(text) == actor


def test_a_replacement_table(tmp_path):
    path = tmp_path / "actors.yaml"
    path.write_text(
        "generic_words: [forces]\nactors:\n  turkey: [turkish, turkish army]\n  unknown: [unidentified]\n",
        encoding="utf-8",
    )
    table = load_actor_table(path)
    assert table.ids == ["turkey", "unknown"]
    assert normalise_actor("Turkish forces", table) == "turkey"
    assert normalise_actor("regime", table) is None


def test_an_alias_given_to_two_actors_is_refused(tmp_path):
    path = tmp_path / "actors.yaml"
    path.write_text("actors:\n  a: [rebels]\n  b: [Rebels]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="Rebels"):
        load_actor_table(path)


@pytest.mark.parametrize(
    ("content", "names"),
    [
        ("actors: [a, b]\n", "'actors' must map"),
        ("actors:\n  turkey: turkish army\n", "actors['turkey']: aliases must be a list"),
        ("actors:\n  turkey: [turkish, 12]\n", "actors['turkey']: aliases must be a list"),
        ("actors:\n  turkey: ['the']\n", "actors['turkey']: alias 'the' is empty"),
        ("actor:\n  turkey: [turkish]\n", "unknown key 'actor'"),
        ("actors:\n  turkey: [turkish]\ngeneric_words: forces\n", "'generic_words' must be a list"),
        ("actors: {turkey: [turkish\n", "not valid YAML"),
        ("- turkey\n", "expected a mapping"),
    ],
)
def test_a_bad_table_is_refused_naming_the_file_and_entry(tmp_path, content, names):
    path = tmp_path / "actors.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ActorTableError) as error:
        load_actor_table(path)
    assert str(path) in str(error.value) and names in str(error.value)


def test_a_missing_table_is_refused_naming_it(tmp_path):
    with pytest.raises(ActorTableError, match="missing.yaml"):
        load_actor_table(tmp_path / "missing.yaml")


def test_the_extractor_takes_a_replacement_table(tiny_model, tmp_path):
    path = tmp_path / "actors.yaml"
    path.write_text("actors:\n  turkey: [turkish army]\n", encoding="utf-8")
    extractor = Extractor.from_pretrained(tiny_model, device="cpu", actors=path)
    assert extractor.actors is not None and extractor.actors.ids == ["turkey"]
    table = load_actor_table(path)
    assert Extractor.from_pretrained(tiny_model, device="cpu", actors=table).actors is table
    [result] = extractor.extract_events(["The Turkish army shelled the village, killing 4 civilians."])
    assert set(result["event"]["actors"]) <= {"turkey"}


def test_a_bad_table_is_refused_before_the_model_loads(tmp_path):
    path = tmp_path / "actors.yaml"
    path.write_text("actors: []\n", encoding="utf-8")
    with pytest.raises(ActorTableError, match="actors.yaml"):
        Extractor.from_pretrained(tmp_path / "no-model-here", actors=path)
