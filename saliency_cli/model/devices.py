"""Devices and hardware facts read once, when a model is loaded."""

from __future__ import annotations

import torch


class ModelLoadError(RuntimeError):
    """The model, its tokenizer or the device asked for cannot be had; the message says why in one line."""


def resolve_device(spec: str = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N|mps`` into a torch device, checking that it exists."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelLoadError(f"device {spec!r} requested but CUDA is not available on this machine")
        dev = torch.device(spec)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ModelLoadError(f"device {spec!r} requested but only {torch.cuda.device_count()} GPU(s) exist")
        return dev
    if spec == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise ModelLoadError("device 'mps' requested but MPS is not available on this machine")
        return torch.device("mps")
    if spec == "cpu":
        return torch.device("cpu")
    raise ModelLoadError(f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps")


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 matmuls natively: CUDA with bf16, or a CPU with AVX512-BF16 / AMX."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags

