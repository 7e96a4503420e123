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


def load_variant(recipe_path: str | Path, *, device: str | None = None, dtype: str | None = None,
                 use_fast: bool = True, trust_remote_code: bool = False):
    """(model, tokenizer, recipe) of a recipe, built in memory; model in eval mode on
    ``device``. ``use_fast`` / ``trust_remote_code``: the config's loading options
    (alignment_tax.loading.loading_options)."""
    from alignment_tax.recipes import ModelCache, load_recipe, load_tokenizer, materialize

    recipe_path = Path(recipe_path)
    if not recipe_path.is_file():
        raise FileNotFoundError(f"recipe not found: {recipe_path}")
    recipe = load_recipe(recipe_path)
    cache = ModelCache(device=pick_device(device), dtype=_torch_dtype(dtype),
                       use_fast=use_fast, trust_remote_code=trust_remote_code)
    model = materialize(recipe, cache)
    tokenizer = load_tokenizer(recipe, use_fast=use_fast, trust_remote_code=trust_remote_code)
    return model, tokenizer, recipe


def load_reward_model(
    model_dir: str | Path,
    *,
    device: str | None = None,
    dtype: str | None = None,
    use_fast: bool = True,
    trust_remote_code: bool = False,
):
    """(reward model, tokenizer) saved with save_pretrained (one-label sequence classifier),
    from safetensors only. use_fast=False for OpenLLaMA, whose fast tokenizer is known to
    be wrong."""
    from alignment_tax.loading import load_sequence_classifier, load_tokenizer

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"no reward model (config.json) in {model_dir}")
    model = load_sequence_classifier(model_dir, dtype=_torch_dtype(dtype),
                                     trust_remote_code=trust_remote_code)
    if model.config.num_labels != 1:
        raise ValueError(f"reward model in {model_dir} has {model.config.num_labels} labels, not 1")
    tokenizer = load_tokenizer(model_dir, use_fast=use_fast, trust_remote_code=trust_remote_code)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(pick_device(device)).eval().requires_grad_(False), tokenizer
