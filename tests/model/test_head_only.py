"""The last layer computed for position 0 only: the same logits and input gradients as the full
model for every architecture it is built for, and the full model kept for the others."""

from __future__ import annotations

import pytest
import torch

from saliency_cli.engine.precision import precision
from tests.conftest import ARCHITECTURES, CORPUS

EXACT = {"bert", "distilbert", "roberta", "xlm-roberta", "electra"}


def _load(request, tiny_model_dir):
    from saliency_cli.model.loading import load_model

    return request.param, load_model(str(tiny_model_dir(request.param)), device="cpu")


@pytest.fixture(scope="module", params=ARCHITECTURES)
def arch_lm(request, tiny_model_dir):
    return _load(request, tiny_model_dir)


@pytest.fixture(scope="module", params=sorted(EXACT))
def exact_lm(request, tiny_model_dir):
    return _load(request, tiny_model_dir)


@pytest.fixture(scope="module", params=sorted(set(ARCHITECTURES) - EXACT))
def other_lm(request, tiny_model_dir):
    return _load(request, tiny_model_dir)


def _logits_and_grads(model, lm, batch):
    emb = lm.model.get_input_embeddings()(batch["input_ids"]).detach().requires_grad_(True)
    kwargs = {k: v for k, v in batch.items() if k != "input_ids"}
    logits = model(inputs_embeds=emb, **kwargs).logits
    grads = [torch.autograd.grad(logits[:, j].sum(), emb, retain_graph=True)[0] for j in range(logits.shape[1])]
    return logits.detach(), torch.stack(grads)


def test_same_logits_and_gradients_as_the_full_model(exact_lm):
    _, lm = exact_lm
    current = getattr(lm.model.config, "_attn_implementation", None) or "eager"
    models = {current: lm.model, **lm.variants}
    assert set(lm.head_only) == set(models)  # one reduced twin per attention kernel
    batch = lm.tokenizer(CORPUS[:6], padding=True, return_tensors="pt")  # padded rows of several lengths
    for kernel, full in models.items():
        reduced = lm.head_only[kernel]
        assert reduced is not full
        logits, grads = _logits_and_grads(full, lm, batch)
        logits2, grads2 = _logits_and_grads(reduced, lm, batch)
        torch.testing.assert_close(logits2, logits, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(grads2, grads, rtol=1e-4, atol=1e-6 * float(grads.abs().max()))


def test_the_full_model_is_kept_where_the_reduction_would_not_be_exact(other_lm):
    _, lm = other_lm
    assert not lm.head_only
    with precision(lm, "float32", 16) as model:
        assert model is lm.model


def test_shares_weights_and_leaves_the_model_alone(exact_lm):
    _, lm = exact_lm
    reduced = next(iter(lm.head_only.values()))
    ours = {id(p) for p in lm.model.parameters()}
    assert {id(p) for p in reduced.parameters()} == ours
    from saliency_cli.model.head_only import _layers

    assert not type(_layers(lm.model)[-1]).__name__.startswith("FirstPosition")
    assert type(_layers(reduced)[-1]).__name__.startswith("FirstPosition")


def test_precision_runs_the_reduced_model(exact_lm):
    _, lm = exact_lm
    with precision(lm, "float32", 16) as model:
        assert model is not lm.model and model is next(iter(lm.head_only.values()))


def test_other_heads_keep_the_full_model(arch_lm):
    """A classifier whose head reads another position (here: a wrapper class of another name) is not reduced."""
    from saliency_cli.model.head_only import head_only_model

    _, lm = arch_lm
    model = lm.model

    class LastTokenClassifier(type(model)):
        pass

    other = type(model).__new__(LastTokenClassifier)
    other.__dict__.update(model.__dict__)
    assert head_only_model(other) is None


def test_bf16_autocast_close(exact_lm):
    _, lm = exact_lm
    batch = lm.tokenizer(CORPUS[:4], padding=True, return_tensors="pt")
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        full = lm.model(**batch).logits.float()
        reduced = next(iter(lm.head_only.values()))(**batch).logits.float()
    torch.testing.assert_close(reduced, full, rtol=0.05, atol=0.05 * float(full.abs().max()))
