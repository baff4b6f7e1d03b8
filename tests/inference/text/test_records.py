"""Casualty records: the rule linker, its gold-link evaluation, the link tool and the integration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference.alignment import tag_names
from inference.extractor import Extractor
from inference.spans import Document, Span
from inference.text.records import build_records, headline_end, sentence_bounds
from tests.conftest import CORPUS
from training.cli import main
from training.corpus.links import apply_relations, link_gold_spans, numbered_text, render
from training.corpus.markup import parse_markup_text, read_markup
from training.corpus.store import load_documents, write_documents
from training.evaluation.relations import relation_scores

DATA = Path(__file__).resolve().parents[2] / "data"


def document(markup: str, doc_id: str = "doc") -> Document:
    text, spans, problems = parse_markup_text(markup)
    assert not problems, problems
    return Document(doc_id, text, spans)


def records_of(markup: str) -> list[dict]:
    doc = document(markup)
    return [r.to_dict() for r in build_records(doc.text, sorted(doc.spans))]


def summary(records: list[dict]) -> list[tuple]:
    return [
        (
            r["count"]["text"],
            [v["text"] for v in r["victims"]],
            [p["text"] for p in r["perpetrators"]],
        )
        for r in records
    ]


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        (  # "including" sub-count, killing X and wounding Y, participle clause takes the subject
            "Mortar rounds fired by [[M23 rebels|P]] hit a market, killing [[at least nine|K]] "
            "[[civilians|V]], including [[three|K]] [[children|V]], and wounding [[more than 20|I]] "
            "[[people|V]], an official said.",
            [
                ("at least nine", ["civilians"], ["M23 rebels"]),
                ("three", ["children"], ["M23 rebels"]),
                ("more than 20", ["people"], ["M23 rebels"]),
            ],
        ),
        (  # "others" takes the victims of the previous count
            "[[Gunmen|P]] killed [[12|K]] [[villagers|V]] and wounded [[three|I]] others.",
            [("12", ["villagers"], ["Gunmen"]), ("three", ["villagers"], ["Gunmen"])],
        ),
        (  # with the same outcome, "others" are people other than the previous count's
            "[[Regime|P]] air raids killed [[nine|K]] [[children|V]] and [[14|K]] others.",
            [("nine", ["children"], ["Regime"]), ("14", [], ["Regime"])],
        ),
        (  # "more" are more of the same, whatever the outcome
            "[[Regime|P]] air raids killed [[nine|K]] [[children|V]] and [[two|K]] more died later.",
            [("nine", ["children"], ["Regime"]), ("two", ["children"], ["Regime"])],
        ),
        (  # passive "by" beats the nearer subject on the left
            "[[Rebels|P]] killed [[5|K]] [[soldiers|V]] and [[12|K]] [[civilians|V]] were killed by "
            "[[regime|P]] shelling.",
            [("5", ["soldiers"], ["Rebels"]), ("12", ["civilians"], ["regime"])],
        ),
        (  # a clause of its own: "while" separates two attacks
            "[[Rebels|P]] killed [[five|K]] [[soldiers|V]] on Monday, while the army said its "
            "[[troops|P]] killed [[20|K]] [[fighters|V]].",
            [("five", ["soldiers"], ["Rebels"]), ("20", ["fighters"], ["troops"])],
        ),
        (  # coordinated victims and perpetrators
            "[[Russian|P]] and [[Syrian|P]] warplanes killed [[eight|K]] [[women|V]] and "
            "[[children|V]] in Idlib.",
            [("eight", ["women", "children"], ["Russian", "Syrian"])],
        ),
        (  # "and a woman" is not counted by "3"
            "[[Gunmen|P]] killed [[3|K]] [[children|V]] and a [[woman|V]].",
            [("3", ["children"], ["Gunmen"])],
        ),
        (  # "N of the dead were V"; no perpetrator outside the sentence
            "A [[suicide bomber|P]] struck a checkpoint. Police said [[four|K]] of the dead were "
            "[[police officers|V]].",
            [("four", ["police officers"], [])],
        ),
        (  # a count after its clause's actor: "when gunmen opened fire"
            "[[Five|K]] [[worshippers|V]] were killed when [[gunmen|P]] opened fire inside a church.",
            [("Five", ["worshippers"], ["gunmen"])],
        ),
        (  # an adjective victim owned by no count
            "The [[civilian|V]] death toll has risen to [[45|K]], the U.N. said.",
            [("45", ["civilian"], [])],
        ),
        (  # a semicolon: the earlier subject does not carry over
            "[[Houthi|P]] shelling wounded [[four|I]] [[children|V]]; in a separate incident, a "
            "landmine killed [[two|K]] [[shepherds|V]].",
            [("four", ["children"], ["Houthi"]), ("two", ["shepherds"], [])],
        ),
        (  # ellipsis after a loose victim: "dozens" of protesters, not of demonstrators
            "[[Police|P]] fired at [[demonstrators|V]], killing [[four|K]] [[protesters|V]] and "
            "wounding [[dozens|I]].",
            [("four", ["protesters"], ["Police"]), ("dozens", ["protesters"], ["Police"])],
        ),
        (  # the count before a sub-count is the antecedent of "wounding six"
            "[[Gunmen|P]] opened fire, killing [[11|K]] [[Shia Muslims|V]], among them [[two|K]] "
            "[[women|V]], and wounding [[six|I]], police said.",
            [
                ("11", ["Shia Muslims"], ["Gunmen"]),
                ("two", ["women"], ["Gunmen"]),
                ("six", ["Shia Muslims"], ["Gunmen"]),
            ],
        ),
        (  # "including a child" names a member, not the category of the nine
            "The number of injured is now [[nine|I]], including a [[child|V]] aged 4.",
            [("nine", [], [])],
        ),
        (  # an unpunctuated scraped text
            "[[regime|P]] shelling killed [[9|K]] [[civilians|V]] in Douma including [[4|K]] "
            "[[children|V]] while [[rebel|P]] rocket fire wounded [[17|I]] [[people|V]] state media said",
            [
                ("9", ["civilians"], ["regime"]),
                ("4", ["children"], ["regime"]),
                ("17", ["people"], ["rebel"]),
            ],
        ),
    ],
)
def test_links_follow_the_sentence_structure(markup, expected):
    assert summary(records_of(markup)) == expected


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        (  # two counts of a verb pair share the noun after the second
            "Government troops killed [[14|K]] and wounded [[22|I]] [[insurgents|V]] near the dam.",
            [("14", ["insurgents"], []), ("22", ["insurgents"], [])],
        ),
        (  # "said" is not a verb pair: no shared noun
            "The agency put the toll at [[80|K]] and said [[at least 11|K]] [[nurses|V]] were among them.",
            [("80", [], []), ("at least 11", ["nurses"], [])],
        ),
        (  # the subject of an active killing verb wins over a "by" of another action in its clause
            "[[Raiders|P]] killed [[at least 31|K]] [[farmers|V]] in what locals called revenge for "
            "the murder of a herder by a [[village militia|P]], police said.",
            [("at least 31", ["farmers"], ["Raiders"])],
        ),
        (  # the one blamed is the perpetrator of a toll that has none
            "The district office blamed [[cattle raiders|P]], who crossed from the north, and said "
            "[[six|K]] of the dead were [[herders|V]].",
            [("six", ["herders"], ["cattle raiders"])],
        ),
        (  # and across a semicolon, as a claim
            "A drone strike on a wedding killed [[17|K]] [[guests|V]]; the governor accused "
            "[[the separatists|P]], who denied it.",
            [("17", ["guests"], ["the separatists"])],
        ),
    ],
)
def test_shared_victims_active_subjects_and_blamed_actors(markup, expected):
    assert summary(records_of(markup)) == expected


def test_record_shape_and_count_values():
    records = records_of("[[Gunmen|P]] killed [[at least 12|K]] [[villagers|V]].")
    assert records == [
        {
            "count": {
                "start": 14,
                "end": 25,
                "text": "at least 12",
                "outcome": "killed",
                "best": 12,
                "low": 12,
                "high": None,
            },
            "victim": {"start": 26, "end": 35, "text": "villagers"},
            "victims": [{"start": 26, "end": 35, "text": "villagers"}],
            "perpetrator": {"start": 0, "end": 6, "text": "Gunmen"},
            "perpetrators": [{"start": 0, "end": 6, "text": "Gunmen"}],
            "headline": False,
            "same_event_as": None,
            "part_of": None,
            "victim_category": "civilian",
            "victim_categories": ["civilian"],
            "actor": "unknown",
            "actors": ["unknown"],
        }
    ]


def test_a_headline_repeating_the_toll_is_the_same_event():
    records = records_of(
        "Mortar fire kills [[9|K]] at market\n\nKALEMIE (Wire) - [[Rebels|P]] shelled a market, killing "
        "[[at least nine|K]] [[civilians|V]], including [[three|K]] [[children|V]].\n"
        "A second attack on Friday killed [[two|K]] [[soldiers|V]]."
    )
    assert [(r["count"]["text"], r["headline"], r["same_event_as"]) for r in records] == [
        ("9", True, 1),
        ("at least nine", False, None),
        ("three", False, None),
        ("two", False, None),
    ]


def test_sub_counts_point_to_their_total():
    records = records_of(
        "The ministry said [[at least 120|K]] [[people|V]] had been killed and [[some 600|I]] injured "
        "since the [[army|P]] began its assault, [[27|K]] of them [[children|V]]. [[Rebels|P]] killed "
        "[[nine|K]] [[civilians|V]], including [[three|K]] [[children|V]]."
    )
    assert [(r["count"]["text"], r["part_of"]) for r in records] == [
        ("at least 120", None),
        ("some 600", None),
        ("27", 0),
        ("nine", None),
        ("three", 3),
    ]


def totals(records: list[dict]) -> dict[str, int]:
    """The README's totalling rule: sum best over records with no same_event_as and no part_of."""
    result: dict[str, int] = {}
    for record in records:
        if record["same_event_as"] is None and record["part_of"] is None:
            outcome = record["count"]["outcome"]
            result[outcome] = result.get(outcome, 0) + record["count"]["best"]
    return result


def test_coordinated_sub_counts_all_point_to_their_total():
    records = records_of(
        "[[Rebels|P]] stormed the base, killing [[85|K]] [[people|V]], including [[29|K]] "
        "[[civilians|V]], [[32|K]] [[rebels|V]] and [[24|K]] [[soldiers|V]], the monitor said."
    )
    assert [r["part_of"] for r in records] == [None, 0, 0, 0]
    assert totals(records) == {"killed": 85}


def test_a_count_coordinated_with_an_uncounted_sub_group_is_a_part_too():
    records = records_of(
        "Rockets killed [[11|K]] [[civilians|V]] among them a [[child|V]] and [[two|K]] [[women|V]] "
        "while [[44|I]] others were injured in Aleppo."
    )
    assert [r["part_of"] for r in records] == [None, 0, None]
    assert totals(records) == {"killed": 11, "injured": 44}


def test_a_young_relative_left_out_of_the_span_still_makes_a_child():
    records = records_of("The monitor said [[five|K]] young [[siblings|V]] were among the dead.")
    assert records[0]["victim_category"] == "child"


def test_of_the_dead_counts_are_parts_of_the_toll_before_them():
    records = records_of(
        "[[Raiders|P]] attacked the camp on Sunday, killing [[17|K]] [[people|V]] and wounding "
        "[[9|I]].\nThe commissioner said the toll had been [[10|K]] at first. He said [[11|K]] of the dead "
        "were [[women|V]] and [[6|K]] were [[children|V]], and that [[four|I]] of the wounded were in "
        "a critical condition."
    )
    assert [(r["count"]["text"], r["part_of"]) for r in records] == [
        ("17", None),
        ("9", None),
        ("10", None),
        ("11", 0),  # not the old toll of 10: smaller than 11
        ("6", 0),
        ("four", 1),
    ]


def test_of_the_dead_counts_take_no_perpetrator_from_another_clause():
    records = records_of(
        "[[Rebels|P]] shelled the town, killing [[85|K]] [[people|V]]. The sources said [[30|K]] of the "
        "dead were [[officers|V]] and that the [[attackers|P]] also killed [[12|K]] [[workers|V]]. "
        "[[Raiders|P]] fired at herders who were asleep He said [[10|K]] of the dead were "
        "[[young men|V]] and [[four|K]] were [[women|V]]"
    )
    assert summary(records) == [
        ("85", ["people"], ["Rebels"]),
        ("30", ["officers"], []),
        ("12", ["workers"], ["attackers"]),
        ("10", ["young men"], []),
        ("four", ["women"], []),
    ]


REPEATED = (
    "Shelling kills civilians in Douma\n"
    "[[10|K]] [[people|V]] were killed in [[regime|P]] shelling on Douma on Monday, activists said.\n"
    "The shells hit a market and a school.\n"
    "Rescuers worked through the night.\n"
    "[[Russian|P]] jets struck Harasta, killing [[10|K]] [[fighters|V]].\n"
    "In Zamalka, [[two|K]] [[people|V]] died.\n"
    "In Arbin, [[two|K]] [[people|V]] died.\n"
    "The monitor repeated that [[10|K]] [[people|V]] were killed in [[regime|P]] shelling on Douma."
)


def test_a_toll_repeated_in_the_body_is_the_same_event():
    records = records_of(REPEATED)
    assert [(r["count"]["text"], r["same_event_as"]) for r in records] == [
        ("10", None),
        ("10", None),  # fighters in Harasta, by Russian jets: another toll
        ("two", None),  # a small figure with no perpetrator on either side: never merged
        ("two", None),
        ("10", 0),
    ]
    assert totals(records) == {"killed": 24}


def test_records_carry_victim_categories_and_actor_ids(tmp_path):
    records = records_of(
        "[[Regime|P]] and [[Russian|P]] strikes killed [[12|K]] [[civilians|V]], [[women|V]] and "
        "[[children|V]], while [[Turkish|P]] shelling killed [[3|K]] [[SDF fighters|V]] and "
        "[[unidentified gunmen|P]] shot [[2|K]] [[people|V]]."
    )
    assert [(r["victim_categories"], r["actors"]) for r in records] == [
        (["civilian", "woman", "child"], ["syrian government or russian troops"] * 2),
        (["combatant"], [None]),
        (["unknown"], ["unknown"]),
    ]
    assert records[0]["victim_category"] == "civilian" and records[1]["actor"] is None
    table = tmp_path / "actors.yaml"
    table.write_text("actors:\n  turkey: [turkish, turkish army]\n", encoding="utf-8")
    from inference.text.actors import load_actor_table

    doc = document("[[Turkish|P]] shelling killed [[3|K]] [[SDF fighters|V]].")
    mine = build_records(doc.text, sorted(doc.spans), actors=load_actor_table(table))
    assert mine[0].actors == ["turkey"]


def test_a_headline_after_a_posted_on_line():
    records = records_of(
        "Posted on 9 March 2024 by Oubangui Info\n\n[[3R rebels|P]] kill [[nine|K]] [[villagers|V]]\n\n"
        "[[Fighters|P]] attacked the village, killing [[nine|K]] [[civilians|V]], officials said."
    )
    assert [(r["headline"], r["same_event_as"]) for r in records] == [(True, 1), (False, None)]


def test_a_headline_count_that_matches_no_body_count_stays_separate():
    records = records_of(
        "Clashes kill [[40|K]] in Tripoli\n\n[[Militias|P]] killed [[12|K]] [[civilians|V]] on Friday.\n"
        "Another [[3|I]] were wounded."
    )
    assert [r["same_event_as"] for r in records] == [None, None, None]
    assert records[0]["headline"] and not records[1]["headline"]


def test_injured_headline_does_not_match_a_killed_count():
    records = records_of("Blast wounds [[14|I]]\n\nA bomb killed [[14|K]] [[people|V]] and wounded [[14|I]].")
    assert records[0]["same_event_as"] == 2


def test_sentences_and_headline_boundaries():
    text = (
        "Strike kills 9\nPosted by Wire\n\n"
        "The U.S. military said Gen. Ali was hit at 10 a.m. on Monday. It ended."
    )
    sentences = [text[a:b].strip() for a, b in sentence_bounds(text)]
    assert sentences == [
        "Strike kills 9",
        "Posted by Wire",
        "The U.S. military said Gen. Ali was hit at 10 a.m. on Monday.",
        "It ended.",
    ]
    assert text[: headline_end(text)].strip() == "Strike kills 9\nPosted by Wire"
    assert headline_end("One long sentence without a line break.") == 0


def test_build_records_never_raises_on_odd_entities():
    text = "Gunmen killed 12 villagers."
    odd = [
        Span(14, 16, "CASUALTY_COUNT"),  # no outcome
        Span(14, 16, "CASUALTY_COUNT", "killed"),  # duplicate
        Span(0, 6, "UNKNOWN"),
        Span(17, 26, "VICTIM_TYPE"),
    ]
    records = [r.to_dict() for r in build_records(text, odd)]
    assert [r["count"]["outcome"] for r in records] == [None, "killed"]
    assert records[1]["victim"] == {"start": 17, "end": 26, "text": "villagers"}
    assert build_records("", []) == [] and build_records("text", []) == []


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        (  # "X and its Y", "X of the so-called Y", "X backed by Y", "X, whose Y": one group
            "[[Government forces|P]] and their [[allied militias|P]] shelled the camp, killing "
            "[[seven|K]] [[refugees|V]].",
            [("seven", ["refugees"], ["Government forces", "allied militias"])],
        ),
        (
            "[[Gunmen|P]] of the so-called [[Western Front|P]] raided the farm, killing [[four|K]] "
            "[[farmers|V]].",
            [("four", ["farmers"], ["Gunmen", "Western Front"])],
        ),
        (
            "[[Army units|P]] backed by [[allied tribesmen|P]] stormed the hideout, killing [[nine|K]] "
            "[[rebels|V]].",
            [("nine", ["rebels"], ["Army units", "allied tribesmen"])],
        ),
        (
            "Police blamed the [[Delta Brigade|P]], whose [[fighters|P]] killed [[six|K]] [[guards|V]] "
            "in May.",
            [("six", ["guards"], ["Delta Brigade", "fighters"])],
        ),
        (  # two attack nouns, each with its actor
            "[[Five|K]] [[shepherds|V]] died in [[rebel|P]] mortar rounds and [[army|P]] sniper fire.",
            [("Five", ["shepherds"], ["rebel", "army"])],
        ),
        (  # "an attack claimed by X" names the attackers' group beside them
            "[[Suicide bombers|P]] killed [[30|K]] [[worshippers|V]] at a shrine, an attack claimed by "
            "the [[Northern Emirate|P]].",
            [("30", ["worshippers"], ["Suicide bombers", "Northern Emirate"])],
        ),
    ],
)
def test_perpetrator_groups(markup, expected):
    assert summary(records_of(markup)) == expected


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        (  # a sub-group coordinated with "among them" is no victim of the count beside it
            "Mines left by [[the militia|P]] have killed [[31|K]] [[people|V]] and wounded [[60|I]] "
            "since May, among them [[farmers|V]] and [[children|V]].",
            [("31", ["people"], ["the militia"]), ("60", ["people"], ["the militia"])],
        ),
        (  # "most of them" names a part, as "among them" does
            "[[Rebel|P]] shelling killed [[11|K]] [[villagers|V]] and wounded [[dozens|I]], most of "
            "them [[women|V]].",
            [("11", ["villagers"], ["Rebel"]), ("dozens", ["villagers"], ["Rebel"])],
        ),
        (  # "N of them" with no total before takes the group it refers to
            "A [[bomber|P]] blew himself up among a crowd of [[recruits|V]] waiting outside the "
            "barracks gate on the main road, killing [[at least 12|K]] of them and wounding [[15|I]] others.",
            [("at least 12", ["recruits"], ["bomber"]), ("15", ["recruits"], ["bomber"])],
        ),
        (  # "dozens more" with no count before refers to the victims just named
            "Most of the [[villagers|V]] were killed by [[militia|P]] fire, and [[dozens|I]] more were hurt.",
            [("dozens", ["villagers"], ["militia"])],
        ),
        (  # "the number of X killed ... reached N": X however far
            "The number of [[soldiers|V]] killed since the start of the siege of the northern "
            "garrison last winter has risen to [[over 300|K]].",
            [("over 300", ["soldiers"], [])],
        ),
    ],
)
def test_victims_of_parts_and_references(markup, expected):
    assert summary(records_of(markup)) == expected


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        (  # a sub-count takes the perpetrators of its total, not those of a later clause
            "[[Navy|P]] strikes killed [[12|K]] [[people|V]], including [[two|K]] [[medics|V]], "
            "officials said, as [[rebel|P]] drones wounded [[five|I]] [[sailors|V]] in the port.",
            [
                ("12", ["people"], ["Navy"]),
                ("two", ["medics"], ["Navy"]),
                ("five", ["sailors"], ["rebel"]),
            ],
        ),
        (  # ", as" opens a clause with its own subject
            "[[Rebels|P]] fired rockets at the town, killing [[two|K]] [[people|V]] and wounding "
            "[[30|I]], as [[army|P]] shelling pushed the toll in the valley to [[60|K]].",
            # the toll the shelling pushed up is a running total: no earlier toll's victims
            [("two", ["people"], ["Rebels"]), ("30", ["people"], ["Rebels"]), ("60", [], ["army"])],
        ),
        (  # a reported clause the count opens keeps no earlier toll's perpetrator
            "The group said its [[fighters|P]] killed [[14|K]] [[guards|V]], while officials said "
            "[[seven|K]] [[rebels|V]] had died in an operation.",
            [("14", ["guards"], ["fighters"]), ("seven", ["rebels"], [])],
        ),
        (  # a text in lower case: sentences still end at a full stop
            "[[rebels|P]] killed [[nine|K]] [[soldiers|V]] at the post. he said. [[dozens|I]] more were "
            "wounded in the fighting.",
            [("nine", ["soldiers"], ["rebels"]), ("dozens", [], [])],
        ),
    ],
)
def test_clauses_sub_counts_and_lower_case_sentences(markup, expected):
    assert summary(records_of(markup)) == expected


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        (  # "X accompanied by Y": both
            "[[Soldiers|P]] accompanied by [[foreign paramilitaries|P]] shot dead [[six|K]] [[herders|V]].",
            [("six", ["herders"], ["Soldiers", "foreign paramilitaries"])],
        ),
        (  # "Our" opens a sentence after "a.m.", so the next toll is not in the first one's clause
            "Volunteers recovered the bodies of [[seven|K]] [[civilians|V]] after [[Russian|P]] warplanes "
            "hit the market at 11:40 a.m. Our teams rescued [[19|I]] injured [[civilians|V]].",
            [("seven", ["civilians"], ["Russian"]), ("19", ["civilians"], [])],
        ),
        (  # a claimant with an appositive, beside its fighters
            "[[The Front|P]], an affiliate of the network, claimed the attack, saying its [[fighters|P]] "
            "had killed [[70|K]] [[soldiers|V]].",
            [("70", ["soldiers"], ["The Front", "fighters"])],
        ),
        (  # "X airstrikes kill N": the subject keeps its count against a later attacker
            "[[regime|P]] and [[allied|P]] airstrikes kill [[11|K]] [[civilians|V]], [[rebel|P]] ambush "
            "kills [[9|K]] [[soldiers|V]]",
            [("11", ["civilians"], ["regime", "allied"]), ("9", ["soldiers"], ["rebel"])],
        ),
        (  # a victim and its acronym in brackets (D5)
            "[[At least 42|K]] [[soldiers|V]] and [[members of the Home Guard|V]] ([[HG|V]]) were killed "
            "when [[fighters|P]] attacked the base.",
            [("At least 42", ["soldiers", "members of the Home Guard", "HG"], ["fighters"])],
        ),
        (  # "wounding nine" after a list of tolls takes the victims of the whole list
            "A [[suicide bomber|P]] blew himself up, killing [[four|K]] [[fighters|V]] and [[two|K]] "
            "[[civilians|V]] and wounding [[nine|I]].",
            [
                ("four", ["fighters"], ["suicide bomber"]),
                ("two", ["civilians"], ["suicide bomber"]),
                ("nine", ["fighters", "civilians"], ["suicide bomber"]),
            ],
        ),
        (  # a running total takes no earlier toll's victims
            "Search teams recovered the bodies of [[12|K]] more [[people|V]], raising the number recovered "
            "since June to [[at least 130|K]].",
            [("12", ["people"], []), ("at least 130", [], [])],
        ),
    ],
)
def test_second_round_of_train_links(markup, expected):
    assert summary(records_of(markup)) == expected


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        (  # members of a perpetrator group listed with "including" / "among them"
            "[[Rebel groups|P]], including the [[North Front|P]] and [[Hill Brigade|P]], said they had "
            "killed [[14|K]] [[soldiers|V]].",
            [("14", ["soldiers"], ["Rebel groups", "North Front", "Hill Brigade"])],
        ),
        (
            "[[Government forces|P]], including air strikes by the [[air force|P]], killed [[90|K]] "
            "[[civilians|V]].",
            [("90", ["civilians"], ["Government forces", "air force"])],
        ),
        (  # "X air power and Y fighters"
            "The offensive with the help of [[Russian|P]] air power and [[allied fighters|P]] has killed "
            "[[465|K]] [[civilians|V]].",
            [("465", ["civilians"], ["Russian", "allied fighters"])],
        ),
        (  # "officials blame X" (present tense) and a headline's "X blamed"
            "Strike toll rises to [[41|K]]; officials blame [[IS|P]] gunmen",
            [("41", [], ["IS"])],
        ),
        (
            "Landmine blast kills [[four|K]] on the border road; [[3R|P]] blamed",
            [("four", [], ["3R"])],
        ),
        (  # "the number of X killed when ... rose to N": X across the "when" clause
            "The number of [[civilians|V]] killed when an air strike brought down a house rose to [[41|K]].",
            [("41", ["civilians"], [])],
        ),
        (  # victims "X and their Y"
            "Its [[fighters|P]] stormed the camp, killing [[100|K]] [[soldiers|V]] and their "
            "[[foreign allies|V]].",
            [("100", ["soldiers", "foreign allies"], ["fighters"])],
        ),
    ],
)
def test_third_round_of_train_links(markup, expected):
    assert summary(records_of(markup)) == expected


def test_a_very_long_list_of_sub_groups_is_read_without_recursion():
    members = " and ".join(["[[women|V]]"] * 3000)
    markup = f"[[Rebels|P]] killed [[12|K]] [[villagers|V]], among them {members}."
    assert summary(records_of(markup)) == [("12", ["villagers"], ["Rebels"])]


def linked_documents(tmp_path: Path) -> list[Document]:
    documents, errors = read_markup(DATA / "linked_reports.txt")
    assert not errors
    corpus = tmp_path / "linked.jsonl"
    write_documents(corpus, documents)
    linked, problems = apply_relations(corpus, DATA / "linked_reports.relations")
    assert not problems, [str(p) for p in problems]
    return linked


def test_rule_linker_on_gold_spans_of_the_hand_linked_reports(tmp_path):
    documents = linked_documents(tmp_path)
    assert len(documents) >= 50 and all(d.relations is not None for d in documents)
    scores = relation_scores(documents, link_gold_spans(documents))
    assert scores["documents"] == len(documents)
    assert scores["records"]["support"] == sum(
        s.label == "CASUALTY_COUNT" for d in documents for s in d.spans
    )
    assert scores["records"]["f1"] >= 0.9
    assert set(scores["records_per_type"]) == {"victim", "perpetrator"}
    assert scores["records_per_type"]["victim"]["f1"] >= scores["records"]["f1"]
    assert scores["links"]["per_type"]["victim"]["f1"] >= 0.95
    assert scores["links"]["per_type"]["perpetrator"]["f1"] >= 0.9


def test_the_train_links_fit_the_corpus_and_the_linker_keeps_its_score():
    documents, problems = apply_relations(CORPUS / "train.jsonl", CORPUS / "train.relations")
    assert not problems, [str(p) for p in problems]
    linked = [d for d in documents if d.relations is not None]
    assert len(linked) == 240
    scores = relation_scores(documents, link_gold_spans(documents))
    assert scores["records"]["support"] == 1690
    assert scores["records"]["f1"] >= 0.95  # 0.957 when the rules were last changed


def test_relation_scores_count_links_and_whole_records():
    doc = document("[[Gunmen|P]] killed [[12|K]] [[villagers|V]] and [[3|K]] [[guards|V]].")
    doc.relations = None
    assert relation_scores([doc], [[]])["documents"] == 0
    from inference.spans import Relation

    doc.relations = [Relation(1, 2, "victim"), Relation(1, 0, "perpetrator"), Relation(3, 4, "victim")]
    records = build_records(doc.text, sorted(doc.spans))  # also links 3 -> Gunmen: one extra link
    scores = relation_scores([doc], [records])
    assert scores["links"]["per_type"]["victim"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert scores["links"]["per_type"]["perpetrator"]["precision"] == 0.5
    assert scores["records"]["precision"] == 0.5 and scores["records"]["recall"] == 0.5


def test_link_tool_show_then_apply_round_trips(tmp_path, capsys):
    documents = linked_documents(tmp_path)[:5]
    corpus = tmp_path / "five.jsonl"
    write_documents(corpus, documents)
    assert main(["links", "show", str(corpus)]) == 0
    shown = capsys.readouterr().out
    assert "[[M23 rebels|P1]]" in shown and "# -- existing relations" in shown
    edited = tmp_path / "links.txt"
    edited.write_text(shown, encoding="utf-8")
    output = tmp_path / "out.jsonl"
    assert main(["links", "apply", str(corpus), str(edited), "--output", str(output)]) == 0
    assert [d.relations for d in load_documents(output)] == [d.relations for d in documents]


def test_link_tool_suggestions_come_from_the_linker(tmp_path, capsys):
    doc = document("[[Gunmen|P]] killed [[12|K]] [[villagers|V]].", "d1")
    corpus = tmp_path / "c.jsonl"
    write_documents(corpus, [doc])
    assert numbered_text(doc) == "[[Gunmen|P0]] killed [[12|K1]] [[villagers|V2]]."
    assert render(doc).splitlines()[-2:] == ["1 v 2", "1 p 0"]
    assert main(["links", "show", str(corpus), "--no-suggest"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "# -- none yet"


@pytest.mark.parametrize(
    ("relations", "message"),
    [
        ("### d1\n1 v 9\n", "links.txt:2: d1: 1 v 9: span index out of range"),
        ("### d1\n0 v 2\n", "links.txt:2: d1: 0 v 2: span 0 is PERPETRATOR, not a count"),
        ("### d1\n1 p 2\n", "links.txt:2: d1: 1 p 2: span 2 is VICTIM_TYPE, not PERPETRATOR"),
        ("### nope\n1 v 2\n", "links.txt:1: no document 'nope'"),
        ("### d1\n1 victim\n", "links.txt:2: expected '<count> v|p <span>...'"),
        ("1 v 2\n", "links.txt:1: relation line before the first ### header"),
    ],
)
def test_link_tool_apply_names_every_problem_and_writes_nothing(tmp_path, capsys, relations, message):
    corpus = tmp_path / "c.jsonl"
    write_documents(corpus, [document("[[Gunmen|P]] killed [[12|K]] [[villagers|V]].", "d1")])
    edited = tmp_path / "links.txt"
    edited.write_text(relations, encoding="utf-8")
    output = tmp_path / "out.jsonl"
    assert main(["links", "apply", str(corpus), str(edited), "--output", str(output)]) == 1
    assert message in capsys.readouterr().err
    assert not output.exists()


def test_link_tool_score_prints_the_linker_scores(tmp_path, capsys):
    corpus = tmp_path / "linked.jsonl"
    write_documents(corpus, linked_documents(tmp_path))
    assert main(["links", "score", str(corpus)]) == 0
    assert "rule linker on gold spans (55 linked documents)" in capsys.readouterr().out


def test_link_tool_scores_a_relation_file_on_a_corpus_without_links(tmp_path, capsys):
    corpus = tmp_path / "c.jsonl"
    doc = document("[[Gunmen|P]] killed [[12|K]] [[villagers|V]] and [[3|K]] [[guards|V]].", "d1")
    write_documents(corpus, [doc, document("[[Rebels|P]] killed [[two|K]] [[men|V]].", "d2")])
    relations = tmp_path / "d1.relations"
    relations.write_text("### d1\n1 v 2\n1 p 0\n3 v 4\n", encoding="utf-8")
    before = corpus.read_bytes()
    assert main(["links", "score", str(corpus), "--relations", str(relations)]) == 0
    out = capsys.readouterr().out
    assert "(1 linked documents)" in out and "record F1 0.5000" in out
    assert corpus.read_bytes() == before
    relations.write_text("### d1\n1 v 9\n", encoding="utf-8")
    assert main(["links", "score", str(corpus), "--relations", str(relations)]) == 1
    assert "span index out of range" in capsys.readouterr().err


class ScriptedBackend:
    """Stands in for the network: tags chosen word pieces, everything else O."""

    def __init__(self, tokenizer, tags: dict[str, str]) -> None:
        self.tokenizer = tokenizer
        names = tag_names()
        self.ids = {token: names.index(tag) for token, tag in tags.items()}
        self.size = len(names)

    def probabilities(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        probs = np.zeros((*input_ids.shape, self.size), dtype=np.float32)
        probs[..., 0] = 1.0
        for row, ids in enumerate(input_ids):
            for column, token in enumerate(self.tokenizer.convert_ids_to_tokens(ids.tolist())):
                if token in self.ids:
                    probs[row, column] = 0.0
                    probs[row, column, self.ids[token]] = 1.0
        return probs


@pytest.fixture
def scripted_extractor(tokenizer) -> Extractor:
    tags = {
        "gunmen": "B-PERPETRATOR",
        "at": "B-CASUALTY_COUNT:killed",
        "least": "I-CASUALTY_COUNT:killed",
        "twelve": "I-CASUALTY_COUNT:killed",
        "villagers": "B-VICTIM_TYPE",
        "three": "B-CASUALTY_COUNT:injured",
    }
    names = tag_names()
    return Extractor(
        ScriptedBackend(tokenizer, tags), tokenizer, dict(enumerate(names)), max_length=32, stride=8
    )


def test_extractor_adds_count_values_and_records(scripted_extractor):
    text = "Gunmen killed at least twelve villagers and wounded three others."
    entities = [e.to_dict() for e in scripted_extractor.extract([text])[0]]
    counts = [e for e in entities if e["label"] == "CASUALTY_COUNT"]
    assert [(e["text"], e["count"]) for e in counts] == [
        ("at least twelve", {"best": 12, "low": 12, "high": None}),
        ("three", {"best": 3, "low": 3, "high": 3}),
    ]
    assert all("count" not in e for e in entities if e["label"] != "CASUALTY_COUNT")
    result = [r.to_dict() for r in scripted_extractor.extract_records([text, "Nothing happened."])]
    assert result[0]["entities"] == entities and result[1] == {"entities": [], "records": []}
    assert summary(result[0]["records"]) == [
        ("at least twelve", ["villagers"], ["Gunmen"]),
        ("three", ["villagers"], ["Gunmen"]),
    ]
    assert result[0]["records"][1]["count"]["outcome"] == "injured"


def test_predict_prints_entities_and_records(tiny_model, tmp_path, capsys):
    from training.cli import main

    inputs = tmp_path / "in.jsonl"
    inputs.write_text(json.dumps({"id": "a", "text": "Gunmen killed 12 villagers and wounded 3."}) + "\n")
    assert main(["predict", "--model", str(tiny_model), "--device", "cpu", str(inputs)]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert set(line) == {"id", "entities", "records"} and line["id"] == "a"
    counts = [e for e in line["entities"] if e["label"] == "CASUALTY_COUNT"]
    assert [r["count"]["start"] for r in line["records"]] == [e["start"] for e in counts]
    assert all(set(e["count"]) == {"best", "low", "high"} for e in counts)


def test_evaluate_reports_records_when_gold_relations_exist(tiny_model, tmp_path, capsys):
    from training.cli import main

    corpus = tmp_path / "linked.jsonl"
    write_documents(corpus, linked_documents(tmp_path)[:6])
    report_path = tmp_path / "report.json"
    args = ["evaluate", "--model", str(tiny_model), "--data", str(corpus), "--device", "cpu"]
    assert main([*args, "--output", str(report_path)]) == 0
    out = capsys.readouterr().out
    assert "records from gold spans (6 linked documents)" in out
    report = json.loads(report_path.read_text())
    assert report["records"]["gold_spans"]["records"]["f1"] >= 0.9
    assert set(report["records"]["predicted_spans"]["links"]["per_type"]) == {"victim", "perpetrator"}


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        (  # D5: a name and its acronym in brackets are one perpetrator, both linked
            "[[Fighters from the Group for the Support of Islam and Muslims|P]] ([[JNIM|P]]) killed "
            "[[at least 27|K]] [[civilians|V]] on the road.",
            [
                (
                    "at least 27",
                    ["civilians"],
                    ["Fighters from the Group for the Support of Islam and Muslims", "JNIM"],
                )
            ],
        ),
        (  # D8: "X claimed responsibility" names the perpetrator across a semicolon
            "In one attack, a bombing at a mosque, [[at least 17|K]] [[worshippers|V]] were killed "
            "and [[22|I]] injured; [[ISKP|P]] claimed responsibility.",
            [("at least 17", ["worshippers"], ["ISKP"]), ("22", ["worshippers"], ["ISKP"])],
        ),
        (  # D8: the claimant and "its fighters" are both linked
            "[[ISWAP|P]] later claimed responsibility in a statement, saying its [[fighters|P]] had "
            "killed [[30|K]] [[soldiers|V]].",
            [("30", ["soldiers"], ["ISWAP", "fighters"])],
        ),
        (  # a count that is the subject of its own coordinated clause takes no earlier subject
            "In May, [[gunmen|P]] killed [[11|K]] [[people|V]] at a gathering, and the bodies of "
            "[[eight|K]] [[men|V]] were found in a ravine in August.",
            [("11", ["people"], ["gunmen"]), ("eight", ["men"], [])],
        ),
        (
            "A spokesman said [[southern forces|P]] had killed [[eight|K]] [[AQAP fighters|V]], and "
            "that [[two|K]] more [[soldiers|V]] had died when their vehicle hit a roadside bomb.",
            [("eight", ["AQAP fighters"], ["southern forces"]), ("two", ["soldiers"], [])],
        ),
        (  # an appositive ", a local vigilante force," does not replace the subject it describes
            "In the incident [[members of the Yan Sakai|P]], a [[local vigilante force|P]], killed "
            "[[nine|K]] [[Fulani herders|V]] at a market.",
            [("nine", ["Fulani herders"], ["members of the Yan Sakai"])],
        ),
        (  # "the militia" takes up the actor named earlier in the sentence: both are linked
            "The ministry condemns the massacre committed by the terrorist [[Rapid Support militia|P]] "
            "in the village, where the [[militia|P]] killed [[more than 80|K]] [[citizens|V]].",
            [("more than 80", ["citizens"], ["Rapid Support militia", "militia"])],
        ),
    ],
)
def test_perpetrator_links_follow_the_guidelines(markup, expected):
    assert summary(records_of(markup)) == expected


def test_a_time_before_a_capitalised_number_ends_the_sentence():
    text = "Aircraft bombed houses at around 3 a.m. Three of the dead were children, he said."
    assert [text[a:b].strip() for a, b in sentence_bounds(text)] == [
        "Aircraft bombed houses at around 3 a.m.",
        "Three of the dead were children, he said.",
    ]


def test_a_count_among_a_larger_toll_is_part_of_it():
    records = records_of(
        "[[Three|K]] [[children|V]] were among [[at least 19|K]] [[civilians|V]] killed in an air raid "
        "on the village."
    )
    assert [(r["count"]["text"], r["part_of"]) for r in records] == [("Three", 1), ("at least 19", None)]


def test_a_title_count_among_a_larger_toll_without_a_verb_is_part_of_it():
    records = records_of("[[6|K]] [[children|V]] among [[19|K]] dead in regime bombing")
    assert [(r["count"]["text"], r["part_of"], [v["text"] for v in r["victims"]]) for r in records] == [
        ("6", 1, ["children"]),
        ("19", None, []),
    ]


def test_a_clause_opened_by_a_count_keeps_a_subject_that_has_no_toll_of_its_own():
    records = records_of(
        "A spokesman said the [[gunmen|P]] opened fire on [[residents|V]] as they fled, and that "
        "[[dozens|I]] of [[villagers|V]] were injured."
    )
    assert summary(records) == [("dozens", ["villagers"], ["gunmen"])]
