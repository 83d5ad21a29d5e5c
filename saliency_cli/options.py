"""Every run option, declared once: name, type, default, help, help panel, the commands that take it
and where its value goes.

``Settings`` (settings.py), the keywords of ``saliency_cli.explain`` / ``evaluate`` and the Typer
signatures of the ``explain`` and ``evaluate`` commands (cli/signature.py) are all made from
``OPTIONS``, as the methods' own parameters are made from their ``Param`` tables. Adding a run option
is one entry here plus the code that reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from saliency_cli.methods.perturbation_family import REPLACEMENTS

PANELS = ("Input", "Model", "Methods", "Targets and output", "Performance", "Ray", "Run control")
BOTH = ("explain", "evaluate")

# Where a value goes: the engine's Settings, the reader's InputSpec, the model loader, the run itself
# (outputs, display, control), the Ray runner.
SETTINGS, INPUT, MODEL, RUN, RAY = "settings", "input", "model", "run", "ray"


@dataclass(frozen=True)
class Option:
    """One run option. ``name`` is the API keyword and the Typer parameter; the CLI flag is ``flag``
    (``--`` + name, dashed, unless given). ``dest_field`` names it in its destination when that differs."""

    name: str
    default: Any
    help: str
    panel: str
    to: str = RUN
    type: type = str
    commands: tuple[str, ...] = BOTH
    many: bool = False  # repeatable: a tuple of values
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    flags: tuple[str, ...] = ()  # the CLI flags (default: --name), a short one after it
    dest_field: str | None = None
    api: bool = True  # a keyword of saliency_cli.explain / evaluate
    argument: bool = False  # a positional CLI argument rather than a flag
    metavar: str | None = None
    default_text: str | None = None  # how --help shows the default, when not the value itself
    per_command: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def flag(self) -> str:
        """The long CLI flag."""
        return self.flags[0] if self.flags else "--" + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        """The name in the destination (a Settings field, an InputSpec field, ...)."""
        return self.dest_field or self.name

    def on(self, command: str) -> "Option":
        """This option as ``command`` takes it (its per-command help, default or argument form)."""
        return replace(self, **self.per_command.get(command, {}))


def _methods_help() -> str:
    from saliency_cli.methods import METHODS

    names = ", ".join(m.name for m in METHODS.values())
    aliases = ", ".join(a for m in METHODS.values() for a in m.aliases)
    return f"{names} (aliases {aliases}); repeatable"


EVALUATED = ("gradient", "gradient-x-input", "integrated-gradients", "occlusion")

OPTIONS: tuple[Option, ...] = (
    # Input
    Option("texts", (), "Review texts to explain (or use --input).", "Input", INPUT, many=True, argument=True,
           commands=("explain",), api=False, metavar="TEXT"),
    Option("input", None, "Input file, folder (its files of a known format, in name order) or quoted glob; "
           "'-' reads stdin.", "Input", INPUT, flags=("--input", "-i"), dest_field="path", api=False, metavar="PATH",
           per_command={"evaluate": {"argument": True, "metavar": "INPUT",
                                     "help": "Reviews: a text, CSV, TSV, JSONL or Parquet file, a folder of them or a "
                                             "quoted glob; '-' reads stdin."}}),
    Option("format", "auto", "Input format (auto: the extension, then the content).", "Input", INPUT,
           choices=("auto", "text", "csv", "tsv", "jsonl", "parquet"), api=False),
    Option("text_field", "text", "CSV or Parquet column / JSONL key holding the review.", "Input", INPUT, api=False,
           metavar="NAME"),
    Option("id_field", None, "Column/key with row ids (unique within a file).", "Input", INPUT, api=False,
           metavar="NAME", default_text="the column or key 'id' when there is one, else the row number"),
    Option("row_ids", False, "Row numbers as ids, even when the input has an 'id' column or key.", "Input", INPUT,
           type=bool, api=False),
    Option("label_field", None, "CSV column / JSONL key with your own label (the gold label): carried to every "
           "record as 'label', and summarize's confusion view.", "Input", INPUT, api=False, metavar="NAME"),
    Option("rationale_field", None, "CSV column / JSONL key with the words a person marked as the reason: a JSON list "
           "of words or of [start, end] spans; adds plausibility (token F1, IOU, AUPRC).", "Input", INPUT,
           commands=("evaluate",), api=False, metavar="NAME"),
    Option("encoding", "utf-8", "Input encoding, e.g. utf-8, latin-1, cp1252, utf-16.", "Input", INPUT, api=False),
    Option("delimiter", None, "CSV delimiter.", "Input", INPUT, api=False, default_text="sniffed from the header"),
    # Model
    Option("model", None, "Hub id or local folder of a sequence classifier.", "Model", MODEL,
           flags=("--model", "-m"), dest_field="name", metavar="NAME", default_text="the embedded model"),
    Option("trust_remote_code", False, "Allow the model's own Python code.", "Model", MODEL, type=bool),
    Option("device", "auto", "Device to run on.", "Model", MODEL, metavar="auto|cpu|cuda|cuda:N|mps"),
    Option("dtype", "float32", "Precision of the model's matmuls (inputs, gradients and sums stay float32); "
           "auto: bfloat16 where the hardware runs it natively.", "Model", SETTINGS,
           choices=("auto", "float32", "bfloat16", "float16")),
    Option("max_length", None, "Truncate reviews to N tokens (at most the model's limit).", "Model", MODEL,
           type=int, minimum=3, metavar="N", default_text="the model's limit"),
    # Methods
    Option("methods", ("integrated-gradients",), "Saliency method: " + "{methods}.", "Methods", SETTINGS,
           many=True, flags=("--method",), metavar="METHOD",
           per_command={"evaluate": {"default": EVALUATED, "help": "Methods to compare: {methods}; the seeded "
                                     "'random' control is always added."}}),
    # Targets and output
    Option("target", ("predicted",), "predicted|all|LABEL|INDEX: the label(s) explained; repeatable.",
           "Targets and output", SETTINGS, many=True, flags=("--target", "-t"), dest_field="targets", metavar="TARGET"),
    Option("attribute", "probability", "The output explained.", "Targets and output", SETTINGS,
           choices=("probability", "logit")),
    Option("normalize", "none", "Normalisation view of the scores (none: raw, signed).", "Targets and output",
           SETTINGS, choices=("none", "l1", "max"), dest_field="normalization", commands=("explain",)),
    Option("output", None, "Output file, format by extension (.csv: CSV, .parquet: Parquet, else JSONL); repeatable; "
           "'-' is stdout.",
           "Targets and output", RUN, many=True, flags=("--output", "-o"), api=False, metavar="PATH",
           default_text="stdout",
           per_command={"evaluate": {"many": False, "default_text": None,
                                     "help": "Write every scored row as JSONL ('-': stdout)."}}),
    Option("output_format", None, "Format of every output (and of --output-dir parts).", "Targets and output", RUN,
           choices=("jsonl", "csv", "parquet"),
           commands=("explain",), api=False, default_text="by extension"),
    Option("level", "token", "CSV rows per token or per word.", "Targets and output", RUN,
           choices=("token", "word"), commands=("explain",), api=False),
    Option("html", None, "Also write a self-contained HTML report ('-': stdout).", "Targets and output", RUN,
           api=False, metavar="PATH",
           per_command={"evaluate": {"help": "Write an HTML page with the tables and deletion curves."}}),
    Option("summary", None, "Write the summary JSON here ('-': stdout).", "Targets and output", RUN,
           api=False, metavar="PATH",
           per_command={"explain": {"many": True, "help": "Also summarize the run across the file, as 'saliency-cli "
                                    "summarize' does: .json, .csv (group x word) or .html by extension; repeatable."}}),
    Option("errors", None, "Also write row errors as JSONL to this file.", "Targets and output", RUN, api=False,
           metavar="PATH"),
    Option("faithfulness", False, "Add ERASER comprehensiveness/sufficiency of each explanation "
           "(more forward passes).", "Targets and output", SETTINGS, type=bool, commands=("explain",)),
    Option("faithfulness_baseline", None, "What the words faithfulness removes become.", "Targets and output",
           SETTINGS, choices=REPLACEMENTS, default_text="mask"),
    Option("bootstrap", 1000, "Bootstrap resamples for the 95% intervals.", "Targets and output", RUN, type=int,
           minimum=1, commands=("evaluate",), metavar="N"),
    Option("preview", None, "Coloured preview on stderr.", "Targets and output", RUN, type=bool,
           commands=("explain",), api=False, flags=("--preview/--no-preview",),
           default_text="on when stderr is a terminal"),
    Option("top_k", 5, "Words listed per explanation in the preview.", "Targets and output", RUN, type=int,
           minimum=0, commands=("explain",), api=False),
    # Performance
    Option("batch_size", 16, "Reviews explained together; each batch's rows are written as soon as it finishes.",
           "Performance", SETTINGS, type=int, minimum=1, flags=("--batch-size", "-b")),
    Option("max_memory", None, "Activation memory per chunk, e.g. 512MB, 4GB.", "Performance", SETTINGS,
           metavar="SIZE", default_text="512MB on CPU, half the free GPU memory"),
    Option("long_text", "truncate", "Cut reviews at the model limit, or explain overlapping windows.",
           "Performance", SETTINGS, choices=("truncate", "window"), commands=("explain",)),
    Option("window_overlap", None, "Tokens shared by neighbouring windows.", "Performance", SETTINGS, type=int,
           minimum=0, commands=("explain",), metavar="N", default_text="a quarter of the window"),
    # Ray
    Option("engine", "local", 'Explain in this process, or on a Ray actor pool (pip install "saliency-cli[ray]").',
           "Ray", RAY, choices=("local", "ray"), api=False),
    Option("ray_address", None, "'auto' or HOST:PORT joins a running cluster.", "Ray", RAY, api=False,
           metavar="ADDRESS", default_text="a private local instance"),
    Option("workers", None, "N actors, or MIN:MAX to autoscale.", "Ray", RAY, api=False,
           metavar="N|MIN:MAX", default_text="CPUs/2 locally, 1:all on a cluster"),
    Option("cpus_per_worker", None, "CPUs (and torch threads) per actor.", "Ray", RAY, type=float, api=False,
           metavar="F", default_text="local CPUs shared, 1 on a cluster"),
    Option("gpus_per_worker", None, "GPUs per actor, e.g. 1.", "Ray", RAY, type=float, api=False, metavar="G",
           default_text="0"),
    Option("output_dir", None, "Each actor writes part files here, plus manifest.json (instead of -o).", "Ray", RUN,
           commands=("explain",), api=False, metavar="DIR"),
    # Run control
    Option("resume", False, "Skip the reviews already in --output and append the rest.", "Run control", RUN,
           type=bool, api=False,
           per_command={"evaluate": {"help": "Continue an interrupted run: skip the reviews already in -o."}}),
    Option("fail_fast", False, "Stop at the first row that fails.", "Run control", RUN, type=bool, api=False),
    Option("quiet", False, "No progress, preview or summary on stderr (errors still shown).", "Run control", RUN,
           type=bool, flags=("--quiet", "-q"), api=False),
)

BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS}


def for_command(command: str) -> list[Option]:
    """The options ``command`` takes, as it takes them, in panel order."""
    chosen = [o.on(command) for o in OPTIONS if command in o.commands]
    return sorted(chosen, key=lambda o: PANELS.index(o.panel))


def destined(values: Mapping[str, Any], to: str) -> dict[str, Any]:
    """The values of the options going to ``to``, by their destination's field names."""
    return {o.dest: values[o.name] for o in OPTIONS if o.to == to and o.name in values}


def help_text(option: Option) -> str:
    """The option's help with the method names filled in."""
    return option.help.replace("{methods}", _methods_help()) if "{methods}" in option.help else option.help
