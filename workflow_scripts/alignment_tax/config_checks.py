"""Checks of a configuration that a JSON schema cannot express.

The Snakefile validates the config against config/schema/config.schema.yaml first (types,
ranges, enums, defaults); ``check_config`` then checks relations between keys. Every error
names the key at fault and is raised before any job runs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key."""


def _fail(key: str, message: str) -> None:
    raise ConfigError(f"config key '{key}': {message}")


def names_with_hma(config: dict[str, Any]) -> list[str]:
    """The pairs HMA is fitted for: trained RLHF algorithms and public pairs."""
    from alignment_tax.variants import pairs

    return [name for name, _ in pairs(config)]


def pattern_offsets(pattern: str) -> list[float]:
    """Offsets of a per-part ratio pattern such as 'a|a|a-0.1' -> [0.0, 0.0, -0.1]."""
    offsets = []
    for term in pattern.split("|"):
        match = re.fullmatch(r"a(?:-(0\.\d+))?", term.strip())
        if match is None:
            raise ConfigError(f"pattern '{pattern}': term '{term}' is not 'a' or 'a-0.x'")
        offsets.append(-float(match.group(1)) if match.group(1) else 0.0)
    return offsets


def layer_count(config: dict[str, Any]) -> int | None:
    """Number of decoder layers of the configured base model, when the config knows it."""
    base = config.get("base_model") or {}
    if base.get("source") == "toy":
        return config.get("toy_world", {}).get("architecture", {}).get("num_hidden_layers")
    if base.get("num_hidden_layers"):
        return base["num_hidden_layers"]
    counts = {p.get("num_hidden_layers") for p in config.get("pairs", [])} - {None}
    return min(counts) if counts else None


# Policies that keep each method what its name says, whatever the config: MA must be theta
# at alpha 0 and theta0 at alpha 1 ("part" and "alpha" both merge at alpha there; "theta0"
# or "theta" would copy one endpoint into the other); part-wise MA must leave every tensor
# outside the averaged part at theta ("part", or "theta" for tensors never averaged).
ENDPOINT_POLICIES = {
    "ma": (("part", "alpha"), "MA at alpha 0 would not be theta, or at alpha 1 not theta0"),
    "partwise": (("part", "theta"), "part-wise MA would change tensors outside the "
                 "averaged part (they must stay theta)"),
}


def workflow_gguf_path(path: str | os.PathLike, root: str | os.PathLike) -> str:
    """``base_model.gguf_file`` as a path for the working directory: the config gives it
    relative to the workflow root ``root`` (or absolute), and the working directory is
    another folder under ``snakemake -d``. Relative to the working directory when the file
    lies inside it (so the rule's input reads as written in a run from the root), else
    absolute."""
    path = Path(path)
    full = Path(os.path.normpath(path if path.is_absolute() else Path(root).resolve() / path))
    try:
        return str(full.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(full)


def check_merge_policies(config: dict[str, Any]) -> None:
    """merging.norms / embeddings / lm_head must not break MA's endpoints or part-wise MA
    (a plain string applies to every method: 'theta0' there breaks both)."""
    from alignment_tax.variants import policies

    for method, (allowed, why) in ENDPOINT_POLICIES.items():
        for key, value in policies(config, method).items():
            if value not in allowed:
                _fail(f"merging.{key}", f"gives {method} the policy '{value}': {why}. "
                      f"Allowed for {method}: {list(allowed)}; set a per-method mapping, "
                      f"e.g. {{ma: part, partwise: part, hma: theta0}}")


def training_batches(config: dict[str, Any]) -> list[tuple[str, int, str, int | None]]:
    """(key, global batch, key of its micro batch, micro batch) of every training phase the
    config runs, with the micro batch each stage's params get (rules/common.smk: rlhf.*
    and baselines share rlhf.micro_batch_size unless their own section sets one)."""
    out = []
    sft = config.get("sft") or {}
    out.append(("sft.batch_size", sft.get("batch_size"), "sft", sft))
    if sft.get("theta0") == "sharegpt_then_hh":
        out.append(("sft.hh_batch_size", sft.get("hh_batch_size", sft.get("batch_size")),
                    "sft", sft))
    rm = config.get("reward_model") or {}
    out.append(("reward_model.batch_size", rm.get("batch_size"), "reward_model", rm))
    if rm.get("sft_epochs"):
        out.append(("reward_model.sft_batch_size", rm.get("sft_batch_size", rm.get("batch_size")),
                    "reward_model", rm))
    rlhf = config.get("rlhf") or {}
    algorithms = rlhf.get("algorithms", [])
    if "rsf" in algorithms:
        out.append(("rlhf.rsf.batch_size", rlhf["rsf"].get("batch_size"), "rlhf.rsf", rlhf["rsf"]))
    if "dpo" in algorithms:
        out.append(("rlhf.dpo.batch_size", rlhf["dpo"].get("batch_size"), "rlhf.dpo", rlhf["dpo"]))
    if "ppo" in algorithms:
        ppo = rlhf["ppo"]
        out.append(("rlhf.ppo.mini_batch_size", ppo.get("mini_batch_size"), "rlhf.ppo", ppo))
        out.append(("rlhf.ppo.warmup_batch_size",
                    ppo.get("warmup_batch_size", ppo.get("mini_batch_size")), "rlhf.ppo", ppo))
    if (config.get("stages") or {}).get("baselines"):
        baselines = config.get("baselines") or {}
        out.append(("baselines.batch_size", baselines.get("batch_size"), "baselines", baselines))
    rows = []
    for key, batch, section_name, section in out:
        if section_name.startswith(("rlhf.", "baselines")) and "micro_batch_size" not in section:
            micro_key, micro = "rlhf.micro_batch_size", rlhf.get("micro_batch_size")
        else:
            micro_key, micro = f"{section_name}.micro_batch_size", section.get("micro_batch_size")
        if batch is not None:
            rows.append((key, int(batch), micro_key, micro))
    return rows


def check_batch_layouts(config: dict[str, Any]) -> None:
    """Every global batch must split into micro batches x training processes x gradient
    accumulation: found here, not when the stage starts after hours of earlier training."""
    from alignment_tax.training_common import split_batch

    if not (config.get("stages") or {}).get("training", True):
        return
    groups = (config.get("resources") or {}).get("groups") or {}
    processes = int((groups.get("train") or {}).get("processes", 1))
    ppo = (config.get("rlhf") or {}).get("ppo") or {}
    if "ppo" in (config.get("rlhf") or {}).get("algorithms", []) and ppo.get("mini_batch_size"):
        if ppo.get("batch_size", 0) % ppo["mini_batch_size"]:
            _fail("rlhf.ppo.batch_size", f"{ppo.get('batch_size')} is not a multiple of "
                  f"rlhf.ppo.mini_batch_size ({ppo['mini_batch_size']})")
    for key, batch, micro_key, micro in training_batches(config):
        try:
            split_batch(batch, micro, processes)
        except ValueError:
            _fail(key, f"{batch} does not split into {micro_key} ({micro}) x "
                  f"resources.groups.train.processes ({processes}) x gradient accumulation")


def check_config(config: dict[str, Any], root: str | None = None) -> None:
    """Stop on a config the schema accepts but the workflow cannot run; ``root`` is the
    workflow root that base_model.gguf_file is relative to (None: the working directory)."""
    stages = config.get("stages", {})
    seeds = (config.get("replicates") or {}).get("seeds")
    if seeds and config.get("seed") not in seeds:
        # the first seed is the run itself; a later one runs that replicate's chain alone
        _fail("replicates.seeds", f"must contain seed ({config.get('seed')}), got {seeds}")
    base = config.get("base_model")
    pairs = config.get("pairs", [])

    if stages.get("training", True):
        if base is None:
            _fail("base_model", "missing, but stages.training is true")
        if base["source"] == "hub" and not base.get("hub_id"):
            _fail("base_model.hub_id", "required when base_model.source is 'hub'")
        if base["source"] == "gguf":
            if not base.get("gguf_file"):
                _fail("base_model.gguf_file", "required when base_model.source is 'gguf'")
            from alignment_tax.gguf_model import gguf_file_problem

            gguf_file = base["gguf_file"]
            problem = gguf_file_problem(
                gguf_file if root is None else workflow_gguf_path(gguf_file, root)
            )
            if problem is not None:
                _fail("base_model.gguf_file", problem)
        if (base["source"] == "toy") != bool(stages.get("toy_world")):
            _fail("stages.toy_world", "must be true exactly when base_model.source is 'toy'")
        algorithms = config.get("rlhf", {}).get("algorithms", [])
        if not algorithms:
            _fail("rlhf.algorithms", "lists no RLHF algorithm, but stages.training is true")
    elif not pairs:
        _fail("pairs", "is empty and stages.training is false: nothing to merge or evaluate")

    names = [p["name"] for p in pairs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        _fail("pairs", f"duplicate pair names {duplicates}")
    clash = set(names) & set(config.get("rlhf", {}).get("algorithms", []))
    if stages.get("training", True) and clash:
        _fail("pairs", f"names {sorted(clash)} clash with rlhf.algorithms")

    layers = layer_count(config)
    merging = config.get("merging", {})
    if layers is not None:
        for K in merging.get("hma", {}).get("Ks", []):
            if K > layers:
                _fail("merging.hma.Ks", f"K = {K} is larger than the layer count ({layers})")
        if layers < 3:
            _fail("toy_world.architecture.num_hidden_layers", "needs at least 3 layers (parts)")
    boundaries = merging.get("part_boundaries")
    if boundaries is not None:
        if sorted(boundaries) != list(boundaries) or len(set(boundaries)) != len(boundaries):
            _fail("merging.part_boundaries", f"must be strictly increasing, got {boundaries}")
        if len(boundaries) != 2:
            _fail(
                "merging.part_boundaries", "must give 2 boundaries (3 parts: input|middle|output)"
            )
        if layers is not None and boundaries[-1] >= layers:
            _fail("merging.part_boundaries", f"boundary {boundaries[-1]} >= layer count {layers}")

    patterns = merging.get("patterns", {})
    for pattern in patterns.get("patterns", []):
        offsets = pattern_offsets(pattern)
        if len(offsets) != 3:
            _fail("merging.patterns.patterns", f"'{pattern}' must have 3 parts")
        for a in patterns.get("bases", []):
            if not all(0.0 <= a + o <= 1.0 for o in offsets):
                _fail("merging.patterns.bases", f"base {a} with '{pattern}' leaves [0, 1]")

    pair_names = set(names)
    if stages.get("training", True):
        pair_names |= set(config.get("rlhf", {}).get("algorithms", []))
    for key, listed in (
        ("merging.patterns.pairs", patterns.get("pairs")),
        ("merging.partwise.pairs", merging.get("partwise", {}).get("pairs")),
        ("merging.hma.sweep_pairs", merging.get("hma", {}).get("sweep_pairs")),
    ):
        unknown = sorted(set(listed or []) - pair_names)
        if unknown:
            _fail(key, f"names unknown pairs {unknown}; pairs are {sorted(pair_names)}")

    check_merge_policies(config)
    check_batch_layouts(config)

    pairrm = config.get("evaluation", {}).get("pairrm", {})
    if stages.get("pairrm") and pairrm.get("source") == "tiny":
        tiny = pairrm.get("tiny", {})
        if tiny.get("hidden_size", 32) % tiny.get("num_attention_heads", 2):
            _fail("evaluation.pairrm.tiny.hidden_size",
                  f"{tiny.get('hidden_size', 32)} is not a multiple of num_attention_heads "
                  f"({tiny.get('num_attention_heads', 2)})")

    hma = merging.get("hma", {})
    if hma.get("n_train_samples", 0) > hma.get("n_top_samples", float("inf")):
        _fail("merging.hma.n_train_samples", "is larger than merging.hma.n_top_samples")
    n_drawn = hma.get("n_train_samples", 0) + hma.get("n_heldout_samples", 0)
    if n_drawn > hma.get("n_top_samples", float("inf")):
        _fail("merging.hma.n_heldout_samples", f"n_train_samples + n_heldout_samples "
              f"({n_drawn}) is larger than merging.hma.n_top_samples")
    hub_prompts = hma.get("prompts") or not stages.get("toy_world")
    if hma.get("Ks") and hma.get("alphas") and hub_prompts and hma.get("n_prompts") is None:
        _fail("merging.hma.n_prompts", "must be set when D_theta's prompts come from a hub "
              "data set (merging.hma.prompts, or HH-RLHF's): every prompt is answered by "
              "the model, and null would mean all of them")
    if hma.get("Ks") and hma.get("alphas"):
        lrs = hma.get("lrs")
        if not lrs:
            _fail("merging.hma.lrs", "is missing: HMA needs candidate learning rates")
        if isinstance(lrs, dict):
            missing = sorted(set(names_with_hma(config)) - set(lrs))
            if missing:
                _fail("merging.hma.lrs", f"has no candidate list for pairs {missing}")
    if hma.get("n_prompts") is not None and hma["n_prompts"] < hma.get("n_top_samples", 0):
        _fail("merging.hma.n_prompts", f"({hma['n_prompts']}) is smaller than "
              f"merging.hma.n_top_samples ({hma['n_top_samples']})")

    adamerging = merging.get("adamerging") or {}
    datasets = config.get("datasets") or {}
    if (adamerging.get("mean_alphas") and stages.get("training", True)
            and not stages.get("toy_world") and not datasets.get("squadv2_train")):
        _fail("datasets.squadv2_train", "is missing: AdaMerging (merging.adamerging) fits on "
              "labelled reading items, on the paper's path SQuAD v2's train split (e.g. "
              "{hub_id: rajpurkar/squad_v2, split: train}, or local_files in its schema)")

    benchmarks = config.get("evaluation", {}).get("benchmarks", {})
    if not any(benchmarks.values()):
        _fail("evaluation.benchmarks", "names no benchmark")
    toy_names = [b for group in benchmarks.values() for b in group if b.startswith("toy_")]
    if toy_names and not stages.get("toy_world"):
        _fail("evaluation.benchmarks", f"toy tasks {toy_names} need stages.toy_world: true")
    local_tasks = sorted(config.get("evaluation", {}).get("local_task_data") or {})
    if local_tasks and stages.get("toy_world"):
        _fail("evaluation.local_task_data", "redirects lm-eval's real tasks; the toy world "
              "evaluates its own task folder (set stages.toy_world: false)")
    unnamed = [t for t in local_tasks if not any(t in group for group in benchmarks.values())]
    if unnamed:
        _fail("evaluation.local_task_data", f"names tasks {unnamed} that "
              "evaluation.benchmarks does not list")

    if stages.get("baselines"):
        iterations = config.get("rlhf", {}).get("rsf", {}).get("iterations", 0)
        for it in config.get("baselines", {}).get("early_stopping_iterations", []):
            if it > iterations:
                _fail(
                    "baselines.early_stopping_iterations",
                    f"iteration {it} > rlhf.rsf.iterations ({iterations})",
                )
    if stages.get("gpt4_judge") and not config.get("evaluation", {}).get("gpt4_judge"):
        _fail("evaluation.gpt4_judge", "missing, but stages.gpt4_judge is true")
    alpaca_eval = config.get("datasets", {}).get("alpaca_eval") or {}
    if (stages.get("gpt4_judge") and not alpaca_eval.get("hub_id")
            and not config["evaluation"]["gpt4_judge"].get("glm_data")):
        _fail("evaluation.gpt4_judge.glm_data", "must name a local df_gamed.csv (the length-"
              "controlled win rate's data) when datasets.alpaca_eval has no hub_id")
    for stage_name, section in (("gpt4_judge", "gpt4_judge"), ("pairrm", "pairrm")):
        chosen = (config.get("evaluation", {}).get(section) or {}).get("variants")
        if stages.get(stage_name) and chosen:
            from alignment_tax.variants import variant_ids

            unknown = sorted(set(chosen) - set(variant_ids(config)))
            if unknown:
                _fail(f"evaluation.{section}.variants", f"{unknown} are not variants of "
                      "this configuration")
