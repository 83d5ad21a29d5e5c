"""The Typer app: one thin command per module of this package, their options made from the option table."""

from __future__ import annotations

import typer

from saliency_cli.cli import evaluate, explain, listing, report, summarize
from saliency_cli.cli.signature import command_of

app = typer.Typer(
    name="saliency-cli",
    help="Explain transformer text classifiers: which tokens drove each prediction.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from saliency_cli import __version__

        typer.echo(f"saliency-cli {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Explain transformer text classifiers: which tokens drove each prediction."""


app.command("explain")(command_of("explain", explain.explain))
app.command("evaluate")(command_of("evaluate", evaluate.evaluate))
app.command("report")(report.report)
app.command("summarize")(summarize.summarize)
app.command("methods")(listing.methods)
app.command("models")(listing.models)


def main() -> None:
    """Console-script entry point."""
    app()
