"""Importers from annotation tools (Label Studio, doccano, CoNLL BIO) and exporters from the corpus.

The package holds one module per concern: ``common`` (label names, ``parse_label``,
``Imported`` and the document builder every importer shares), ``label_studio``, ``doccano`` and
``conll`` (each format's reader and writer) and ``convert`` (reading and writing files for the
``convert`` command). Import from ``training.corpus.formats``, which re-exports the public names.

Every importer returns the documents it could build plus a ``Problem`` for everything that did not fit
(an unknown label, a count without outcome, offsets out of range, a tool's span text that differs from
``text[start:end]``, a span cutting a word, overlapping spans, a task without annotation). Nothing is
dropped without an issue naming the file, the task or line, and the span. ``convert --id-prefix
PREFIX`` puts PREFIX before every document id any importer gives; given once per input file (in
order), or as ``--id-prefix-from-file`` (each file's name without its suffix, and a hyphen), it gives
each file's documents their own, so that exports whose ids overlap (the task ids of two Label Studio
projects or instances) can go into one corpus. Two documents that still have the same id are
refused, even with ``--skip-bad``, each named by its input file and task or line (``A.json task 1
and B.json task 1 have the same document id '1'``), never by a line of the output.

Label names (all formats)
-------------------------
Names are compared after upper-casing and turning every run of non-alphanumeric characters into
``_``, so ``casualty-count:killed``, ``Casualty Count Killed`` and ``CASUALTY_COUNT_KILLED`` are the
same name.

=========================================================  =======================================
name                                                       becomes
=========================================================  =======================================
``CASUALTY_COUNT``, ``CASUALTY``, ``CASUALTIES``, ``COUNT``  CASUALTY_COUNT, outcome from elsewhere
``VICTIM_TYPE``, ``VICTIM``, ``VICTIMS``                     VICTIM_TYPE
``PERPETRATOR``, ``PERP``, ``ACTOR``, ``ATTACKER``           PERPETRATOR
``K``, ``I``, ``V``, ``P``                                   as in ``training.corpus.markup``
count name + outcome word, either order                    CASUALTY_COUNT with that outcome
(``CASUALTY_COUNT_KILLED``, ``CASUALTY_COUNT:injured``,
``KILLED_COUNT``)
an outcome word alone (``KILLED``, ``WOUNDED``, ``DEATHS``)  CASUALTY_COUNT with that outcome
=========================================================  =======================================

Outcome words: killed, kill, dead, death, deaths, died, fatal, fatality, fatalities → ``killed``;
injured, injury, injuries, wounded, wound, wounds, hurt → ``injured``.

Where a count's name carries no outcome, the outcome comes from (in this order) the tool's own
outcome field (Label Studio: a per-region ``choices`` result, ``value.outcome`` or the region's
``meta.text``; a second label on the region that is an outcome word), else from
``default_outcome`` (``--default-outcome``), else the span is reported as missing its outcome. An
outcome that contradicts the label's own is reported too.

Label Studio
------------
The JSON export: a list of tasks ``{"id", "data": {"text", "doc_id"?}, "annotations": [{"result":
[...], "was_cancelled", "ground_truth", "completed_by", "created_at", "updated_at"}]}``. Regions
are results whose ``value`` has ``start``, ``end`` and ``labels``; a ``choices`` result with the
same region ``id`` (``perRegion`` choices) gives the outcome. Offsets are Python string indices;
Label Studio counts UTF-16 code units, so where the two differ (characters beyond U+FFFF) offsets
are converted when that makes ``value.text`` match. The document id is ``data.doc_id``, else
``data.id``, else the task id. A task with no submitted annotation is reported (it is not the same
thing as a report without casualties); cancelled annotations (``was_cancelled``) do not count. A
task with several is reported unless one is chosen: ``annotator`` (``--annotator EMAIL_OR_ID``)
keeps the annotations whose ``completed_by`` is that user (a user id, or the export's ``{"id",
"email", ...}`` object, matched by id or email, case ignored), then ``annotation``
(``--annotation``) picks ``latest`` (the greatest ``updated_at``, else ``created_at``; the last one
when an annotation has neither), ``ground-truth`` (the one with ``ground_truth`` true) or a
position N (0 = first) among those left. A task where that finds none (no annotation by the user,
none marked ground truth, fewer than N + 1) is reported with its annotators. Relation results
(count → victim or perpetrator; the type from the relation's label, else from the target's label)
become the corpus ``relations``; the exporter writes them back, so corpus → Label Studio → corpus
is exact. The JSON-MIN export (flat objects with ``text`` and region lists) is read too; its rows
hold one annotation each, and the choice does not apply to them. The labelling config that fits
is ``label_studio.LABEL_CONFIG`` (``pre-annotate`` writes it beside its tasks): a ``Labels`` control
``label`` on the ``Text`` object ``text``, the counts' outcome in the label
(``CASUALTY_COUNT_KILLED``, ``CASUALTY_COUNT_INJURED``), and ``Relations`` victim / perpetrator.

Pre-annotation (``to_label_studio_predictions``, ``to_doccano_predictions``): Label Studio tasks
carry the model's entities under ``predictions`` (``model_version``, ``score``, and regions with
their span ``score``), which Label Studio shows as pre-annotations; an annotator's accepted or
corrected copy is a submitted annotation in the export, which the reader above takes. doccano
imports the entities as the document's ``label`` list; the scores and model version go in keys it
keeps as metadata.

doccano
-------
JSON Lines, one document a line: ``text`` plus ``label`` (or ``labels``) as ``[[start, end,
"LABEL"], ...]``, or ``entities`` as ``[{"id", "start_offset", "end_offset", "label"}, ...]`` with
``relations`` ``[{"from_id", "to_id", "type"}]`` (what the exporter writes for documents that have
relations). The id is ``doc_id``, else ``meta.doc_id`` / ``meta.id``, else ``id``.

CoNLL BIO
---------
One token a line, the token in the first column and the tag in the last (tab or spaces between);
a blank line ends a sentence; a ``-DOCSTART-`` line starts a document. Tags: ``O``, ``B-X``,
``I-X`` (an ``I-`` with no open span starts one, as in IOB1; one that follows a span of another
type is reported, and its span skipped), and ``S-``/``U-``, ``E-``/``L-`` of BIOES/BILOU. ``X`` is
a label name as above, so ``B-CASUALTY_COUNT:killed`` (what the exporter writes) and
``B-CASUALTY_COUNT`` with ``default_outcome`` both work. The exporter writes two
comment lines after ``-DOCSTART-``: ``# id = <id>`` and ``# text = <the text as a JSON string>``;
with them the import gives back the identical document. Without them the text is rebuilt from the
tokens, one space between tokens and a line break between sentences; a file with neither
``-DOCSTART-`` nor ``# id`` lines gives one document per sentence, named ``<file stem>-<n>``. CoNLL
holds no relations: the exporter lists each document whose relations it leaves out.
"""

from __future__ import annotations

from training.corpus.formats.common import (
    EXPORT_NAMES,
    LABEL_ALIASES,
    MARKUP_TAGS,
    OUTCOME_WORDS,
    RELATION_FOR_LABEL,
    RELATION_OF,
    Imported,
    Predicted,
    normalize_name,
    parse_label,
    parse_outcome,
)
from training.corpus.formats.conll import DOCSTART, conll_tokens, read_conll, to_conll
from training.corpus.formats.convert import (
    ConvertError,
    id_clashes,
    input_prefixes,
    load_source,
    read_any,
    report_and_check,
    with_id_prefix,
    write_corpus_validated,
    write_target,
)
from training.corpus.formats.doccano import read_doccano, to_doccano, to_doccano_predictions
from training.corpus.formats.label_studio import (
    LABEL_CONFIG,
    read_label_studio,
    to_label_studio,
    to_label_studio_predictions,
)
from training.corpus.problems import Problem

__all__ = [
    "ConvertError",
    "DOCSTART",
    "EXPORT_NAMES",
    "Imported",
    "Problem",
    "LABEL_CONFIG",
    "Predicted",
    "LABEL_ALIASES",
    "MARKUP_TAGS",
    "OUTCOME_WORDS",
    "RELATION_FOR_LABEL",
    "RELATION_OF",
    "conll_tokens",
    "id_clashes",
    "input_prefixes",
    "load_source",
    "normalize_name",
    "parse_label",
    "parse_outcome",
    "read_any",
    "read_conll",
    "read_doccano",
    "read_label_studio",
    "report_and_check",
    "to_conll",
    "to_doccano",
    "to_doccano_predictions",
    "to_label_studio",
    "to_label_studio_predictions",
    "with_id_prefix",
    "write_corpus_validated",
    "write_target",
]
