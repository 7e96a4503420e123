"""Merged models as small JSON recipes, built in memory when they are evaluated.

Public API (used by evaluation, tables and export):

    load_recipe(path_or_dict) -> dict
        Read and validate a recipe (results/<run>/recipes/<variant>.json).
    ModelCache(device="cpu", dtype=None, max_models=2)
        Keeps loaded state dicts by folder, so theta0 and theta are read from disk once
        and reused for every recipe of the same pair (theta0 stays loaded when only theta
        changes, e.g. sft -> rsf -> dpo).
    materialize(recipe, cache=None, *, device=None) -> transformers.PreTrainedModel
        The merged model of a recipe, built in memory, in eval mode, requires_grad False.
        The model is OWNED BY THE CACHE: the next materialize() on the same cache
        overwrites its weights in place (copy.deepcopy it to keep two at once). Tensors at
        ratio 0 or 1 share storage with the cached theta/theta0 (no copy): do not modify
        the returned model's weights in place.
    load_tokenizer(recipe, use_fast=True, trust_remote_code=False) -> tokenizer
        The tokenizer saved with theta (validated equal to theta0's when the recipe is made),
        through the one loader (config base_model.use_fast_tokenizer / trust_remote_code).
    export_recipe(recipe, out_dir, cache=None) -> None
        Write the merged model as a standard Hugging Face checkpoint (safetensors,
        config.json, generation config, tokenizer) plus recipe.json.

Convention: every ratio in a recipe is the WEIGHT ON theta0 (the pre-RLHF SFT model):
merged = r * theta0 + (1 - r) * theta, so r = 0 is the RLHF model, r = 1 is theta0.

Recipe JSON (schema_version 1):
    {"schema_version": 1, "id": "rsf/ma/alpha0.2",
     "theta0": "results/toy/models/sft", "theta": "results/toy/models/rlhf/rsf",
     "num_layers": 6, "layer_ratios": [0.2, ...],       # one per decoder layer
     "global_ratio": 0.2,                                # used by the "alpha" policy
     "policies": {"norms": "part", "embeddings": "part", "lm_head": "part"},
     "meta": {"pair", "algorithm", "method", "alpha", "K", "part", "pattern",
              "part_ratios", "hyper", "alpha_convention"}}
Folder paths are relative to the workflow's working directory (or absolute).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from alignment_tax.io import atomic_dir, write_json
from alignment_tax.loading import load_causal_lm, load_config
from alignment_tax.loading import load_tokenizer as load_policy_tokenizer
from alignment_tax.merge_methods import method_or_plain
from alignment_tax.merging import POLICIES, check_ratio, ratio_map, validate_pair

SCHEMA_VERSION = 1
ALPHA_CONVENTION = "alpha = weight on theta0 (pre-RLHF SFT model); 0 = RLHF model theta"
_REQUIRED = ("id", "theta0", "theta", "num_layers", "layer_ratios", "global_ratio", "policies",
             "meta")


def make_recipe(
    variant_id: str,
    *,
    theta0: str,
    theta: str,
    layer_ratios: Sequence[float],
    global_ratio: float,
    policies: Mapping[str, str],
    meta: Mapping[str, Any],
) -> dict:
    """Assemble and validate a recipe dict (ratios are weights on theta0)."""
    recipe = {
        "schema_version": SCHEMA_VERSION,
        "id": variant_id,
        "theta0": str(theta0),
        "theta": str(theta),
        "num_layers": len(layer_ratios),
        "layer_ratios": [round(float(r), 12) for r in layer_ratios],
        "global_ratio": float(global_ratio),
        "policies": dict(policies),
        "meta": {**meta, "alpha_convention": ALPHA_CONVENTION},
    }
    return load_recipe(recipe)


def recipe_from_spec(spec: Mapping, num_layers: int, part_ratios: Sequence[float] | None = None,
                     extra_meta: Mapping | None = None) -> dict:
    """A recipe from variants.recipe_spec() and the model's layer count.

    ``part_ratios`` (weights on theta0) are required for fitted methods (HMA, AdaMerging)
    and override the spec's fixed ones; K = None means one ratio per layer.
    """
    from alignment_tax.merging import layer_ratios_from_parts, part_ranges

    ratios = list(part_ratios) if part_ratios is not None else spec["part_ratios"]
    if ratios is None:
        raise ValueError(f"variant {spec['id']} has fitted ratios: pass part_ratios")
    k = spec["K"] if spec["K"] is not None else num_layers
    ranges = part_ranges(num_layers, k, spec.get("part_boundaries"))
    meta = {**spec["meta"], "part_ratios": [float(r) for r in ratios],
            "part_ranges": [list(r) for r in ranges], **(extra_meta or {})}
    low = method_or_plain(spec["meta"].get("method")).min_ratio
    return make_recipe(spec["id"], theta0=spec["theta0"], theta=spec["theta"],
                       layer_ratios=layer_ratios_from_parts(ratios, ranges, low=low),
                       global_ratio=spec["meta"]["alpha"], policies=spec["policies"], meta=meta)


def load_recipe(recipe: str | Path | Mapping) -> dict:
    """Read (if a path) and validate a recipe; errors name the file and key.

    Checked: the JSON itself, schema_version, required keys, every ratio a number in
    [0, 1] (below 0 only for meta.method extrapolation), the policies, and that meta.alpha
    agrees with the ratios (global_ratio, the part ratios and the per-layer ratios, as
    the method of meta.method says), so a wrong alpha never reaches the tables.
    """
    source = "<dict>"
    if not isinstance(recipe, Mapping):
        source = str(recipe)
        try:
            text = Path(recipe).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"recipe {source} does not exist") from None
        try:
            recipe = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"recipe {source}: not valid JSON (line {err.lineno}, column "
                             f"{err.colno}: {err.msg})") from None
        if not isinstance(recipe, Mapping):
            raise ValueError(f"recipe {source}: not a JSON object")
    recipe = dict(recipe)

    def fail(key: str, message: str):
        raise ValueError(f"recipe {source}: key {key!r} {message}")

    if recipe.get("schema_version") != SCHEMA_VERSION:
        fail("schema_version", f"is {recipe.get('schema_version')!r}, not {SCHEMA_VERSION}")
    for key in _REQUIRED:
        if key not in recipe:
            raise ValueError(f"recipe {source}: missing key {key!r}")
    for key in ("id", "theta0", "theta"):
        if not isinstance(recipe[key], str) or not recipe[key]:
            fail(key, f"must be a non-empty string, got {recipe[key]!r}")
    for key in ("policies", "meta"):
        if not isinstance(recipe[key], Mapping):
            fail(key, f"must be an object, got {recipe[key]!r}")
    num_layers, ratios = recipe["num_layers"], recipe["layer_ratios"]
    if not _is_int(num_layers) or num_layers < 1:
        fail("num_layers", f"must be a positive integer, got {num_layers!r}")
    if not isinstance(ratios, list) or len(ratios) != num_layers:
        fail("layer_ratios", f"must list num_layers = {num_layers} ratios, got {ratios!r}")
    low = method_or_plain(recipe["meta"].get("method")).min_ratio
    for i, ratio in enumerate(ratios):
        _check_number(source, f"layer_ratios[{i}]", ratio, low)
    _check_number(source, "global_ratio", recipe["global_ratio"], low)
    for key in ("norms", "embeddings", "lm_head"):
        if recipe["policies"].get(key) not in POLICIES:
            raise ValueError(f"recipe {source}: policies.{key} must be one of {POLICIES}")
    _check_alpha(source, recipe, low)
    return recipe


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_number(source: str, key: str, value, low: float = 0.0) -> None:
    """A ratio must be a JSON number in [low, 1] (a string such as "0.2" is refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"recipe {source}: key {key!r} must be a number, got {value!r}")
    try:
        check_ratio(value, low=low)
    except ValueError as err:
        raise ValueError(f"recipe {source}: key {key!r}: {err}") from None


_TOL = 1e-9


def _check_alpha(source: str, recipe: Mapping, low: float) -> None:
    """meta.alpha (the tables' x label) must be what the ratios do, as its method says
    (merge_methods: MergeMethod.recipe_mismatch)."""
    from alignment_tax.merging import layer_ratios_from_parts

    meta = recipe["meta"]
    alpha = meta.get("alpha")
    if alpha is None:
        return
    _check_number(source, "meta.alpha", alpha, low)

    def fail(what: str):
        raise ValueError(f"recipe {source}: meta.alpha = {alpha} disagrees with {what}")

    ratios = recipe["layer_ratios"]
    if abs(recipe["global_ratio"] - alpha) > _TOL:
        fail(f"global_ratio ({recipe['global_ratio']})")
    method = meta.get("method")
    parts = meta.get("part_ratios")
    if parts is not None:
        if not isinstance(parts, list) or not parts:
            raise ValueError(f"recipe {source}: key 'meta.part_ratios' must be a list")
        for i, ratio in enumerate(parts):
            _check_number(source, f"meta.part_ratios[{i}]", ratio, low)
        ranges = meta.get("part_ranges")
        if ranges is not None:
            try:
                expanded = layer_ratios_from_parts(parts, [tuple(r) for r in ranges], low=low)
            except (TypeError, ValueError) as err:
                raise ValueError(f"recipe {source}: key 'meta.part_ranges': {err}") from None
            if len(expanded) != len(ratios) or any(
                abs(a - b) > _TOL for a, b in zip(expanded, ratios, strict=False)
            ):
                raise ValueError(f"recipe {source}: layer_ratios {ratios} are not "
                                 f"meta.part_ratios {parts} over meta.part_ranges {ranges}")
    if method is not None:
        mismatch = method_or_plain(method).recipe_mismatch(alpha, meta, parts, ratios)
        if mismatch is not None:
            fail(mismatch)


def recipe_ratio_map(recipe: Mapping, names: Sequence[str], *, tied: bool = False) -> dict:
    """Per-tensor ratio (weight on theta0) for the given state-dict names."""
    # tied: lm_head is the embedding matrix, one tensor with one ratio: lm_head's
    # (merging.policy_anchor says why)
    return ratio_map(names, recipe["layer_ratios"], global_ratio=recipe["global_ratio"],
                     policies=recipe["policies"], tied=tied,
                     low=method_or_plain(recipe["meta"].get("method")).min_ratio)


class ModelCache:
    """Loaded state dicts by folder (least recently used dropped beyond ``max_models``) and
    one working model per architecture whose weights materialize() replaces."""

    def __init__(self, device: str = "cpu", dtype=None, max_models: int = 2, *,
                 use_fast: bool = True, trust_remote_code: bool = False):
        self.device = device
        self.dtype = dtype
        # the config's loading options (alignment_tax.loading.loading_options)
        self.use_fast = use_fast
        self.trust_remote_code = trust_remote_code
        self.max_models = max_models
        self._state: OrderedDict[str, dict] = OrderedDict()
        self._model = None
        self._model_dir: str | None = None
        self._validated: set[tuple[str, str]] = set()

    def state_dict(self, model_dir: str) -> dict:
        key = str(Path(model_dir).resolve())
        if key in self._state:
            self._state.move_to_end(key)
            return self._state[key]
        model = self._load(model_dir)
        state = {k: v.detach().requires_grad_(False) for k, v in model.state_dict().items()}
        if self._model is None:
            self._model, self._model_dir = model, model_dir
        self._state[key] = state
        while len(self._state) > self.max_models:
            self._state.popitem(last=False)
        return state

    def working_model(self, state: Mapping, model_dir: str):
        """The model whose weights materialize() replaces; rebuilt when shapes differ."""
        if self._model is not None:
            current = self._model.state_dict()
            if set(current) == set(state) and all(
                current[k].shape == state[k].shape for k in state
            ):
                return self._model
        self._model, self._model_dir = self._load(model_dir), model_dir
        return self._model

    def validate(self, theta0: str, theta: str) -> None:
        key = (str(Path(theta0).resolve()), str(Path(theta).resolve()))
        if key not in self._validated and key[0] != key[1]:
            validate_pair(theta0, theta, use_fast=self.use_fast,
                          trust_remote_code=self.trust_remote_code)
            self._validated.add(key)

    def num_layers(self, model_dir: str) -> int | None:
        """Decoder layer count from the model's config alone (no weights loaded)."""
        config = load_config(model_dir, trust_remote_code=self.trust_remote_code)
        return getattr(config, "num_hidden_layers", None)

    def _load(self, model_dir: str):
        if not (Path(model_dir) / "config.json").exists():
            raise FileNotFoundError(f"no model (config.json) in {model_dir}")
        model = load_causal_lm(model_dir, dtype=self.dtype,
                               trust_remote_code=self.trust_remote_code)
        return model.to(self.device).eval().requires_grad_(False)


def materialize(recipe, cache: ModelCache | None = None, *, device: str | None = None):
    """Build a recipe's merged model in memory (see the module docstring)."""
    import torch

    from alignment_tax.merging import merge_state_dicts

    recipe = load_recipe(recipe)
    if cache is None:
        cache = ModelCache(device=device or "cpu")
    cache.validate(recipe["theta0"], recipe["theta"])
    # the layer count from config.json, before either model's weights are loaded
    num_layers = cache.num_layers(recipe["theta0"])
    if num_layers is not None and num_layers != recipe["num_layers"]:
        raise ValueError(f"recipe {recipe['id']} has {recipe['num_layers']} layer ratios but "
                         f"the model in {recipe['theta0']} has {num_layers} layers")
    sd0 = cache.state_dict(recipe["theta0"])
    sd = sd0 if _same(recipe["theta0"], recipe["theta"]) else cache.state_dict(recipe["theta"])
    model = cache.working_model(sd0, recipe["theta0"])
    tied = bool(getattr(model.config, "tie_word_embeddings", False))
    ratios = recipe_ratio_map(recipe, list(sd0), tied=tied)
    merged = merge_state_dicts(sd0, sd, ratios)
    with torch.no_grad():
        model.load_state_dict(merged, strict=True, assign=True)
    if tied:
        model.tie_weights()
    model.requires_grad_(False).eval()
    return model


def load_tokenizer(recipe, *, use_fast: bool = True, trust_remote_code: bool = False):
    """theta's tokenizer, through the one loader (alignment_tax.loading.load_tokenizer)."""
    recipe = load_recipe(recipe)
    return load_policy_tokenizer(recipe["theta"], use_fast=use_fast,
                                 trust_remote_code=trust_remote_code)


def export_recipe(recipe, out_dir: str | Path, cache: ModelCache | None = None, *,
                  use_fast: bool = True, trust_remote_code: bool = False) -> None:
    """Write the recipe's merged model as a Hugging Face checkpoint folder (atomically)."""
    recipe = load_recipe(recipe)
    if cache is None:
        cache = ModelCache(use_fast=use_fast, trust_remote_code=trust_remote_code)
    model = materialize(recipe, cache)
    tokenizer = load_tokenizer(recipe, use_fast=use_fast, trust_remote_code=trust_remote_code)
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        write_json(Path(tmp) / "recipe.json", recipe)


def _same(a: str, b: str) -> bool:
    return Path(a).resolve() == Path(b).resolve()
