"""Which evaluation jobs a configuration runs and what each one reads (used by the .smk files).

One job per (variant, group): groups are the benchmark categories with tasks configured,
plus reward (when the workflow trains its own reward model), pairrm and gpt4 (when their
stages are on). No torch import here: Snakemake imports this while it parses the workflow.
"""

from __future__ import annotations

from alignment_tax.variants import variant_ids, variant_input_dirs

BENCHMARK_GROUPS = ("common_sense", "reading", "translation")
# a variant id is a path such as rsf/hma/K3/lr0.05/alpha0.2
VARIANT_PATTERN = r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*"


def _results(config: dict) -> str:
    return f"results/{config['run_name']}"


def _stage(config: dict, name: str) -> bool:
    return bool(config.get("stages", {}).get(name, False))


def eval_groups(config: dict) -> list[str]:
    benchmarks = config["evaluation"]["benchmarks"]
    groups = [g for g in BENCHMARK_GROUPS if benchmarks.get(g)]
    if _stage(config, "training"):
        groups.append("reward")
    if _stage(config, "pairrm"):
        groups.append("pairrm")
    if _stage(config, "gpt4_judge"):
        groups.append("gpt4")
    return groups


def eval_variants(config: dict) -> list[str]:
    return variant_ids(config)


def eval_files(config: dict) -> list[str]:
    """Every results/<run>/eval/<variant>/<group>.json of the configuration."""
    root = _results(config)
    return [
        f"{root}/eval/{v}/{g}.json" for v in eval_variants(config) for g in eval_groups(config)
    ]


def recipe_files(config: dict) -> list[str]:
    return [f"{_results(config)}/recipes/{v}.json" for v in eval_variants(config)]


def variant_inputs(config: dict, variant: str) -> dict:
    """The recipe and the checkpoints it merges (so retraining re-evaluates)."""
    return {
        "recipe": f"{_results(config)}/recipes/{variant}.json",
        "models": sorted(set(variant_input_dirs(config, variant))),
    }


def benchmark_inputs(config: dict, variant: str) -> dict:
    """variant_inputs plus the toy world's lm-eval task folder (paper tasks: lm-eval's own)."""
    inputs = variant_inputs(config, variant)
    if _stage(config, "toy_world"):
        inputs["tasks"] = f"{_results(config)}/data/tasks"
    return inputs


def variant_dtype(config: dict, variant: str) -> str:
    """dtype of the variant's checkpoints: the public pair's, else the base model's."""
    for pair in config.get("pairs", []):
        if variant.startswith(f"{pair['name']}/"):
            return pair["theta"].get("dtype", "bfloat16")
    return (config.get("base_model") or {}).get("dtype", "float32")


def table_model_label(config: dict) -> str:
    """The model column of the tables for trained variants (public pairs use their name)."""
    base = config.get("base_model") or {}
    return base.get("hub_id") or base.get("source") or config["run_name"]
