"""Fetching public checkpoints and data sets, and converting the data into the layout the
toy world writes (docs/CONTRACTS.md), so every later stage reads one format.

Only the paper and Zephyr configurations reach this module; the toy world never does, and
the tests feed the converters local files in the real formats. A data set spec names either
a hub data set (``hub_id``) or local files in its schema (``local_files``, e.g. the files of
alignment_tax.real_schema_fixtures), read by the same loaders.
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


# datasets' packaged builder for a local file, by suffix (a trailing .gz is decompressed)
LOCAL_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}


def local_dataset_files(spec: dict[str, Any]) -> dict[str, str]:
    """{split: file} of a data set spec's ``local_files`` (a single file is split 'train');
    {} for a hub data set."""
    files = spec.get("local_files")
    if not files:
        return {}
    if isinstance(files, str | Path):
        return {"train": str(files)}
    return {str(split): str(path) for split, path in files.items()}


def dataset_source(spec: dict[str, Any]) -> str:
    """The data set's hub id, or its local files, for messages."""
    return spec.get("hub_id") or ", ".join(local_dataset_files(spec).values())


def _local_builder(path: str, key: str) -> str:
    suffixes = Path(path).suffixes
    suffix = suffixes[-2] if suffixes[-1:] == [".gz"] and len(suffixes) > 1 else Path(path).suffix
    if suffix not in LOCAL_BUILDERS:
        raise ValueError(
            f"config key '{key}.local_files': {path} is not one of {sorted(LOCAL_BUILDERS)}"
        )
    return LOCAL_BUILDERS[suffix]


def load_hub_dataset(spec: dict[str, Any], key: str = "datasets"):
    """One split of a data set: from the hub (``hub_id``, ``config_name``, ``data_files``,
    ``revision``) or, with ``local_files``, from local files in the hub copy's schema through
    datasets' packaged json/parquet/csv builder. ``key`` names the spec in error messages."""
    from datasets import load_dataset

    split = spec.get("split", "train")
    files = local_dataset_files(spec)
    if files:
        if split not in files:
            raise KeyError(
                f"config key '{key}.local_files' names splits {sorted(files)}, not '{split}'"
                " (a single file is split 'train'; give a mapping {split: file})"
            )
        missing = [path for path in files.values() if not Path(path).is_file()]
        if missing:
            raise FileNotFoundError(f"config key '{key}.local_files': no such file {missing}")
        builders = {_local_builder(path, key) for path in files.values()}
        if len(builders) > 1:
            raise ValueError(f"config key '{key}.local_files' mixes file formats: {files}")
        return load_dataset(builders.pop(), data_files=files, split=split)

    kwargs = {"revision": spec.get("revision"), "split": split}
    if spec.get("data_files"):
        kwargs["data_files"] = spec["data_files"]
    return load_dataset(spec["hub_id"], spec.get("config_name"), **kwargs)


def split_hh_dialogue(text: str) -> tuple[str, str]:
    """Split an HH-RLHF transcript into (prompt ending in 'Assistant:', final answer)."""
    cut = text.rfind(ASSISTANT)
    if cut < 0:
        raise ValueError(f"not an HH-RLHF transcript (no '{ASSISTANT.strip()}'): {text[:80]!r}")
    return text[: cut + len(ASSISTANT)], text[cut + len(ASSISTANT) :]


def sharegpt_to_records(rows, max_rows: int | None = None, source: str = "ShareGPT") -> list[dict]:
    """Keep ShareGPT conversations that alternate human/gpt and start with a human turn.
    A row without a 'conversations' list, or a turn without 'from' and 'value', is the wrong
    schema: the error names ``source``, the row and the field."""
    kept = []
    for i, row in enumerate(rows):
        _require_fields(row, ("conversations",), source, i)
        turns = row["conversations"] or []
        for turn in turns:
            _require_fields(turn, ("from", "value"), source, i, "a turn of ")
        roles = [t.get("from") for t in turns]
        if not turns or roles[0] != "human":
            continue
        if any(r != ("human" if i % 2 == 0 else "gpt") for i, r in enumerate(roles)):
            continue
        kept.append({"id": str(row.get("id", len(kept))), "conversations": turns})
        if max_rows and len(kept) >= max_rows:
            break
    return kept


def _require_fields(row, fields, source: str, index: int, what: str = "") -> None:
    missing = [f for f in fields if not isinstance(row, dict) or f not in row]
    if missing:
        raise ValueError(f"{source}: {what}row {index} (0-based) has no field {missing[0]!r}")


def hh_rlhf_to_prompts(pairs: list[dict]) -> list[dict]:
    return [{"prompt": split_hh_dialogue(p["chosen"])[0], "meta": {}} for p in pairs]


def prepare_paper_data(datasets_config: dict[str, Any], out: dict[str, str], seed: int) -> None:
    """Write ShareGPT, HH-RLHF pairs and RLHF/eval prompts in the contract's layout."""
    rng = random.Random(seed)
    # The Zephyr config trains nothing and names no ShareGPT: it needs only the prompts.
    sharegpt_spec = datasets_config.get("sharegpt")
    sharegpt = []
    if sharegpt_spec:
        rows = load_hub_dataset(sharegpt_spec, "datasets.sharegpt")
        sharegpt = sharegpt_to_records(rows, sharegpt_spec.get("max_rows"),
                                       source=dataset_source(sharegpt_spec))
    hh = datasets_config["hh_rlhf"]
    train = [dict(r) for r in load_hub_dataset({**hh, "split": "train"}, "datasets.hh_rlhf")]
    test = [dict(r) for r in load_hub_dataset({**hh, "split": "test"}, "datasets.hh_rlhf")]
    for split, rows in (("train", train), ("test", test)):
        for i, row in enumerate(rows):
            _require_fields(row, ("chosen", "rejected"), f"{dataset_source(hh)} ({split})", i)
    rng.shuffle(train)
    write_json(out["sharegpt"], sharegpt)
    write_jsonl(
        out["hh_train"], [{"chosen": r["chosen"], "rejected": r["rejected"]} for r in train]
    )
    write_jsonl(out["hh_test"], [{"chosen": r["chosen"], "rejected": r["rejected"]} for r in test])
    write_jsonl(out["rlhf_prompts"], hh_rlhf_to_prompts(train))
    write_jsonl(out["eval_prompts"], hh_rlhf_to_prompts(test))


def load_prompts(spec: dict[str, Any], n_prompts: int, seed: int,
                 key: str = "merging.hma.prompts") -> list[str]:
    """A seeded draw of ``n_prompts`` texts from the ``field`` column (default "prompt")
    of one split of a data set: the hub copy (e.g. HuggingFaceH4/ultrafeedback_binarized,
    split train_prefs, the prompts Zephyr was aligned on) or a local file in its schema
    (``local_files``). A bound is required: a hub data set can hold far more prompts than
    D_theta needs, and every prompt is answered by the model."""
    if not isinstance(n_prompts, int) or n_prompts < 1:
        raise ValueError(f"config key 'merging.hma.n_prompts' must be a positive integer for "
                         f"prompts from a data set ({key}), got {n_prompts!r}")
    rows = load_hub_dataset(spec, key)
    field = spec.get("field", "prompt")
    if field not in rows.column_names:
        raise KeyError(f"config key '{key}.field': {dataset_source(spec)} has no column "
                       f"{field!r} (columns: {rows.column_names})")
    if n_prompts > len(rows):
        raise ValueError(f"config key 'merging.hma.n_prompts' ({n_prompts}) exceeds the "
                         f"{len(rows)} rows of {dataset_source(spec)}")
    texts = rows.shuffle(seed=seed).select(range(n_prompts))[field]
    bad = [i for i, text in enumerate(texts) if not isinstance(text, str) or not text.strip()]
    if bad:
        raise ValueError(f"{dataset_source(spec)}: column {field!r} is empty or not text in "
                         f"{len(bad)} of the drawn rows (first at draw position {bad[0]})")
    return list(texts)
