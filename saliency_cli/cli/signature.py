"""Typer parameters made from the option table (``options.OPTIONS``) and the methods' ``Param``
tables: each option's flags, default, help and help panel are declared once, there."""

from __future__ import annotations

import inspect
from typing import Any, Callable, List, Optional

import typer
from rich.markup import escape

from saliency_cli.options import Option, for_command, help_text
from saliency_cli.settings import method_options

METAVARS = {int: "INTEGER", float: "FLOAT", str: "TEXT"}


def _no_python_types() -> None:
    """Typer prints a Python type (``<list[str]>``, ``<bool>``) beside arguments and flags in --help;
    our metavars say what a value is, and a flag takes none, so show neither. (Patched once, for
    this process's Typer: the CLI is the only user of these classes here.)"""
    from typer import core

    option_type = core.TyperOption.display_type_rich
    core.TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]
    core.TyperOption.display_type_rich = (  # type: ignore[method-assign]
        lambda self, ctx: None if self.is_flag else option_type(self, ctx))
    # and name a required argument in the usage line as click does (RESULTS), not {RESULTS}
    core.TyperArgument._usage_display_name = lambda self: (  # type: ignore[attr-defined]
        (self.display_name_raw if self.required else f"[{self.display_name_raw}]") + ("..." if self.nargs != 1 else ""))


_no_python_types()


def _annotation(option: Option) -> Any:
    if option.many:
        return Optional[List[option.type]]
    return option.type if option.default is not None else Optional[option.type]


def _default_text(option: Option) -> str | None:
    """The default as --help states it in words, where Typer cannot show the value itself."""
    if option.default_text is not None:
        return option.default_text
    if option.many:
        return ", ".join(option.default) if option.default else None
    return None


def _help(text: str, default: str | None = None) -> str:
    """Help for rich's markup (brackets kept as written), with the default in words if given."""
    return escape(text + (f" [default: {default}]" if default else ""))


def _metavar(option: Option) -> str | None:
    if option.type is bool:
        return None
    if option.metavar:
        return option.metavar
    if option.choices:
        return "|".join(option.choices)
    return METAVARS.get(option.type)


def _parameter(option: Option) -> inspect.Parameter:
    default = None if option.many else option.default
    if option.argument:
        info = typer.Argument(default, help=_help(help_text(option)), metavar=_metavar(option), show_default=False)
    else:
        flags = option.flags or (option.flag,)
        words = _default_text(option)
        shown = words is None and option.type is not bool and option.default is not None
        info = typer.Option(default, *flags, help=_help(help_text(option), words), rich_help_panel=option.panel,
                            show_default=shown, metavar=_metavar(option))
    return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, annotation=_annotation(option), default=info)


def _method_parameters() -> list[inspect.Parameter]:
    """One option per row of the method-option table, in the Methods panel, with each method's default."""
    out = []
    for row in method_options().values():
        defaults = ", ".join(f"{m}: {p.default}" for m, p in row.uses if p.default is not None)
        out.append(inspect.Parameter(
            row.keyword, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[row.type],
            default=typer.Option(None, row.flag, help=_help(row.help, defaults), rich_help_panel="Methods",
                                 show_default=False, metavar=METAVARS.get(row.type)),
        ))
    return out


def command_of(command: str, func: Callable[..., None]) -> Callable[..., None]:
    """``func(**values)`` with the signature Typer reads: every option ``command`` takes, in panel order,
    the method options after the Methods panel's own."""
    params = [_parameter(o) for o in for_command(command)]
    at = max(i for i, o in enumerate(for_command(command)) if o.panel in ("Input", "Model", "Methods")) + 1
    params[at:at] = _method_parameters()
    func.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return func


def values_of(command: str, given: dict[str, Any]) -> dict[str, Any]:
    """The values Typer passed, with repeatable options that were not given set to their defaults;
    ``methods`` holds the method options (by API keyword) under ``"method_options"``."""
    options = {o.name: o for o in for_command(command)}
    values = {}
    for name, value in given.items():
        option = options.get(name)
        if option is not None and option.many:
            value = tuple(value) if value else tuple(option.default or ())
        values[name] = value
    values["method_options"] = {k: values.pop(k) for k in method_options() if k in values}
    return values
