"""Batched attribution engine: the per-batch core and what it is made of. No file I/O here.

Public: ``prepare`` and ``explain_batch`` (the core every runner calls), ``Context``, ``Outcome``.
See docs/architecture.md for the modules and how to add a method.
"""

from saliency_cli.engine.assemble import Outcome
from saliency_cli.engine.core import Context, explain_batch, prepare

__all__ = ["Context", "Outcome", "explain_batch", "prepare"]
