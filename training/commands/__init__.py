"""The commands of ``conflict-ie``, one module per job; each module's ``add_parsers`` registers its
commands with their ``func``. Modules import only light code at the top: heavy imports happen per command."""
