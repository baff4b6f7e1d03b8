"""The event of a report (inference/text/events.py): main event, totals without double counting,
categories, cause cues, actor; ``predict --events``; the FA-KES event benchmark's refusals.

Every text here is written for these tests (no FA-KES text)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inference import Extractor
from inference.text.events import Event, build_event, find_cause
from inference.text.records import build_records
from training.cli import main
from training.corpus.markup import parse_markup_text

ZERO = {"civilians": 0, "children": 0, "women": 0, "non_civilians": 0}


def event_of(markup: str) -> Event:

    text, spans, problems = parse_markup_text(markup)
    assert not problems, problems
    entities = sorted(spans)
    return build_event(text, entities, build_records(text, entities))


def killed(markup: str) -> dict[str, int]:
    return event_of(markup).killed.to_dict()


def test_no_count_is_all_zeros_and_the_dict_has_the_documented_shape() -> None:
    event = event_of("The army said its troops advanced on the town. Talks resume on Monday.")
    assert event.to_dict() == {
        "killed": ZERO,
        "injured": ZERO,
        "actor": None,
        "actors": [],
        "cause": None,
        "records": [],
    }
    json.dumps(event.to_dict())


def test_categories_are_summed_and_children_and_women_are_civilians() -> None:
    markup = (
        "[[Rebels|P]] shelled the town on Monday, killing [[12|K]] [[civilians|V]], [[three|K]] "
        "[[women|V]] and [[eight|K]] [[soldiers|V]] and wounding [[20|I]] [[people|V]]."
    )
    event = event_of(markup)
    assert event.killed.to_dict() == {"civilians": 15, "children": 0, "women": 3, "non_civilians": 8}
    assert event.injured.to_dict() == {**ZERO, "civilians": 20}


def test_sub_counts_are_not_added_twice() -> None:
    markup = (
        "Mortar fire killed [[at least nine|K]] [[civilians|V]], including [[three|K]] [[children|V]] "
        "and [[one|K]] [[woman|V]], in the market."
    )
    assert killed(markup) == {"civilians": 9, "children": 3, "women": 1, "non_civilians": 0}


def test_combatant_sub_count_of_people_moves_to_non_civilians() -> None:
    markup = "An air strike killed [[40|K]] [[people|V]], including [[12|K]] [[soldiers|V]], in the town."
    assert killed(markup) == {**ZERO, "civilians": 28, "non_civilians": 12}


def test_main_event_is_the_first_toll_and_later_incidents_are_left_out() -> None:
    markup = (
        "[[Government|P]] air strikes killed [[25|K]] [[civilians|V]] in Raqqa on Tuesday. "
        "In a separate attack, [[gunmen|P]] killed [[four|K]] [[policemen|V]] in Homs. "
        "The war has killed [[more than 300,000|K]] [[people|V]] since 2011."
    )
    event = event_of(markup)
    assert event.killed.to_dict() == {**ZERO, "civilians": 25}
    assert event.actor == "syrian government or russian troops"
    assert event.records == [0]


def test_a_repeated_toll_is_counted_once() -> None:
    # title run into the lead (no full stop), then the toll again in a later sentence
    markup = (
        "[[29|K]] [[rebels|V]] dead in car bomb blast [[At least 29|K]] [[rebels|V]] died in a blast "
        "in Homs on Sunday. A monitor said [[29|K]] [[rebels|V]] were killed when the car bomb exploded."
    )
    assert killed(markup) == {**ZERO, "non_civilians": 29}


def test_a_sub_count_of_a_repeated_toll_is_counted_once() -> None:
    markup = (
        "Toll in raid on Aleppo rises to [[76|K]]\n\n"
        "[[Seventy-six|K]] [[people|V]], including [[28|K]] [[children|V]], were killed on Sunday when "
        "[[army|P]] helicopters dropped barrel bombs on the city. "
        "Among the dead were [[28|K]] [[children|V]], a doctor said."
    )
    event = event_of(markup)
    assert event.killed.to_dict() == {**ZERO, "civilians": 76, "children": 28}
    assert event.cause == "shelling"


def test_children_said_to_be_among_the_dead_later_are_a_sub_count() -> None:
    markup = (
        "A car bomb killed [[18|K]] [[people|V]] in the suburb on Tuesday. "
        "The blast also wounded [[56|I]] [[people|V]]. "
        "It said [[three|K]] [[children|V]] were among the dead."
    )
    event = event_of(markup)
    assert event.killed.to_dict() == {**ZERO, "civilians": 18, "children": 3}
    assert event.cause == "explosion"


def test_a_vague_first_toll_gives_way_to_the_figure_that_follows() -> None:
    markup = (
        "[[Hundreds|K]] killed as battles rage in the border town. "
        "[[At least 412|K]] [[people|V]] have been killed in and around the town since September."
    )
    assert killed(markup) == {**ZERO, "civilians": 412}


def test_a_vague_title_run_into_its_lead_takes_the_figure_of_the_lead_sub_count() -> None:
    # no full stop between the title and the lead: the vague toll said twice in one sentence
    markup = (
        "Shelling kills [[dozens|K]] in northern city Wire Tuesday 3 May 2016 [[Dozens|K]] of "
        "[[people|V]] have been killed in shelling of the city, the monitor said, including "
        "[[at least 23|K]] [[people|V]] in one market. State media said [[four|K]] [[people|V]] "
        "died in mortar fire on the capital."
    )
    assert killed(markup) == {**ZERO, "civilians": 23}


def test_a_child_said_killed_in_an_injured_only_report_counts() -> None:
    markup = (
        "[[Child|V]] killed [[7|I]] [[civilians|V]] injured in rocket attacks on two towns. "
        "A rocket fired by [[militants|P]] on a school left a [[child|V]] dead and a [[teacher|V]] "
        "injured, a police source said."
    )
    event = event_of(markup)
    assert event.killed.to_dict() == {**ZERO, "civilians": 1, "children": 1}
    assert event.injured.to_dict() == {**ZERO, "civilians": 7}
    wounded = "[[Five|I]] [[civilians|V]] injured in shelling. A [[child|V]] was wounded by shrapnel."
    assert event_of(wounded).killed.to_dict() == ZERO


def test_the_sub_counts_of_a_toll_said_twice_count_once_at_the_larger_figure() -> None:
    # a feed text: title, a related title and the lead in one sentence, each with its children
    markup = (
        "[[7|K]] [[children|V]] among [[15|K]] dead in mortar attack Wire Sunday 4 June 2017 "
        "[[6|K]] [[children|V]] among [[15|K]] dead in strike on camp Mortar rounds hit a market "
        "killing [[at least 15|K]] [[people|V]] including [[7|K]] [[children|V]] officials said."
    )
    assert killed(markup) == {**ZERO, "civilians": 15, "children": 7}
    two_groups = (
        "Shelling killed [[20|K]] [[people|V]], including [[4|K]] [[children|V]] in one house and "
        "[[3|K]] [[children|V]] in another."
    )
    assert killed(two_groups)["children"] == 7


def test_a_lead_said_twice_does_not_push_the_figure_of_a_vague_toll_out_of_reach() -> None:
    lead = "[[Several|K]] [[people|V]] were killed in two blasts near the bus station. "
    markup = (
        "[[Several|K]] killed in twin blasts in the north. " + lead + lead + "The governor put the "
        "toll at [[nine|K]] and said [[31|I]] were wounded."
    )
    assert killed(markup) == {**ZERO, "civilians": 9}


def test_a_verb_pair_shares_its_victims() -> None:
    markup = "The army killed [[31|K]] and wounded [[40|I]] [[Daesh fighters|V]] near the town."
    assert killed(markup) == {**ZERO, "non_civilians": 31}


def test_a_victimless_title_toll_takes_the_victims_of_the_figures_that_add_up_to_it() -> None:
    markup = (
        "[[35|K]] dead in battle for base in Aleppo. "
        "[[At least 29|K]] [[fighters|V]] from the rebel movement were killed along with [[six|K]] "
        "[[Nusra Front militants|V]], the monitor said."
    )
    assert killed(markup) == {**ZERO, "non_civilians": 35}


def test_ranges_and_vague_words_take_the_best_value() -> None:
    assert killed("Shelling killed [[dozens|K]] of [[civilians|V]] in the town.")["civilians"] == 12
    assert killed("Shelling killed [[between 10 and 15|K]] [[civilians|V]] in the town.")["civilians"] == 10


def test_an_injured_only_report_has_no_killed_figures() -> None:
    event = event_of("[[Terrorists|P]] fired rocket shells at a city, injuring [[seven|I]] [[civilians|V]].")
    assert event.killed.to_dict() == ZERO
    assert event.injured.to_dict() == {**ZERO, "civilians": 7}
    assert event.actor == "unknown"  # "terrorists" names no group


@pytest.mark.parametrize(
    ("sentence", "cause"),
    [
        ("The regime shelled the town, killing 12.", "shelling"),
        ("Russian air strikes killed 12 in the town.", "shelling"),
        ("A car bomb killed 12 near the shelled market.", "explosion"),
        ("A suicide bomber killed 12 at the checkpoint.", "explosion"),
        ("A chlorine gas attack killed 12.", "chemical and toxic gases"),
        ("Sarin killed 12 in the village.", "chemical and toxic gases"),
        ("A sniper killed 12 in the old city.", "shooting"),
        ("Gunmen opened fire on a bus, killing 12.", "shooting"),
        ("The militants beheaded 12 captives.", "execution"),
        ("Twelve prisoners were executed in the square.", "execution"),
        ("Twelve people died in the town on Monday.", None),
        # a barrel bomb is dropped from the air, "attack" or not; a twin bombing is set off
        ("12 were killed in a barrel bomb attack on the district.", "shelling"),
        ("Two barrels bombs were dropped on the camp, killing 12.", "shelling"),
        ("A twin bombing struck a crowd, killing 12.", "explosion"),
        ("12 killed in terrorist bombing in Damascus.", "explosion"),
        ("12 killed in regime bombing of the town.", "shelling"),
    ],
)
def test_cause_cue_words(sentence: str, cause: str | None) -> None:
    assert find_cause(sentence) == cause


def test_cause_is_read_in_the_main_event_first() -> None:
    markup = (
        "A sniper shot dead [[two|K]] [[civilians|V]] in Daraa on Friday. "
        "Elsewhere, a car bomb killed [[nine|K]] [[people|V]] in Idlib."
    )
    assert event_of(markup).cause == "shooting"


def test_outside_the_main_event_s_sentence_the_most_named_cause_wins() -> None:
    # the toll's sentence names no means; the report is about shelling, with one explosive device
    markup = (
        "[[Seven|K]] [[people|V]] were killed and [[72|I]] [[others|V]] injured in Aleppo on Monday. "
        "Terrorists fired rocket shells at residential neighbourhoods, and shelling hit a school. "
        "Police defused an explosive device near the market. More shells fell on the old city."
    )
    assert event_of(markup).cause == "shelling"
    # within the sentence the order still decides: a car bomb among shells is an explosion
    in_one_sentence = "A car bomb and shells killed [[nine|K]] [[people|V]] after shelling."
    assert event_of(in_one_sentence).cause == "explosion"


def test_actor_falls_back_to_the_most_frequent_in_the_document() -> None:
    markup = (
        "[[Nine|K]] [[civilians|V]] died in the town on Monday. The [[Islamic State|P]] group has held "
        "the town since May. [[IS|P]] fighters also hold the road, and [[rebels|P]] hold the hills."
    )
    event = event_of(markup)
    assert event.actor == "the organization of the islamic state in iraq and the levant - isis"
    assert event.actors == [
        "the organization of the islamic state in iraq and the levant - isis",
        "armed opposition groups",
    ]


def test_actor_of_the_main_event_wins_over_a_more_frequent_one() -> None:
    markup = (
        "[[Coalition|P]] air strikes killed [[14|K]] [[civilians|V]] in Raqqa. [[IS|P]] has held Raqqa "
        "since 2014; [[IS|P]] fighters shelled a village nearby, killing [[two|K]] [[people|V]]."
    )
    assert event_of(markup).actor == "international coalition forces"


def test_a_named_actor_of_the_main_event_wins_over_an_unknown_one() -> None:
    # the headline's "Terrorists" says nobody; the same event's second toll names the group
    markup = (
        "[[Terrorists|P]] killed [[three|K]] [[officers|V]] near Deir Ezzor, and [[Islamic State|P]] "
        "fighters killed [[two|K]] [[soldiers|V]] there."
    )
    event = event_of(markup)
    assert event.actor == "the organization of the islamic state in iraq and the levant - isis"
    assert event.actors == [event.actor, "unknown"]
    assert event_of("[[Terrorists|P]] killed [[three|K]] [[officers|V]].").actor == "unknown"


def test_without_an_actor_span_the_headline_names_the_actor_of_the_attack() -> None:
    # the tagger missed the perpetrator; the headline names who struck, before the means
    markup = (
        "Friday 19 Aug 2016 Syrian regime warplanes pound Kurdish areas for a second day. Strikes "
        "on the city killed [[nine|K]] [[civilians|V]], a monitor said."
    )
    event = event_of(markup)
    assert event.actor == "syrian government or russian troops"
    assert event.actors == ["syrian government or russian troops"]


def test_the_headline_rule_reads_only_the_headline_and_never_takes_unknown() -> None:
    later = (
        "Fighting went on near the city on Monday, where shops stayed shut and residents queued for "
        "bread and fuel all morning; [[nine|K]] [[people|V]] died. Earlier, Russian jets hit a base nearby."
    )
    assert len(later.split("Russian")[0]) > 150
    assert event_of(later).actor is None
    assert event_of("Militant rockets hit a market and killed [[five|K]] [[people|V]].").actor is None


def test_an_actor_span_wins_over_the_headline() -> None:
    markup = (
        "Regime warplanes pound the east. [[IS|P]] fighters killed [[six|K]] [[soldiers|V]] in an "
        "ambush on Monday."
    )
    assert event_of(markup).actor == "the organization of the islamic state in iraq and the levant - isis"


def test_predict_events_adds_the_event_to_each_document(tiny_model: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "in.jsonl"
    documents = [
        {"id": "a", "text": "Gunmen killed 12 villagers and wounded 3 in a shooting."},
        {"id": "b", "text": "Talks resumed on Monday."},
    ]
    path.write_text("".join(json.dumps(d) + "\n" for d in documents), encoding="utf-8")
    extractor = Extractor.from_pretrained(tiny_model, device="cpu")
    assert main(["predict", "--model", str(tiny_model), "--device", "cpu", str(path)]) == 0
    plain = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all("event" not in line for line in plain)
    assert main(["predict", "--model", str(tiny_model), "--device", "cpu", "--events", str(path)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["id"] for line in lines] == ["a", "b"]
    for line, before, document in zip(lines, plain, documents, strict=True):
        assert line["entities"] == before["entities"] and line["records"] == before["records"]
        assert line["event"] == extractor.extract_events([document["text"]])[0]["event"]
        assert set(line["event"]) == {"killed", "injured", "actor", "actors", "cause", "records"}
        assert set(line["event"]["killed"]) == set(ZERO)
    assert lines[1]["event"]["cause"] is None


def test_extract_events_matches_build_event(tiny_model: Path) -> None:
    from inference import Extractor

    texts = ["Rebels shelled the town, killing four civilians.", ""]
    extractor = Extractor.from_pretrained(tiny_model, device="cpu")
    results = extractor.extract_events(texts)
    for text, result, typed in zip(texts, results, extractor.extract_records(texts), strict=True):
        assert {**result, "event": None} == {**typed.to_dict(), "event": None}
        assert result["event"] == build_event(text, typed.entities, typed.records or []).to_dict()


def event_benchmark():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "event_accuracy", Path(__file__).resolve().parents[3] / "benchmarks" / "event_accuracy.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_event_benchmark_skips_without_fakes_and_refuses_other_splits(tmp_path: Path) -> None:
    module = event_benchmark()
    said: list[str] = []
    assert module.main(["--model", "no-model", "--fakes-dir", str(tmp_path)], log=said.append) == 0
    assert "not found" in said[-1] and "skipped" in said[-1]
    for split in ("test", "reserved", "excluded_near_duplicates"):
        said.clear()
        argv = ["--model", "m", "--fakes-dir", str(tmp_path), "--split", split]
        assert module.main(argv, log=said.append) == 2
        assert "refused" in said[-1]


def test_held_out_articles_are_those_after_the_ones_the_model_trained_on(tmp_path: Path) -> None:
    module = event_benchmark()
    standoff = tmp_path / "train.standoff.jsonl"
    standoff.write_text("".join(json.dumps({"id": str(i), "spans": []}) + "\n" for i in range(10)))
    model = tmp_path / "model"
    model.mkdir()
    with pytest.raises(module.BenchmarkError, match="no training record"):
        module.held_out_ids(model, standoff)
    record = {"fakes": {"documents": 6}, "config": {"fakes_calibration_documents": 1}}
    (model / "training_record.json").write_text(json.dumps(record))
    assert module.held_out_ids(model, standoff) == ["7", "8", "9"]
    (model / "training_record.json").write_text(json.dumps({"fakes": {"documents": 10}}))
    with pytest.raises(module.BenchmarkError, match="none is held out"):
        module.held_out_ids(model, standoff)


def test_held_out_articles_of_a_model_trained_on_another_annotation_file(tmp_path: Path) -> None:
    # two folds: a model trained on the last five articles holds out the first five
    module = event_benchmark()
    standoff = tmp_path / "train.standoff.jsonl"
    standoff.write_text("".join(json.dumps({"id": str(i), "spans": []}) + "\n" for i in range(10)))
    fold = tmp_path / "fold.standoff.jsonl"
    fold.write_text("".join(json.dumps({"id": str(i), "spans": []}) + "\n" for i in range(5, 10)))
    model = tmp_path / "model"
    model.mkdir()
    record = {"fakes": {"annotations": str(fold), "documents": 5}}
    (model / "training_record.json").write_text(json.dumps(record))
    assert module.held_out_ids(model, standoff) == ["0", "1", "2", "3", "4"]
    fold.unlink()
    with pytest.raises(module.BenchmarkError, match="fold.standoff.jsonl"):
        module.held_out_ids(model, standoff)


def test_an_open_figure_counts_as_written() -> None:
    # recorders code "more than 40" as 40; the record keeps counts' 41
    markup = "Strikes killed [[more than 40|K]] [[civilians|V]] and [[over 100|K]] [[fighters|V]] on Sunday."
    assert killed(markup) == {**ZERO, "civilians": 40, "non_civilians": 100}


def test_a_rising_toll_counts_once_at_the_later_higher_figure() -> None:
    markup = (
        "A car bomb killed [[10|K]] [[people|V]] in the market on Monday. Rescuers searched the rubble "
        "for hours. By evening the death toll had risen to [[15|K]], a monitor said."
    )
    event = event_of(markup)
    assert event.killed.to_dict() == {**ZERO, "civilians": 15}
    assert len(event.records) == 1


def test_a_rising_toll_in_the_same_sentence_is_not_added() -> None:
    markup = "Shelling killed [[six|K]] [[civilians|V]] on Monday, raising the toll to [[nine|K]] this week."
    assert killed(markup) == {**ZERO, "civilians": 9}


def test_a_lower_or_unrelated_later_figure_does_not_replace_the_toll() -> None:
    markup = (
        "Shelling killed [[20|K]] [[civilians|V]] in the town. Elsewhere the toll rose to [[eight|K]] "
        "[[soldiers|V]] after clashes."
    )
    assert killed(markup) == {**ZERO, "civilians": 20}


def test_combatants_among_the_dead_move_from_civilians_to_non_civilians() -> None:
    markup = (
        "Air strikes killed [[at least 70|K]] [[people|V]] in the district. [[Twelve|K]] [[children|V]] "
        "and [[11|K]] [[fighters|V]] were among the dead, the monitor said."
    )
    assert killed(markup) == {"civilians": 59, "children": 12, "women": 0, "non_civilians": 11}


def test_children_among_the_dead_are_not_the_category_of_a_toll() -> None:
    # "with children among the casualties" names part of the dead, not who the 20 are
    assert killed(
        "The number of [[civilians|V]] killed in the strike has risen to [[20|K]] with [[children|V]] "
        "among the casualties, media reported."
    ) == {**ZERO, "civilians": 20}
    assert killed(
        "A bomb killed [[at least 44|K]] [[people|V]] in the city. The monitor gave a toll of [[48|K]] dead "
        "adding that [[children|V]] and [[women|V]] were among those killed."
    ) == {**ZERO, "civilians": 44}


def test_a_sub_count_of_a_later_repetition_of_the_toll_counts() -> None:
    # "five of the dead" belongs to the 45 of the third sentence, the same toll as the anchor's
    assert killed(
        "[[At least 45|K]] [[people|V]] have been killed in the city in the last 24 hours. Strikes killed "
        "[[12|K]] [[civilians|V]] on Monday, bringing the number killed in 24 hours to [[45|K]]. The "
        "monitor said [[five|K]] of the dead were [[children|V]]."
    ) == {**ZERO, "civilians": 45, "children": 5}


def test_sub_counts_of_a_breakdown_of_the_toll_count() -> None:
    # 18 = 11 + 7: the next sentence breaks the title's toll down, with its own sub-counts
    assert killed(
        "Air raids kill [[18|K]] [[civilians|V]] in the city\n"
        '"[[Eleven|K]] [[civilians|V]] including [[four|K]] [[children|V]] were killed after midnight and '
        '[[seven|K]] others were killed in another district" the monitor said.'
    ) == {**ZERO, "civilians": 18, "children": 4}


def test_children_among_a_larger_toll_are_a_sub_count_of_it() -> None:
    assert killed(
        "[[Three|K]] [[children|V]] were among [[at least 19|K]] [[civilians|V]] killed in an air raid."
    ) == {**ZERO, "civilians": 19, "children": 3}


def test_children_named_before_their_toll_give_way_to_it() -> None:
    # the lead names only the children ("killing civilians including three children"); the toll
    # they are part of follows
    assert killed(
        "An air raid hit a village, killing [[civilians|V]] including [[three|K]] [[children|V]]. "
        "[[Three|K]] [[children|V]] were among [[at least 19|K]] [[civilians|V]] killed in the raid."
    ) == {**ZERO, "civilians": 19, "children": 3}


def test_event_benchmark_scores_an_injured_only_report_by_its_injured() -> None:
    # FA-KES's coders put an injured-only report's casualties in its figures
    answer = event_benchmark().event_answer(
        event_of("Rocket fire wounded [[seven|I]] [[civilians|V]] in the city.").to_dict()
    )
    assert (answer["civilians"], answer["non_civilians"]) == (7, 0)
    answer = event_benchmark().event_answer(
        event_of("Shelling killed [[two|K]] [[civilians|V]] and wounded [[nine|I]] [[people|V]].").to_dict()
    )
    assert answer["civilians"] == 2


def test_a_title_child_figure_said_again_as_part_of_the_toll_counts_once() -> None:
    # a run-on feed: the title's "10 children" and "Ten children were among at least 48" are one figure
    assert killed(
        "Forces execute [[10|K]] [[children|V]] of alleged rebels Monitor AFP Saturday [[Ten|K]] "
        "[[children|V]] were among [[at least 48|K]] [[people|V]] killed in a village this week."
    ) == {**ZERO, "civilians": 48, "children": 10}


def test_a_victimless_title_broken_down_later_is_not_added_to_its_parts() -> None:
    assert killed(
        "Air strikes kill [[42|K]] Monitor AFP Monday Strikes killed [[at least 42|K]] [[people|V]] in "
        "the province on Sunday. The raids killed [[19|K]] [[people|V]] including [[six|K]] "
        "[[children|V]] outside one town and another [[23|K]] [[people|V]] among them [[10|K]] "
        "[[children|V]] in another."
    ) == {**ZERO, "civilians": 42, "children": 16}


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        # one child or woman that no count counts, a part of the toll
        (
            "Shelling killed [[two|K]] [[civilians|V]] including a [[child|V]] in Aleppo on Friday.",
            {"civilians": 2, "children": 1, "women": 0, "non_civilians": 0},
        ),
        (
            "[[At least 12|K]] [[civilians|V]] including [[four|K]] [[women|V]] and a "
            "[[baby|V]] were killed in air raids.",
            {"civilians": 12, "children": 1, "women": 4, "non_civilians": 0},
        ),
        # beside a toll of combatants the child is a civilian of its own
        (
            "An air strike on a camp killed [[17|K]] [[militants|V]] and a [[child|V]], a monitor said.",
            {"civilians": 1, "children": 1, "women": 0, "non_civilians": 17},
        ),
        # a victimless title: the sentence after it says who died
        (
            "[[8|K]] killed in rocket attacks on Aleppo. A [[man|V]] and his young [[daughter|V]] "
            "were killed when rockets hit the city.",
            {"civilians": 8, "children": 1, "women": 0, "non_civilians": 0},
        ),
        # "young siblings" are children, and among the dead a sub-count of the toll
        (
            "Coalition strikes killed [[at least 16|K]] [[civilians|V]] on Monday. The monitor said "
            "[[five|K]] young [[siblings|V]] were among the dead.",
            {"civilians": 16, "children": 5, "women": 0, "non_civilians": 0},
        ),
    ],
)
def test_a_child_named_without_a_count_is_one(markup: str, expected: dict[str, int]) -> None:
    assert killed(markup) == expected


@pytest.mark.parametrize(
    "markup",
    [
        # wounded, not killed
        "Shelling killed [[three|K]] [[people|V]] in the town and a [[child|V]] was wounded.",
        # plural: no figure to code
        "Shelling killed [[three|K]] [[people|V]] including [[children|V]] in the town.",
        # another incident's sentence
        "Shelling killed [[three|K]] [[people|V]] in the town. Elsewhere a [[child|V]] died.",
        # a woman without a count is not counted (measured: no gain on FA-KES)
        "Shelling killed [[three|K]] [[people|V]] including a pregnant [[woman|V]] in the town.",
    ],
)
def test_an_uncounted_victim_outside_the_main_toll_adds_nothing(markup: str) -> None:
    assert killed(markup)["women"] == 0 and killed(markup)["children"] == 0


def test_a_victimless_toll_takes_the_victims_of_its_repeat() -> None:
    markup = (
        "[[Militants|P]] kill [[45|K]] in raid on border post. [[Militants|P]] killed [[45|K]] "
        "[[border guards|V]] when they overran the post on Friday, a monitoring group said."
    )
    assert killed(markup) == {**ZERO, "non_civilians": 45}


def test_the_wars_toll_since_it_began_is_background_not_the_main_event() -> None:
    markup = (
        "Rebels launch assault in divided Aleppo. Once an economic powerhouse, Aleppo has been ravaged "
        "by the war that began in 2011 and which has since killed [[more than 280,000|K]] [[people|V]]. "
        "The monitor said [[19|K]] [[soldiers|V]] were killed on Monday when [[rebels|P]] blew up a tunnel."
    )
    assert killed(markup) == {**ZERO, "non_civilians": 19}
    # a report that gives no other toll keeps it: it is still what the text reports
    assert killed(
        "The war, which began in 2011, has killed [[more than 280,000|K]] [[people|V]], the monitor said."
    ) == {**ZERO, "civilians": 280000}
    # the event itself may be the first since the war began
    assert killed(
        "The blast, the first in the town since the war began in 2011, killed [[four|K]] [[people|V]]. "
        "[[More than 280,000|K]] [[people|V]] have been killed in Syria since the conflict began."
    ) == {**ZERO, "civilians": 4}


def test_the_tolls_of_a_pages_related_headlines_are_other_articles() -> None:
    # a feed runs the page's links to other stories into the text, between the title and the lead
    markup = (
        "Tunnel blast kills [[38|K]] [[soldiers|V]] in Aleppo AFP Print Tweet Views 1430 Related "
        "Talks stall in Geneva [[43|K]] [[civilians|V]] dead in bombardment of rebel-held areas "
        "Nearly [[40|K]] [[soldiers|V]] were killed when [[rebels|P]] blew up a tunnel, a monitor said."
    )
    assert killed(markup) == {**ZERO, "non_civilians": 38}
    # with no toll in the title, the lead run into the links is where the toll is
    assert killed(
        "Tunnel blast in Aleppo AFP Print Tweet Views 1430 Related Talks stall in Geneva Nearly "
        "[[40|K]] [[soldiers|V]] were killed when [[rebels|P]] blew up a tunnel, a monitor said. "
        "On Tuesday shelling killed [[three|K]] [[civilians|V]] in Idlib."
    ) == {**ZERO, "non_civilians": 40}
