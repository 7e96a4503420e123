"""The one place where saved models and tokenizers are loaded.

Every stage (training, evaluation, HMA data and fitting, recipes, export, PairRM) loads
through these functions, so the security rules and the config's loading options hold
everywhere:

- weights come from safetensors only: a folder is checked first (``require_safetensors``:
  every ``*.safetensors`` header is read, so a missing, pickle-only or truncated
  checkpoint fails naming the folder or the file before any weights load), and
  ``from_pretrained`` is called with ``use_safetensors=True`` as well;
- ``trust_remote_code`` is off unless the config asks (base_model.trust_remote_code);
- the tokenizer honours base_model.use_fast_tokenizer (OpenLLaMA's fast tokenizer is known
  to give wrong benchmark scores; its maintainers advise the slow one).

Rules pass ``loading_options(config)`` as a param (rules/common.smk), so changing either
option reruns the jobs it affects.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PICKLED = (
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "model.pt",
    "model.bin",
    "adapter_model.bin",
    "training_args.bin",
)


def loading_options(config: Mapping[str, Any], pair: str | None = None) -> dict[str, bool]:
    """{"use_fast", "trust_remote_code"} for the models of ``pair``.

    A public pair (config ``pairs``) uses its own sides' settings: theta's
    use_fast_tokenizer (theta's tokenizer is the one loaded; the pair check makes sure it
    equals theta0's) and remote code only when both sides ask for it. Trained pairs (and
    no pair) use base_model's settings; without base_model, the defaults (fast tokenizer,
    no remote code).
    """
    for entry in config.get("pairs") or []:
        if entry.get("name") == pair:
            theta0, theta = entry.get("theta0") or {}, entry.get("theta") or {}
            return {
                "use_fast": bool(theta.get("use_fast_tokenizer", True)),
                "trust_remote_code": bool(theta0.get("trust_remote_code", False))
                and bool(theta.get("trust_remote_code", False)),
            }
    base = config.get("base_model") or {}
    return {
        "use_fast": bool(base.get("use_fast_tokenizer", True)),
        "trust_remote_code": bool(base.get("trust_remote_code", False)),
    }


def require_safetensors(
    model_dir: str | os.PathLike, what: str = "model", pattern: str = "*.safetensors"
) -> list[Path]:
    """The safetensors files of a saved model folder, each header read (no weights).

    Raises FileNotFoundError naming the folder when it is missing or holds no safetensors
    (e.g. only pickled pytorch_model.bin, which is never loaded), and ValueError naming the
    file when a safetensors file cannot be read (truncated, not safetensors).
    """
    from safetensors import SafetensorError, safe_open

    folder = Path(model_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"{what}: folder {str(folder)!r} does not exist")
    files = sorted(folder.glob(pattern))
    if not files:
        pickles = sorted(
            p.name
            for p in folder.iterdir()
            if p.name in PICKLED or p.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl")
        )
        found = f"; it holds {pickles}, pickled weights are never loaded" if pickles else ""
        raise FileNotFoundError(
            f"{what}: no {pattern} weights in {str(folder)!r}{found} "
            "(convert the checkpoint to safetensors first)"
        )
    for file in files:
        try:
            with safe_open(str(file), framework="pt") as handle:
                handle.keys()
        except (SafetensorError, OSError) as err:
            raise ValueError(
                f"{what}: {str(file)!r} is not a readable safetensors file "
                f"(truncated or corrupt?): {err}"
            ) from None
    return files


def load_tokenizer(
    path: str | os.PathLike, *, use_fast: bool = True, trust_remote_code: bool = False
):
    """The tokenizer saved in ``path``, with a pad token (EOS doubles as pad when the
    checkpoint has none: batched generation, lm-eval and the reward model need one)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        str(path), use_fast=use_fast, trust_remote_code=trust_remote_code
    )
    return ensure_pad_token(tokenizer, f"tokenizer in {path}")


def ensure_pad_token(tokenizer, where: str):
    """``tokenizer`` with a pad token: EOS doubles as pad when it has none."""
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"{where} has neither a pad nor an eos token")
        # OpenLLaMA and most base models have no pad token. Reward scoring appends EOS
        # explicitly and masks padding, so padding with EOS is harmless.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    model_class,
    path: str | os.PathLike,
    *,
    what: str = "model",
    trust_remote_code: bool = False,
    **kwargs,
):
    """``model_class.from_pretrained(path)`` from safetensors only (checked first)."""
    require_safetensors(path, what)
    return model_class.from_pretrained(
        str(path), use_safetensors=True, trust_remote_code=trust_remote_code, **kwargs
    )


def load_causal_lm(
    path: str | os.PathLike, *, dtype=None, trust_remote_code: bool = False, what: str = "model"
):
    """A causal LM; ``dtype`` is a torch dtype, its name, or None / "auto" (as saved)."""
    from transformers import AutoModelForCausalLM

    return load_model(
        AutoModelForCausalLM,
        path,
        what=what,
        trust_remote_code=trust_remote_code,
        **_dtype_kwargs(dtype),
    )


def load_sequence_classifier(
    path: str | os.PathLike,
    *,
    dtype=None,
    trust_remote_code: bool = False,
    what: str = "reward model",
    **kwargs,
):
    """An AutoModelForSequenceClassification (the Bradley-Terry reward model)."""
    from transformers import AutoModelForSequenceClassification

    return load_model(
        AutoModelForSequenceClassification,
        path,
        what=what,
        trust_remote_code=trust_remote_code,
        **_dtype_kwargs(dtype),
        **kwargs,
    )


def load_config(path: str | os.PathLike, *, trust_remote_code: bool = False):
    """A model's config (config.json only: cheap, no weights)."""
    from transformers import AutoConfig

    if not (Path(path) / "config.json").is_file():
        raise FileNotFoundError(f"no model (config.json) in {str(path)!r}")
    return AutoConfig.from_pretrained(str(path), trust_remote_code=trust_remote_code)


def _dtype_kwargs(dtype) -> dict:
    if dtype is None or dtype == "auto":
        return {}
    if isinstance(dtype, str):
        import torch

        names = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
        if dtype not in names:
            raise ValueError(f"dtype {dtype!r} is not one of {sorted(names)}")
        dtype = names[dtype]
    return {"dtype": dtype}
