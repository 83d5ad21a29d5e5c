"""What every saliency method has, whichever family it belongs to: names, a summary, signedness and
its parameters, each declared once as a ``Param``.

A method belongs to one of two families, each a contract the engine runs without naming methods:
``gradient_family.GradientMethod`` (gradients at points built from the input embeddings) and
``perturbation_family.PerturbationMethod`` (model outputs on copies with features removed).
Methods own their math; the engine owns batching, memory, precision and targets.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class Param:
    """One user-facing parameter of a method, declared once.

    ``option`` is its name in the Python API and, with ``-`` for ``_``, its CLI flag (``--option``);
    it defaults to ``name``, the key recorded in the output's ``params``.
    """

    name: str
    default: Any
    help: str
    type: type = str
    option: str = ""

    @property
    def keyword(self) -> str:
        """The API keyword (and, dashed, the CLI flag) of this parameter."""
        return self.option or self.name

    @property
    def flag(self) -> str:
        return "--" + self.keyword.replace("_", "-")


class ParamError(ValueError):
    """A method parameter has a value the method cannot use; names the parameter, not a CLI flag."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


SEED_PARAM = Param("seed", 0, "seed of the method's random draws; the same seed and text give the same scores", int)


class Method:
    """What every method has: names, a one-line summary, its parameters and their validation.

    ``signed``: whether scores carry a direction (positive supports the target); the report colours
    an unsigned method's scores on a one-sided scale. ``loo_reference``: the method is the
    leave-one-out reference that faithfulness's ``taucorr_loo`` compares every method with.
    """

    name: str = ""
    aliases: tuple[str, ...] = ()
    summary: str = ""
    signed: bool = True
    family: str = ""
    loo_reference: bool = False
    params: tuple[Param, ...] = ()

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters recorded in the output: defaults overridden by the user's values."""
        out = {}
        for p in self.params:
            value = given.get(p.name)
            out[p.name] = p.default if value is None else value
        self.validate(out)
        return out

    def validate(self, params: Mapping[str, Any]) -> None:
        """Raise ParamError for parameters the method cannot use."""

    def window_params(self, per_window: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The ``params`` recorded for a review explained in windows, from each window's: by default
        the first window's (a run's parameters are the same in every window); a method that records a
        figure per explanation (a fit quality, the steps it took) says what holds for the whole review."""
        return dict(per_window[0])


def stable_seed(*parts: object) -> int:
    """A 63-bit seed derived from the parts, identical across runs, processes and batch layouts."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)
