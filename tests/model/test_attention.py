"""The lean attention kernel: the same outputs and input gradients as attention written out by hand,
and as the model's own SDPA kernel, with padding."""

from __future__ import annotations

import pytest
import torch

from saliency_cli.model.attention import NAME, lean_attention
from tests.conftest import CORPUS
from tests.model.test_head_only import EXACT, _logits_and_grads


def _reference(q, k, v, keep, scale):
    scores = q @ k.transpose(-1, -2) * scale
    scores = scores.masked_fill(~keep[:, None, None, :], float("-inf"))
    return (torch.softmax(scores, -1) @ v).transpose(1, 2)


def test_lean_attention_equals_written_out_attention_and_its_gradients():
    gen = torch.Generator().manual_seed(0)
    b, h, n, d = 3, 2, 7, 4
    q, k, v = (torch.randn(b, h, n, d, generator=gen, dtype=torch.float64, requires_grad=True) for _ in range(3))
    keep = torch.ones(b, n, dtype=torch.bool)
    keep[1, 5:] = False
    keep[2, 3:] = False
    # the additive float mask transformers builds for eager kernels: [batch, 1, query, key]
    mask = torch.zeros(b, 1, n, n, dtype=torch.float64).masked_fill(~keep[:, None, None, :], torch.finfo(torch.float64).min)
    scale = 0.37
    out, weights = lean_attention(None, q, k, v, mask, scaling=scale)
    ref = _reference(q, k, v, keep, scale)
    assert weights is None and out.shape == (b, n, h, d)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    grad = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    mine = torch.autograd.grad(out, (q, k, v), grad)
    theirs = torch.autograd.grad(ref, (q, k, v), grad)
    for a, c in zip(mine, theirs):
        torch.testing.assert_close(a, c, rtol=0, atol=1e-12)
    # no mask (no padding anywhere): plain scaled attention, default scale 1/sqrt(d)
    out, _ = lean_attention(None, q, k, v, None)
    ref = _reference(q, k, v, torch.ones(b, n, dtype=torch.bool), d ** -0.5)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    for a, c in zip(torch.autograd.grad(out, (q, k, v), grad), torch.autograd.grad(ref, (q, k, v), grad)):
        torch.testing.assert_close(a, c, rtol=0, atol=1e-12)


def test_lean_variant_matches_the_model_with_padding(sharp_lm):
    """The variant (and its [CLS]-only twin) gives the shared model's logits and input gradients."""
    tiny_lm = sharp_lm
    lean, twin = tiny_lm.variants[NAME], tiny_lm.head_only[NAME]
    assert lean.config._attn_implementation == NAME and tiny_lm.model.config._attn_implementation == "sdpa"
    assert tiny_lm.variants["eager"].config._attn_implementation == "eager"  # each variant its own kernel
    assert lean.get_input_embeddings().weight is tiny_lm.model.get_input_embeddings().weight  # weights shared
    batch = tiny_lm.tokenizer(["great phone", "terrible battery, it died in a day and support never answered"],
                              padding=True, return_tensors="pt")
    emb = tiny_lm.model.get_input_embeddings()(batch["input_ids"]).detach()
    results = []
    for model in (tiny_lm.model, lean, twin):
        x = emb.clone().requires_grad_(True)
        logits = model(inputs_embeds=x, attention_mask=batch["attention_mask"]).logits
        (grad,) = torch.autograd.grad(logits[:, 0].sum(), x)
        results.append((logits.detach(), grad * batch["attention_mask"][..., None]))
    for logits, grad in results[1:]:
        torch.testing.assert_close(logits, results[0][0], rtol=0, atol=1e-5)
        torch.testing.assert_close(grad, results[0][1], rtol=0, atol=1e-5)
    # the comparison can fail: ignoring the padding moves the logits far beyond the tolerance
    unmasked = lean(inputs_embeds=emb, attention_mask=torch.ones_like(batch["attention_mask"])).logits.detach()
    assert (unmasked[0] - results[0][0][0]).abs().max() > 1e-3


@pytest.fixture(scope="module", params=sorted(EXACT))
def encoder_lm(request, tiny_model_dir):
    from saliency_cli.model.loading import load_model

    return load_model(str(tiny_model_dir(request.param)), device="cpu")


def test_every_encoder_gets_a_lean_variant_equal_to_its_own_kernel(encoder_lm):
    """BERT, RoBERTa, XLM-R, ELECTRA and DistilBERT, each with its own mask path: the lean variant's
    logits and input gradients (every label, padded rows) equal those of the model's SDPA kernel."""
    lm = encoder_lm
    assert NAME in lm.variants and NAME in lm.head_only
    batch = lm.tokenizer(CORPUS[:6], padding=True, return_tensors="pt")
    assert not bool(batch["attention_mask"].all())  # the padding path is what is checked
    logits, grads = _logits_and_grads(lm.model, lm, batch)
    logits2, grads2 = _logits_and_grads(lm.variants[NAME], lm, batch)
    torch.testing.assert_close(logits2, logits, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads2, grads, rtol=1e-4, atol=1e-6 * float(grads.abs().max()))
