"""Loading what an evaluation job scores: a variant's model (from its recipe) and a reward model.

Every evaluation job loads its checkpoint(s) once and builds the variant in memory through
alignment_tax.recipes (merged models are never written to disk).
"""

from __future__ import annotations

from pathlib import Path

_DTYPES = {"float32", "bfloat16", "float16"}


def pick_device(device: str | None = None) -> str:
    import torch

    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def _torch_dtype(dtype: str | None):
    import torch

    if dtype is None:
        return None
    if dtype not in _DTYPES:
        raise ValueError(f"dtype '{dtype}' is not one of {sorted(_DTYPES)}")
    return getattr(torch, dtype)


def _ensure_pad(tokenizer):
    # batched generation and lm-eval need a pad token; decoder-only checkpoints often lack one
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise ValueError("tokenizer has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_variant(recipe_path: str | Path, *, device: str | None = None, dtype: str | None = None):
    """(model, tokenizer) of a recipe, built in memory; model in eval mode on ``device``."""
    from alignment_tax.recipes import ModelCache, load_recipe, load_tokenizer, materialize

    recipe_path = Path(recipe_path)
    if not recipe_path.is_file():
        raise FileNotFoundError(f"recipe not found: {recipe_path}")
    recipe = load_recipe(recipe_path)
    cache = ModelCache(device=pick_device(device), dtype=_torch_dtype(dtype))
    model = materialize(recipe, cache)
    tokenizer = _ensure_pad(load_tokenizer(recipe))
    return model, tokenizer, recipe


def load_reward_model(
    model_dir: str | Path,
    *,
    device: str | None = None,
    dtype: str | None = None,
    use_fast_tokenizer: bool = True,
):
    """(reward model, tokenizer) saved with save_pretrained (one-label sequence classifier).

    use_fast_tokenizer=False for OpenLLaMA, whose fast tokenizer is known to be wrong.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"no reward model (config.json) in {model_dir}")
    kwargs = {"dtype": _torch_dtype(dtype)} if dtype else {}
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, **kwargs)
    if model.config.num_labels != 1:
        raise ValueError(f"reward model in {model_dir} has {model.config.num_labels} labels, not 1")
    tokenizer = _ensure_pad(AutoTokenizer.from_pretrained(model_dir, use_fast=use_fast_tokenizer))
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(pick_device(device)).eval().requires_grad_(False), tokenizer
