"""A local GGUF file (llama.cpp's format) as theta_pre: converted once to safetensors.

``base_model.source: gguf`` with ``base_model.gguf_file: <path>`` makes rule
``convert_gguf_base_model`` write ``models/base`` from the file; every stage then loads that
standard checkpoint (safetensors + tokenizer) as it loads a fetched one.

The conversion is transformers' own GGUF reader (it needs the ``gguf`` package):
``from_pretrained(folder, gguf_file=name)`` de-quantizes the weights to float32 and rebuilds
the tokenizer from the file's metadata. A model loaded that way refuses ``save_pretrained``
("quantized with gguf and is not serializable"), so its weights are copied (strictly, every
tensor by name) into a plain model built from the same config without its
``quantization_config``, and that one is saved.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

GGUF_MAGIC = b"GGUF"
KEY = "base_model.gguf_file"


def gguf_file_problem(path: str | os.PathLike | None) -> str | None:
    """Why ``path`` is not a usable GGUF file (missing, not a file, wrong magic), or None."""
    if not path:
        return "no GGUF file given"
    path = Path(path)
    if not path.exists():
        return f"GGUF file {str(path)!r} does not exist"
    if not path.is_file():
        return f"{str(path)!r} is not a file"
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        return f"{str(path)!r} is not a GGUF file (it starts with {magic!r}, not {GGUF_MAGIC!r})"
    return None


def check_gguf_file(path: str | os.PathLike | None, key: str = KEY) -> Path:
    """``path`` as a Path, or an error naming the config key and the file."""
    problem = gguf_file_problem(path)
    if problem is not None:
        error = FileNotFoundError if problem.endswith("does not exist") else ValueError
        raise error(f"config key '{key}': {problem}")
    return Path(path)


def load_gguf(path: str | os.PathLike, key: str = KEY):
    """(de-quantized float32 model, tokenizer) of a GGUF file, as transformers loads it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = check_gguf_file(path, key)
    folder, name = str(path.parent), path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    return model, tokenizer


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert_gguf(gguf_file: str | os.PathLike, out_dir: str | os.PathLike, key: str = KEY) -> dict:
    """Write ``out_dir``: the GGUF model as a float32 safetensors checkpoint with its
    tokenizer and ``gguf_source.json`` (file name, sha256, architecture). Atomic."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from alignment_tax.io import atomic_dir

    path = check_gguf_file(gguf_file, key)
    gguf_model, tokenizer = load_gguf(path, key)
    config = AutoConfig.from_pretrained(str(path.parent), gguf_file=path.name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict(), strict=True)
    model.eval()
    summary = {
        "gguf_file": path.name,
        "sha256": sha256_of(path),
        "architecture": type(model).__name__,
        "num_hidden_layers": config.num_hidden_layers,
        "vocab_size": config.vocab_size,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "gguf_source.json").write_text(
            json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    return summary
