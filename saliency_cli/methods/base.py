"""The small contract every saliency method implements, so one engine can run them all.

A method explains one (review, target) item by evaluating the model's gradient at ``n`` points
built from the input embeddings, reducing each point's gradient to one score per token, and
taking a weighted sum of those per-point scores. All four built-in methods fit this shape,
which lets the engine pack points of many reviews into one forward/backward pass.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Mapping

import torch


@dataclass(frozen=True)
class Param:
    """One user-facing parameter of a method: its default and a one-line help text."""

    name: str
    default: Any
    help: str


@dataclass(frozen=True)
class Plan:
    """What a method needs for one run: per-point weights, and interpolation coefficients if any."""

    weights: tuple[float, ...]
    alphas: tuple[float, ...] | None = None
    needs_baseline: bool = False


class Method:
    """Base class: subclasses set the class attributes and override the three hooks."""

    name: str = ""
    aliases: tuple[str, ...] = ()
    summary: str = ""
    signed: bool = True
    params: tuple[Param, ...] = ()
    at_input: bool = False  # one gradient at the input itself: shares the prediction's forward pass

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters recorded in the output: defaults overridden by the user's values."""
        out = {}
        for p in self.params:
            value = given.get(p.name)
            out[p.name] = p.default if value is None else value
        self.validate(out)
        return out

    def validate(self, params: Mapping[str, Any]) -> None:
        """Raise ValueError for parameters the method cannot use."""

    def plan(self, params: Mapping[str, Any]) -> Plan:
        """Points and weights for one item."""
        raise NotImplementedError

    def points(
        self,
        emb: torch.Tensor,
        base: torch.Tensor | None,
        ks: torch.Tensor,
        plan: Plan,
        params: Mapping[str, Any],
        noise_keys: list[str] | None,
        lengths: torch.Tensor,
    ) -> torch.Tensor:
        """Model inputs for the rows of a chunk: ``emb``/``base`` are [R, L, H], ``ks`` the point index per row."""
        return emb

    def reduce(self, grad: torch.Tensor, emb: torch.Tensor, base: torch.Tensor | None) -> torch.Tensor:
        """Per-token scores [R, L] from the gradients at the chunk's points (fp32)."""
        raise NotImplementedError


def stable_seed(*parts: object) -> int:
    """A 63-bit seed derived from the parts, identical across runs, processes and batch layouts."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)
