"""AlpacaEval answers and their PairRM win rate against AlpacaEval's GPT-4 references.

- ``alpaca_eval_records``: the 805 AlpacaEval instructions with the GPT-4 reference answers
  (dataset tatsu-lab/alpaca_eval, config alpaca_eval_gpt4_baseline).
- ``generate_answers``: the variant's answer to each instruction (the model's own chat
  template when it has one, else the HH-RLHF format used everywhere in this workflow).
- PairRM (llm-blender/PairRM-hf) compares (instruction, candidate 1, candidate 2) and
  returns a logit > 0 when candidate 1 is better. The authors scored one order only (model
  first); PairRM is not symmetric, so the model is scored in both orders here and both the
  one-order and the order-averaged win rates are reported.
- llm-blender 0.0.2 fails to import on transformers 5 because it reads
  ``transformers.utils.hub.TRANSFORMERS_CACHE``. Only its ``DebertaV2PairRM`` class is
  used (it builds and runs on transformers 5): ``_pairrm_class`` sets that attribute and
  loads pair_ranker/pairrm.py by path, skipping the package's heavy ``__init__``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from alignment_tax.metrics import mean_stderr

logger = logging.getLogger(__name__)

HUMAN = "\n\nHuman: "
ASSISTANT = "\n\nAssistant:"
SOURCE_PREFIX, CAND1_PREFIX, CAND2_PREFIX = "<|source|>", "<|candidate1|>", "<|candidate2|>"


def fetch_alpaca_eval(spec: dict) -> list[dict]:
    """AlpacaEval rows from the hub: the JSON file named by ``data_files`` or
    ``<config_name>.json`` in the data set repository (e.g. alpaca_eval_gpt4_baseline.json).

    tatsu-lab/alpaca_eval is a loading-script data set, which datasets >= 4 refuses to load,
    so the file is downloaded and parsed directly. With ``local_files`` (one file in the
    hub file's schema, e.g. alignment_tax.real_schema_fixtures) nothing is downloaded.
    """
    import json
    from pathlib import Path

    if spec.get("local_files"):
        path = spec["local_files"]
        if not isinstance(path, str) or not Path(path).is_file():
            raise FileNotFoundError(
                f"config key 'datasets.alpaca_eval.local_files': {path!r} is not one file"
            )
        filename = path
    else:
        from huggingface_hub import hf_hub_download

        filename = spec.get("data_files") or f"{spec.get('config_name') or 'alpaca_eval'}.json"
        path = hf_hub_download(spec["hub_id"], filename, repo_type="dataset",
                               revision=spec.get("revision"))
        filename = f"{spec['hub_id']}/{filename}"
    with open(path, encoding="utf-8") as handle:
        rows = json.load(handle)
    if not isinstance(rows, list):
        raise ValueError(f"{filename} is not a JSON list of AlpacaEval rows")
    for i, row in enumerate(rows):  # the wrong schema fails here, naming file, row, field
        missing = [k for k in ("instruction", "output")
                   if not isinstance(row, dict) or k not in row]
        if missing:
            raise ValueError(f"{filename}: AlpacaEval row {i} (0-based) has no field "
                             f"{missing[0]!r}")
    return rows


def alpaca_eval_records(rows, n_prompts: int | None = None) -> list[dict]:
    """AlpacaEval rows -> {"instruction", "reference", "reference_generator", "dataset"}."""
    out = []
    for i, row in enumerate(rows):
        for key in ("instruction", "output"):
            if key not in row:
                raise KeyError(f"AlpacaEval row {i} has no '{key}' field")
        out.append({
            "instruction": row["instruction"],
            "reference": row["output"],
            "reference_generator": row.get("generator", "gpt4"),
            "dataset": row.get("dataset", ""),
        })
    if n_prompts is not None:
        out = out[:n_prompts]
    return out


def format_prompt(tokenizer, instruction: str) -> str:
    """The generation prompt for one instruction in the model's own format."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": instruction}], tokenize=False, add_generation_prompt=True
        )
    return f"{HUMAN}{instruction}{ASSISTANT}"


def generate_answers(
    model,
    tokenizer,
    records: Sequence[dict],
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    batch_size: int = 8,
    seed: int = 0,
) -> list[dict]:
    """One answer per instruction (greedy when temperature is 0)."""
    from alignment_tax.generation import sample_responses

    prompts = [format_prompt(tokenizer, r["instruction"]) for r in records]
    do_sample = temperature > 0
    answers = sample_responses(
        model,
        tokenizer,
        prompts,
        n=1,
        max_new_tokens=max_new_tokens,
        temperature=temperature if do_sample else 1.0,
        batch_size=batch_size,
        seed=seed,
        do_sample=do_sample,
    )
    return [{**r, "output": a[0].strip()} for r, a in zip(records, answers, strict=True)]


def _pairrm_class():
    """llm-blender's DebertaV2PairRM, loaded from its file without the package's __init__.

    ``import llm_blender`` pulls in the whole LLM-Blender stack (fuser, GPT eval, many extra
    dependencies) and fails on transformers 5 (TRANSFORMERS_CACHE); pair_ranker/pairrm.py
    itself needs only torch and transformers, so it is loaded by path.
    """
    import importlib.util
    from pathlib import Path

    import transformers.utils.hub

    # NOTES.md workaround, kept in case the module (or a future one) reads the constant
    if not hasattr(transformers.utils.hub, "TRANSFORMERS_CACHE"):
        from huggingface_hub.constants import HF_HUB_CACHE

        transformers.utils.hub.TRANSFORMERS_CACHE = HF_HUB_CACHE
    package = importlib.util.find_spec("llm_blender")
    if package is None or not package.submodule_search_locations:
        raise ImportError(
            "PairRM needs the llm-blender package (llm-blender==0.0.2; only its "
            "pair_ranker/pairrm.py is used, so `pip install --no-deps` suffices)"
        )
    path = Path(list(package.submodule_search_locations)[0]) / "pair_ranker" / "pairrm.py"
    spec = importlib.util.spec_from_file_location("llm_blender_pairrm", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DebertaV2PairRM


# The PairRM-hf (DeBERTa-v3-large) attention settings; only the sizes are shrunk.
_DEBERTA_V3_ATTENTION = {
    "relative_attention": True,
    "max_relative_positions": -1,
    "pos_att_type": ["p2c", "c2p"],
    "norm_rel_ebd": "layer_norm",
    "share_att_key": True,
    "position_biased_input": False,
    "type_vocab_size": 0,
    "max_position_embeddings": 512,
}


def tiny_pairrm(
    tokenizer,
    *,
    seed: int,
    hidden_size: int = 32,
    num_hidden_layers: int = 1,
    num_attention_heads: int = 2,
    intermediate_size: int = 64,
    position_buckets: int = 32,
):
    """(model, tokenizer): a randomly initialised ``DebertaV2PairRM`` (PairRM's class) on a
    copy of ``tokenizer`` with PairRM's prefix tokens added.

    A stand-in judge so the PairRM path (answers, both-order scoring, win rates, tables)
    runs with nothing downloaded; its logits are noise, not preferences. The sizes are
    the DebertaV2Config ones (config key evaluation.pairrm.tiny); the weights depend on
    ``seed`` only (torch's global generator is left as it was).
    """
    import copy

    import torch
    from transformers import DebertaV2Config

    from alignment_tax.loading import ensure_pad_token

    if hidden_size % num_attention_heads:
        raise ValueError(
            f"evaluation.pairrm.tiny: hidden_size ({hidden_size}) is not a multiple of "
            f"num_attention_heads ({num_attention_heads})"
        )
    tokenizer = copy.deepcopy(tokenizer)
    prefixes = [SOURCE_PREFIX, CAND1_PREFIX, CAND2_PREFIX]
    # special: never split, so each prefix is one id the model can find in input_ids
    tokenizer.add_tokens(prefixes, special_tokens=True)
    ensure_pad_token(tokenizer, "the tiny PairRM's tokenizer")
    source_id, cand1_id, cand2_id = tokenizer.convert_tokens_to_ids(prefixes)
    config = DebertaV2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        intermediate_size=intermediate_size,
        position_buckets=position_buckets,
        pad_token_id=tokenizer.pad_token_id,
        **_DEBERTA_V3_ATTENTION,
    )
    # the extra config fields DebertaV2PairRM reads (as in PairRM-hf's config.json)
    config.update({
        "n_tasks": 1,
        "drop_out": 0.0,
        "sep_token_id": tokenizer.sep_token_id
        if tokenizer.sep_token_id is not None
        else tokenizer.eos_token_id,
        "source_prefix_id": source_id,
        "cand_prefix_id": cand1_id,
        "cand1_prefix_id": cand1_id,
        "cand2_prefix_id": cand2_id,
    })
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _pairrm_class()(config).eval()
    return model, tokenizer


def build_tiny_pairrm(tokenizer_path: str, output_dir: str, **tiny) -> dict:
    """Save ``tiny_pairrm`` (on the tokenizer in ``tokenizer_path``) to ``output_dir`` in
    PairRM-hf's folder layout (config.json, model.safetensors, tokenizer files), which
    ``load_pairrm`` reads; written to a temporary folder, renamed when complete."""
    import json
    from pathlib import Path

    from alignment_tax.io import atomic_dir
    from alignment_tax.loading import load_tokenizer

    model, tokenizer = tiny_pairrm(load_tokenizer(tokenizer_path), **tiny)
    summary = {
        "model_class": "DebertaV2PairRM (llm-blender), randomly initialised",
        "tokenizer_from": str(tokenizer_path),
        "parameters": sum(p.numel() for p in model.parameters()),
        **tiny,
    }
    with atomic_dir(output_dir) as tmp:
        model.save_pretrained(tmp)  # safetensors (transformers' default)
        tokenizer.save_pretrained(tmp)
        if not (Path(tmp) / "model.safetensors").is_file():
            raise RuntimeError(f"save_pretrained wrote no model.safetensors into {output_dir}")
        (Path(tmp) / "tiny_pairrm.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def load_pairrm(model_path: str, *, device: str | None = None):
    """(PairRM model, tokenizer) from a local folder (rule fetch_pairrm downloads it, or
    rule build_tiny_pairrm builds a tiny random one)."""
    from alignment_tax.eval_models import pick_device
    from alignment_tax.loading import load_model, load_tokenizer

    model = load_model(_pairrm_class(), model_path, what="PairRM")
    model = model.to(pick_device(device)).eval()
    return model, load_tokenizer(model_path)


def pairrm_logits(
    model,
    tokenizer,
    sources: Sequence[str],
    candidates1: Sequence[str],
    candidates2: Sequence[str],
    *,
    batch_size: int = 8,
    source_max_length: int = 1224,
    candidate_max_length: int = 412,
) -> list[float]:
    """PairRM logit per triple (> 0: candidate 1 better), as on the PairRM-hf model card."""
    import torch

    if not len(sources) == len(candidates1) == len(candidates2):
        raise ValueError("sources and candidates differ in length")
    max_length = source_max_length + 2 * candidate_max_length
    device = next(model.parameters()).device
    logits: list[float] = []
    for start in range(0, len(sources), batch_size):
        ids = []
        for src, c1, c2 in zip(
            sources[start : start + batch_size],
            candidates1[start : start + batch_size],
            candidates2[start : start + batch_size],
            strict=True,
        ):
            src_ids = tokenizer.encode(
                SOURCE_PREFIX + src, max_length=source_max_length, truncation=True
            )
            cand_max = (max_length - len(src_ids)) // 2
            c1_ids = tokenizer.encode(CAND1_PREFIX + c1, max_length=cand_max, truncation=True)
            c2_ids = tokenizer.encode(CAND2_PREFIX + c2, max_length=cand_max, truncation=True)
            ids.append(src_ids + c1_ids + c2_ids)
        enc = tokenizer.pad(
            {"input_ids": ids}, return_tensors="pt", padding="max_length", max_length=max_length
        )
        enc = {k: v.to(device) for k, v in enc.items()}
        with torch.no_grad():
            out = model(**enc)
        logits.extend(out.logits.float().reshape(-1).cpu().tolist())
    return logits


def win_rates(logits_model_first: Sequence[float], logits_model_second: Sequence[float]) -> dict:
    """Win rates of the model over the reference from PairRM logits in both orders.

    one_order: win = logit(model, reference) > 0 (the authors' protocol).
    both_orders: per prompt, the mean of that and [logit(reference, model) < 0].
    consistency: share of prompts where both orders agree.
    """
    if len(logits_model_first) != len(logits_model_second):
        raise ValueError("the two orders have different lengths")
    first = [float(x > 0) for x in logits_model_first]
    second = [float(x < 0) for x in logits_model_second]
    both = [(a + b) / 2 for a, b in zip(first, second, strict=True)]
    out = {}
    for name, values in (("one_order", first), ("reversed_order", second), ("both_orders", both)):
        mean, stderr, n = mean_stderr(values)
        out[name] = {"mean": mean, "stderr": stderr, "n": n}
    agree = [float(a == b) for a, b in zip(first, second, strict=True)]
    out["consistency"] = mean_stderr(agree)[0] if agree else float("nan")
    return out


def evaluate_pairrm(
    answers: Sequence[dict],
    compare: Callable[[list[str], list[str], list[str]], list[float]],
) -> dict[str, Any]:
    """PairRM win rate of ``answers`` (rows with instruction, output, reference).

    ``compare(sources, candidates1, candidates2)`` returns PairRM logits; injected so tests
    can run without the PairRM weights.
    """
    sources = [a["instruction"] for a in answers]
    outputs = [a["output"] for a in answers]
    refs = [a["reference"] for a in answers]
    start = time.perf_counter()
    model_first = compare(sources, outputs, refs)
    model_second = compare(sources, refs, outputs)
    rates = win_rates(model_first, model_second)
    return {
        "group": "pairrm",
        "win_rate": rates,
        "reference": "AlpacaEval GPT-4 reference answers",
        "seconds": time.perf_counter() - start,
        "samples": [
            {"instruction": s, "logit_model_first": a, "logit_model_second": b}
            for s, a, b in zip(sources, model_first, model_second, strict=True)
        ],
    }


def evaluate_with_pairrm(
    model_path: str,
    answers: Sequence[dict],
    *,
    batch_size: int = 8,
    device: str | None = None,
) -> dict[str, Any]:
    """``evaluate_pairrm`` with the PairRM model saved in ``model_path`` (rule
    evaluate_pairrm: the hub PairRM-hf or the tiny local one, same folder layout)."""
    from functools import partial

    model, tokenizer = load_pairrm(model_path, device=device)
    compare = partial(pairrm_logits, model, tokenizer, batch_size=batch_size)
    return evaluate_pairrm(answers, compare)
