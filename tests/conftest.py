"""Tiny models built from a config (random, seeded weights) with tokenizers trained on the fly.

Nothing here touches the network: tokenizers are trained in memory on a small corpus and the
models are saved as safetensors folders, so tests exercise the same loading path as users.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Fixed thread counts keep float reductions in the same order run to run, even on a busy machine.
os.environ.setdefault("MKL_DYNAMIC", "FALSE")
os.environ.setdefault("OMP_DYNAMIC", "FALSE")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

LABELS = {0: "negative", 1: "neutral", 2: "positive"}
CORPUS = [
    "Not buying it any sooner! Other brands do a much better job",
    "Great phone, terrible battery. I would not recommend it.",
    "The screen is bright and the sound is excellent.",
    "Awful customer service; they never answered my emails.",
    "Works as described, arrived on time, good value for money.",
    "Ce produit est excellent, je le recommande.",
    "Das Buch war langweilig und viel zu lang.",
    "Dit is het beste product dat ik ooit heb gekocht.",
    "Prodotto pessimo, si è rotto dopo due giorni.",
    "El servicio fue rápido y amable.",
    "isn't it the worst? it's fine, really... 100% sure :)",
]
ARCHITECTURES = ("bert", "distilbert", "roberta", "xlm-roberta", "deberta-v2", "electra", "albert")
MAX_POSITIONS = 64


def _merge_pieces(counts: dict[str, int], size: int) -> list[str]:
    """WordPiece's vocabulary as its trainer learns it (byte-pair merges of pieces, ``##`` before all but
    a word's first), ties broken by the pieces' text: the library's trainer breaks them differently in
    every process, so a session's tiny model (and every score of it) would differ from the next one's."""
    from collections import Counter

    split = {w: [c if i == 0 else "##" + c for i, c in enumerate(w)] for w in counts}
    alphabet = {c for w in counts for c in w}  # every character, also where only seen inside a word
    vocab = sorted(alphabet | {piece for pieces in split.values() for piece in pieces})
    while len(vocab) < size:
        pairs: Counter = Counter()
        for word, pieces in split.items():
            for pair in zip(pieces, pieces[1:]):
                pairs[pair] += counts[word]
        if not pairs:
            break
        a, b = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merged = a + b[2:]
        for word, pieces in split.items():
            out, i = [], 0
            while i < len(pieces):
                if pieces[i:i + 2] == [a, b]:
                    out.append(merged)
                    i += 2
                else:
                    out.append(pieces[i])
                    i += 1
            split[word] = out
        if merged not in vocab:
            vocab.append(merged)
    return vocab


def _wordpiece():
    from collections import Counter

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = Counter(w for text in CORPUS for w, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(text)))
    learned = _merge_pieces(words, 300 - len(specials))
    tok.model = models.WordPiece({t: i for i, t in enumerate(specials + learned)}, unk_token="[UNK]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tok.decoder = decoders.WordPiece()
    return tok, dict(pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


def _bytelevel_bpe():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS * 5, trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok, dict(bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>", cls_token="<s>",
                     sep_token="</s>", mask_token="<mask>")


def _unigram():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    specials = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(CORPUS * 5, trainers.UnigramTrainer(vocab_size=250, special_tokens=specials, unk_token="<unk>"))
    # The trainer learns the same pieces in every process, with scores that differ in their last digits
    # and numbered in any order among equal ones: renumbered specials first, then by text, so every
    # session gets the same model.
    import json

    learned = [(p, score) for p, score in json.loads(tok.to_str())["model"]["vocab"] if p not in specials]
    ordered = [(p, 0.0) for p in specials] + sorted(learned)
    tok.model = models.Unigram(ordered, unk_id=1, byte_fallback=False)
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.decoder = decoders.Metaspace()
    return tok, dict(pad_token="<pad>", unk_token="<unk>", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


def _config(arch: str, vocab: int, pad_id: int):
    import transformers as tf

    common = dict(vocab_size=vocab, num_labels=3, id2label=LABELS, label2id={v: k for k, v in LABELS.items()},
                  pad_token_id=pad_id)
    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                 max_position_embeddings=MAX_POSITIONS)
    if arch == "bert":
        return tf.BertConfig(**common, **small)
    if arch == "distilbert":
        return tf.DistilBertConfig(**common, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                                   max_position_embeddings=MAX_POSITIONS)
    if arch == "roberta":
        return tf.RobertaConfig(**common, **{**small, "max_position_embeddings": MAX_POSITIONS + 2})
    if arch == "xlm-roberta":
        return tf.XLMRobertaConfig(**common, **{**small, "max_position_embeddings": MAX_POSITIONS + 2})
    if arch == "deberta-v2":
        return tf.DebertaV2Config(**common, **small, relative_attention=True, position_buckets=16,
                                  pos_att_type=["p2c", "c2p"], type_vocab_size=0)
    if arch == "electra":
        return tf.ElectraConfig(**common, **small, embedding_size=16)
    if arch == "albert":
        return tf.AlbertConfig(**common, **small, embedding_size=16)
    raise ValueError(arch)


TOKENIZER_OF = {"bert": _wordpiece, "distilbert": _wordpiece, "electra": _wordpiece, "roberta": _bytelevel_bpe,
                "xlm-roberta": _unigram, "deberta-v2": _unigram, "albert": _unigram}


def build_tiny_model(arch: str, folder: Path, seed: int = 0) -> Path:
    """Save a tiny random classifier of ``arch`` with a trained fast tokenizer into ``folder``."""
    from transformers import AutoModelForSequenceClassification, PreTrainedTokenizerFast

    tok, special = TOKENIZER_OF[arch]()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=MAX_POSITIONS, **special)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(_config(arch, tok.get_vocab_size(), fast.pad_token_id))
    model.save_pretrained(folder, safe_serialization=True)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """Factory: folder of a tiny model for one architecture (built once per session)."""
    cache: dict[str, Path] = {}

    def make(arch: str = "bert") -> Path:
        if arch not in cache:
            cache[arch] = build_tiny_model(arch, tmp_path_factory.mktemp(f"tiny-{arch}"))
        return cache[arch]

    return make


@pytest.fixture(scope="session")
def bert_dir(tiny_model_dir) -> Path:
    return tiny_model_dir("bert")


@pytest.fixture(scope="session")
def tiny_lm(bert_dir):
    """The tiny BERT loaded on CPU."""
    from saliency_cli.model.loading import load_model

    return load_model(str(bert_dir), device="cpu")


@pytest.fixture(scope="session")
def sharp_lm(tiny_lm):
    """The tiny BERT made sensitive to its input: its random weights (std 0.02) leave every output
    within 1e-5 of 1/3 whatever the text, so scores of 1e-6 could not be told apart. Weights x10
    and logits centred on the corpus's medians give outputs that move and predictions that vary."""
    from tests.factories import sharpened

    sharp = sharpened(tiny_lm)
    with torch.no_grad():  # the bias is shared with the attention variants built by with_model
        logits = sharp.model(**tiny_lm.tokenizer(CORPUS, padding=True, return_tensors="pt")).logits
        sharp.model.classifier.bias.sub_(logits.median(0).values)
    return sharp


@pytest.fixture(scope="session")
def sharp_dir(sharp_lm, tmp_path_factory) -> Path:
    """``sharp_lm`` saved as a folder, for the command line and Ray actors to load as users load theirs."""
    folder = tmp_path_factory.mktemp("sharp-bert")
    sharp_lm.model.save_pretrained(folder, safe_serialization=True)
    sharp_lm.tokenizer.save_pretrained(folder)
    return folder
