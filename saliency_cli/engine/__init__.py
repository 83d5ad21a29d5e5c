"""Batched attribution engine: the per-batch core and what it is made of. No file I/O here.

Public: ``prepare`` and ``explain_batch`` (the core every runner calls), ``Context``, ``Outcome``.
See docs/architecture.md for the modules and how to add a method.
"""

from saliency_cli.engine.context import Context, prepare
from saliency_cli.engine.core import explain_batch
from saliency_cli.records import Outcome

__all__ = ["Context", "Outcome", "explain_batch", "prepare"]
