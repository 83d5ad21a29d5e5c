"""Loading a classifier: local folder, hub id or the embedded default; devices and hardware facts;
attention variants and the [CLS]-only twin, built once at load and sharing the weights."""

from saliency_cli.model.devices import ModelLoadError, resolve_device
from saliency_cli.model.loading import LoadedModel, ModelSpec, load_model, quiet_transformers

__all__ = ["LoadedModel", "ModelLoadError", "ModelSpec", "load_model", "quiet_transformers", "resolve_device"]
