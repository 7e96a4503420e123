"""The merge engine: parts of the decoder, per-tensor ratio maps, merging of state dicts,
and checks that a (theta0, theta) pair can be merged at all.

Convention, used by every function here: a ratio r is the WEIGHT ON theta0, the pre-RLHF
(SFT) model, as in the authors' code:

    merged = r * theta0 + (1 - r) * theta      (r = 0: the RLHF model, r = 1: theta0)

A merge is fully described by one ratio per tensor. Every method (alignment_tax.merge_methods:
whole-model averaging, part-wise averaging, fixed patterns, HMA, AdaMerging, extrapolation)
only differs in how it fills the per-layer ratios and what it does with the tensors outside
the decoder layers (embeddings, norms, lm_head), so one function builds the map and one
merges. Ratios lie in [0, 1], except for extrapolation (below 0: beyond theta).

Tensor policies for what lies outside the decoder's linear layers (config
merging.norms / embeddings / lm_head):
  "alpha"  - merged at the recipe's global ratio (its alpha: the mean for HMA)
  "part"   - merged with the part it belongs to: a layer's norms with that layer, the
             embeddings with the first layer, the final norm and lm_head with the last
  "theta0" - copied from theta0 (r = 1)
  "theta"  - copied from theta (r = 0)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported lazily: variants.py / .smk files import this module
    import torch

POLICIES = ("alpha", "part", "theta0", "theta")
PART_NAMES = ("input", "middle", "output")

_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")


class PairMismatchError(ValueError):
    """theta0 and theta cannot be merged (architecture, shapes or vocabulary differ)."""


# --------------------------------------------------------------------------- parts


def part_ranges(
    num_layers: int, k: int, boundaries: Sequence[int] | None = None
) -> list[tuple[int, int]]:
    """K contiguous [start, end) ranges of decoder layers covering 0..num_layers.

    ``boundaries`` (config merging.part_boundaries) are the start layers of parts 2..K and
    are used when they describe K parts. Otherwise: for K = 3 the authors' split
    ([0,8) [8,16) [16,L) for L <= 30, e.g. OpenLLaMA-3B's 26 layers; [0,11) [11,21) [21,L)
    for L > 30, e.g. Mistral-7B's 32), when L is large enough for it; else int(L/K) layers
    per part with the remainder in the last part (the authors' rule for other K).
    """
    if k < 1:
        raise ValueError(f"number of parts K must be >= 1, got {k}")
    if k > num_layers:
        raise ValueError(f"cannot split {num_layers} decoder layers into K={k} parts")
    if boundaries is not None and len(boundaries) == k - 1:
        starts = [0, *boundaries]
        increasing = all(b > a for a, b in zip(starts, starts[1:], strict=False))
        if not increasing or starts[-1] >= num_layers:
            raise ValueError(
                f"merging.part_boundaries={list(boundaries)} must increase strictly within "
                f"(0, {num_layers})"
            )
    elif k == 3 and 16 < num_layers <= 30:
        starts = [0, 8, 16]
    elif k == 3 and num_layers > 30:
        starts = [0, 11, 21]
    else:
        size = num_layers // k
        starts = [i * size for i in range(k)]
    ends = [*starts[1:], num_layers]
    return list(zip(starts, ends, strict=True))


def layer_ratios_from_parts(
    part_ratios: Sequence[float], ranges: Sequence[tuple[int, int]], *, low: float = 0.0
) -> list[float]:
    """Expand one ratio per part (weight on theta0) to one ratio per decoder layer
    (``low``: the least ratio allowed, see check_ratio)."""
    if len(part_ratios) != len(ranges):
        raise ValueError(f"{len(part_ratios)} part ratios for {len(ranges)} parts")
    out: list[float] = []
    for ratio, (start, end) in zip(part_ratios, ranges, strict=True):
        check_ratio(ratio, low=low)
        out.extend([float(ratio)] * (end - start))
    return out


def pattern_ratios(pattern: str, base: float) -> list[float]:
    """Part ratios of a fixed pattern such as "a|a|a-0.1" for base a (fig9), clipped to [0,1]."""
    ratios = []
    for term in pattern.split("|"):
        match = re.fullmatch(r"a(?:-(\d*\.?\d+))?", term.strip())
        if not match:
            raise ValueError(f"bad merging pattern {pattern!r}: term {term!r}")
        ratios.append(round(min(1.0, max(0.0, base - float(match.group(1) or 0))), 10))
    return ratios


def check_ratio(ratio: float, *, low: float = 0.0) -> None:
    """A ratio must lie in [low, 1]: low is 0 (interpolation between theta and theta0)
    except for model extrapolation (merge_methods.extrapolation: below 0, beyond theta)."""
    if not low <= float(ratio) <= 1.0:
        hint = "" if low < 0 else "; only method 'extrapolation' takes ratios below 0"
        raise ValueError(f"merge ratio {ratio} outside [{low:g}, 1] (weight on theta0){hint}")


# --------------------------------------------------------------------------- ratio maps


def tensor_kind(name: str) -> tuple[str, int | None]:
    """Classify a Hugging Face decoder tensor name: (kind, layer index or None).

    kind is one of linear, norm (inside a layer), embeddings, final_norm, lm_head.
    Works for the Llama / Mistral / Qwen2 / Gemma naming (model.layers.<i>.*).
    """
    match = _LAYER.search(name)
    if match:
        layer = int(match.group(1))
        return ("norm" if "norm" in name.split(".")[-2] else "linear"), layer
    if "embed_tokens" in name or name.endswith("wte.weight"):
        return "embeddings", None
    if name.startswith("lm_head"):
        return "lm_head", None
    if "norm" in name:
        return "final_norm", None
    raise ValueError(f"tensor {name!r} is neither in a decoder layer nor embeddings/norm/lm_head")


def policy_anchor(kind: str, layer: int | None, num_layers: int, *,
                  tied: bool = False) -> tuple[str, int]:
    """(policy key, anchor layer) of a tensor outside the decoder's linear layers: which
    of merging.norms / embeddings / lm_head decides its ratio, and the layer whose part
    it follows under the "part" policy.

    Tied embeddings (lm_head shares the embedding matrix, e.g. Gemma): the one matrix
    follows lm_head's policy, as in the authors' code, where every merge writes the
    embedding and lm_head entries of the state dict and load_state_dict copies lm_head's
    last into the shared matrix (whole-model and HMA merges: lm_head at alpha; part-wise:
    lm_head's ratio). Under "part" it therefore goes with the output part.
    """
    if kind == "norm":
        return "norms", layer
    if kind == "final_norm":
        return "norms", num_layers - 1
    if kind == "embeddings" and not tied:
        return "embeddings", 0
    if kind in ("embeddings", "lm_head"):
        return "lm_head", num_layers - 1
    raise ValueError(f"tensor kind {kind!r} has no policy (linear layers follow their layer)")


def ratio_map(
    names: Sequence[str],
    layer_ratios: Sequence[float],
    *,
    global_ratio: float,
    policies: Mapping[str, str],
    tied: bool = False,
    low: float = 0.0,
) -> dict[str, float]:
    """Ratio (weight on theta0) of every tensor name.

    ``layer_ratios`` has one ratio per decoder layer and applies to its linear layers;
    ``policies`` maps "norms", "embeddings", "lm_head" to one of POLICIES; ``tied``: the
    model ties lm_head to the embeddings (see policy_anchor); ``low``: the least ratio
    allowed (check_ratio).
    """
    for key in ("norms", "embeddings", "lm_head"):
        if policies.get(key) not in POLICIES:
            raise ValueError(f"merging policy {key}={policies.get(key)!r} not in {POLICIES}")
    check_ratio(global_ratio, low=low)
    for ratio in layer_ratios:
        check_ratio(ratio, low=low)
    num_layers = len(layer_ratios)

    def by_policy(policy: str, part_ratio: float) -> float:
        return {"alpha": float(global_ratio), "part": float(part_ratio), "theta0": 1.0,
                "theta": 0.0}[policy]

    out = {}
    for name in names:
        kind, layer = tensor_kind(name)
        if layer is not None and layer >= num_layers:
            raise ValueError(f"tensor {name} is in layer {layer} but the recipe has {num_layers}")
        if kind == "linear":
            out[name] = float(layer_ratios[layer])
        else:
            key, anchor = policy_anchor(kind, layer, num_layers, tied=tied)
            out[name] = by_policy(policies[key], layer_ratios[anchor])
    return out


# --------------------------------------------------------------------------- merging


def merge_tensor(t0: torch.Tensor, t: torch.Tensor, ratio: float) -> torch.Tensor:
    """ratio * t0 + (1 - ratio) * t, in fp32 (or fp64) and cast back; exact at 0 and 1.

    fp32 arithmetic as mergekit's linear merge, so low-precision models round once.
    """
    import torch

    if ratio == 1.0:
        return t0
    if ratio == 0.0:
        return t
    if not t.is_floating_point():
        raise PairMismatchError(f"cannot interpolate a non-floating tensor ({t.dtype})")
    work = torch.float64 if t.dtype == torch.float64 else torch.float32
    with torch.no_grad():
        merged = ratio * t0.to(work) + (1.0 - ratio) * t.to(work)
    return merged.to(t.dtype)


def merge_state_dicts(
    theta0: Mapping[str, torch.Tensor],
    theta: Mapping[str, torch.Tensor],
    ratios: Mapping[str, float],
) -> dict[str, torch.Tensor]:
    """Merge two state dicts tensor by tensor with ``ratios`` (weight on theta0).

    Tensors at ratio 0 or 1 are returned as the input tensors themselves (no copy), so
    the endpoints are bit-for-bit theta and theta0.
    """
    check_state_dicts(theta0, theta)
    missing = set(theta0) - set(ratios)
    if missing:
        raise ValueError(f"no merge ratio for tensors {sorted(missing)[:5]}")
    return {name: merge_tensor(theta0[name], theta[name], ratios[name]) for name in theta0}


# --------------------------------------------------------------------------- pair checks


def check_state_dicts(sd0: Mapping[str, torch.Tensor], sd: Mapping[str, torch.Tensor]) -> None:
    """Raise PairMismatchError unless both state dicts have the same names and shapes."""
    only0, only1 = sorted(set(sd0) - set(sd)), sorted(set(sd) - set(sd0))
    if only0 or only1:
        raise PairMismatchError(
            f"theta0 and theta have different tensors: only in theta0 {only0[:5]}, "
            f"only in theta {only1[:5]}"
        )
    for name in sd0:
        if tuple(sd0[name].shape) != tuple(sd[name].shape):
            raise PairMismatchError(
                f"tensor {name}: theta0 shape {tuple(sd0[name].shape)} != theta shape "
                f"{tuple(sd[name].shape)}"
            )


_ARCH_KEYS = ("model_type", "architectures", "num_hidden_layers", "hidden_size",
              "intermediate_size", "num_attention_heads", "num_key_value_heads", "vocab_size",
              "tie_word_embeddings")


def read_shapes(model_dir: str | Path) -> dict[str, tuple[int, ...]]:
    """Tensor shapes from the safetensors headers of a saved model (no weights loaded)."""
    from safetensors import safe_open

    from alignment_tax.loading import require_safetensors

    # names the folder (no safetensors, e.g. only a pickled .bin) or the unreadable file
    files = require_safetensors(model_dir)
    shapes = {}
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():
                shapes[key] = tuple(handle.get_slice(key).get_shape())
    return shapes


def validate_pair(theta0_dir: str | Path, theta_dir: str | Path, *, use_fast: bool = True,
                  trust_remote_code: bool = False) -> dict:
    """Check, before loading any weights, that two saved models can be merged.

    Compares architecture fields of config.json, tensor names and shapes (safetensors
    headers) and the tokenizers' vocabularies. Returns theta0's config dict.
    Raises PairMismatchError naming the first difference.
    """
    configs = []
    for label, path in (("theta0", theta0_dir), ("theta", theta_dir)):
        cfg_file = Path(path) / "config.json"
        if not cfg_file.exists():
            raise FileNotFoundError(f"{label}: no config.json in {path}")
        configs.append(json.loads(cfg_file.read_text()))
    for key in _ARCH_KEYS:
        a, b = configs[0].get(key), configs[1].get(key)
        if a != b:
            raise PairMismatchError(
                f"theta0 ({theta0_dir}) and theta ({theta_dir}) differ in config {key}: {a} != {b}"
            )
    shapes0, shapes1 = read_shapes(theta0_dir), read_shapes(theta_dir)
    for name in sorted(set(shapes0) | set(shapes1)):
        if shapes0.get(name) != shapes1.get(name):
            raise PairMismatchError(
                f"tensor {name}: theta0 {shapes0.get(name)} vs theta {shapes1.get(name)}"
            )
    options = {"use_fast": use_fast, "trust_remote_code": trust_remote_code}
    vocab0, vocab1 = _vocab(theta0_dir, **options), _vocab(theta_dir, **options)
    if vocab0 is not None and vocab1 is not None and vocab0 != vocab1:
        diff = sorted(set(vocab0.items()) ^ set(vocab1.items()))[:5]
        raise PairMismatchError(f"theta0 and theta tokenizers differ, e.g. {diff}")
    return configs[0]


def _vocab(model_dir: str | Path, **options) -> dict | None:
    """The tokenizer's vocabulary, or None when the folder holds no tokenizer."""
    path = Path(model_dir)
    if not any((path / f).exists() for f in ("tokenizer.json", "tokenizer.model",
                                             "tokenizer_config.json")):
        return None
    from alignment_tax.loading import load_tokenizer

    return load_tokenizer(path, **options).get_vocab()
