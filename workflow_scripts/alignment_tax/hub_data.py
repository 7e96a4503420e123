"""Fetching public checkpoints and data sets, and converting the data into the layout the
toy world writes (docs/CONTRACTS.md), so every later stage reads one format.

Only the paper and Zephyr configurations reach this module; the toy world never does, and
the tests feed the converters local files in the real formats.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from alignment_tax.io import atomic_dir, write_json, write_jsonl

HUMAN = "\n\nHuman:"
ASSISTANT = "\n\nAssistant:"


def fetch_model(hub_id: str, revision: str | None, out_dir: str) -> None:
    """Download a checkpoint's safetensors, config and tokenizer files (never pickles)."""
    from huggingface_hub import snapshot_download

    with atomic_dir(out_dir) as tmp:
        snapshot_download(
            repo_id=hub_id,
            revision=revision,
            local_dir=tmp,
            allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"],
        )
        if not any(Path(tmp).glob("*.safetensors")):
            raise FileNotFoundError(
                f"{hub_id}@{revision or 'main'} has no safetensors weights; "
                "convert it first (pickled .bin weights are never loaded)"
            )


def load_hub_dataset(spec: dict[str, Any]):
    from datasets import load_dataset

    kwargs = {"revision": spec.get("revision"), "split": spec.get("split", "train")}
    if spec.get("data_files"):
        kwargs["data_files"] = spec["data_files"]
    return load_dataset(spec["hub_id"], spec.get("config_name"), **kwargs)


def split_hh_dialogue(text: str) -> tuple[str, str]:
    """Split an HH-RLHF transcript into (prompt ending in 'Assistant:', final answer)."""
    cut = text.rfind(ASSISTANT)
    if cut < 0:
        raise ValueError(f"not an HH-RLHF transcript (no '{ASSISTANT.strip()}'): {text[:80]!r}")
    return text[: cut + len(ASSISTANT)], text[cut + len(ASSISTANT) :]


def sharegpt_to_records(rows, max_rows: int | None = None) -> list[dict]:
    """Keep ShareGPT conversations that alternate human/gpt and start with a human turn."""
    kept = []
    for row in rows:
        turns = row.get("conversations") or []
        roles = [t.get("from") for t in turns]
        if not turns or roles[0] != "human":
            continue
        if any(r != ("human" if i % 2 == 0 else "gpt") for i, r in enumerate(roles)):
            continue
        kept.append({"id": str(row.get("id", len(kept))), "conversations": turns})
        if max_rows and len(kept) >= max_rows:
            break
    return kept


def hh_rlhf_to_prompts(pairs: list[dict]) -> list[dict]:
    return [{"prompt": split_hh_dialogue(p["chosen"])[0], "meta": {}} for p in pairs]


def prepare_paper_data(datasets_config: dict[str, Any], out: dict[str, str], seed: int) -> None:
    """Write ShareGPT, HH-RLHF pairs and RLHF/eval prompts in the contract's layout."""
    rng = random.Random(seed)
    # The Zephyr config trains nothing and names no ShareGPT: it needs only the prompts.
    sharegpt_spec = datasets_config.get("sharegpt")
    sharegpt = []
    if sharegpt_spec:
        rows = load_hub_dataset(sharegpt_spec)
        sharegpt = sharegpt_to_records(rows, sharegpt_spec.get("max_rows"))
    hh = datasets_config["hh_rlhf"]
    train = [dict(r) for r in load_hub_dataset({**hh, "split": "train"})]
    test = [dict(r) for r in load_hub_dataset({**hh, "split": "test"})]
    rng.shuffle(train)
    write_json(out["sharegpt"], sharegpt)
    write_jsonl(
        out["hh_train"], [{"chosen": r["chosen"], "rejected": r["rejected"]} for r in train]
    )
    write_jsonl(out["hh_test"], [{"chosen": r["chosen"], "rejected": r["rejected"]} for r in test])
    write_jsonl(out["rlhf_prompts"], hh_rlhf_to_prompts(train))
    write_jsonl(out["eval_prompts"], hh_rlhf_to_prompts(test))
