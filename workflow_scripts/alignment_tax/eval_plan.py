"""Which evaluation jobs a configuration runs and what each one reads (used by the .smk files).

One job per variant scores every benchmark category with tasks configured (the variant is
built once), and one per (variant, group) the other groups: reward (when the workflow
trains its own reward model), pairrm and gpt4 (when their stages are on). No torch import
here: Snakemake imports this while it parses the workflow.
"""

from __future__ import annotations

from alignment_tax.replicates import result_path, results_root
from alignment_tax.variants import variant_ids, variant_input_dirs

BENCHMARK_GROUPS = ("common_sense", "reading", "translation")
# a variant id is a path such as rsf/hma/K3/alpha0.2
VARIANT_PATTERN = r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*"


def _results(config: dict) -> str:
    """The active seed's results (alignment_tax.replicates: results/<run>/ for the first)."""
    return results_root(config)


def _stage(config: dict, name: str) -> bool:
    return bool(config.get("stages", {}).get(name, False))


def benchmarked_groups(config: dict) -> list[str]:
    """The benchmark categories with tasks configured, in BENCHMARK_GROUPS order: one
    evaluate_benchmark job per variant scores them all."""
    benchmarks = config["evaluation"]["benchmarks"]
    return [g for g in BENCHMARK_GROUPS if benchmarks.get(g)]


def local_task_data(config: dict) -> dict[str, dict[str, str]]:
    """evaluation.local_task_data of the evaluated tasks, {group: {task: JSONL file}} (real
    lm-eval tasks on local files in the data sets' schemas; empty where none)."""
    data = config["evaluation"].get("local_task_data") or {}
    benchmarks = config["evaluation"]["benchmarks"]
    return {g: {t: data[t] for t in benchmarks[g] if t in data}
            for g in benchmarked_groups(config)}


def local_task_files(config: dict) -> list[str]:
    return sorted({f for files in local_task_data(config).values() for f in files.values()})


def eval_groups(config: dict) -> list[str]:
    groups = benchmarked_groups(config)
    if _stage(config, "training"):
        groups.append("reward")
    if _stage(config, "pairrm"):
        groups.append("pairrm")
    if _stage(config, "gpt4_judge"):
        groups.append("gpt4")
    return groups


def eval_variants(config: dict) -> list[str]:
    return variant_ids(config)


def judged_variants(config: dict) -> list[str]:
    """The models the GPT-4 judge sees: evaluation.gpt4_judge.variants where set, else
    table 1's, per public pair the RLHF model (theta) and HMA at alpha 0.2 (K = 3 where
    fitted, else the first K). The paper judged only these ("due to the limited quota");
    every AlpacaEval 2.0 call costs money."""
    from alignment_tax.variants import variant_index

    chosen = config["evaluation"].get("gpt4_judge", {}).get("variants")
    if chosen:
        return list(chosen)
    public = {p["name"] for p in config.get("pairs", [])}
    Ks = config.get("merging", {}).get("hma", {}).get("Ks", [])
    hma_K = 3 if 3 in Ks else (Ks[0] if Ks else None)
    return [
        v.id for v in variant_index(config).variants if v.pair in public and (
            (v.method == "plain" and v.alpha == 0.0)
            or (v.method == "hma" and v.K == hma_K and abs(v.alpha - 0.2) < 1e-9))
    ]


def pairrm_variants(config: dict) -> list[str]:
    """The models PairRM ranks: evaluation.pairrm.variants where set, else every variant
    (the paper ranks each point of Zephyr's MA curves, fig6)."""
    chosen = config["evaluation"].get("pairrm", {}).get("variants")
    return list(chosen) if chosen else eval_variants(config)


def judge_glm_data_inputs(config: dict) -> dict:
    """A local df_gamed.csv for the judge's length control (evaluation.gpt4_judge.glm_data),
    else nothing: rule fetch_alpaca_eval_glm_data fetches it from the hub."""
    local = config["evaluation"].get("gpt4_judge", {}).get("glm_data")
    return {"local": local} if local else {}


def eval_files(config: dict) -> list[str]:
    """Every results/<run>/eval/<variant>/<group>.json of the configuration (gpt4: table
    1's variants only; pairrm: evaluation.pairrm.variants where set)."""
    root = _results(config)
    groups = eval_groups(config)
    subsets = {  # the AlpacaEval groups see a subset of the variants
        "gpt4": set(judged_variants(config)) if "gpt4" in groups else set(),
        "pairrm": set(pairrm_variants(config)) if "pairrm" in groups else set(),
    }
    return [
        f"{root}/eval/{v}/{g}.json" for v in eval_variants(config) for g in groups
        if g not in subsets or v in subsets[g]
    ]


def item_files(config: dict) -> list[str]:
    """The per-item scores of every variant (the bootstrap of the paper's claims): the
    benchmark jobs' <group>.items.csv, and the reward JSONs, which hold every prompt's
    reward."""
    root = _results(config)
    groups = [g for g in eval_groups(config) if g in BENCHMARK_GROUPS or g == "reward"]
    return [
        f"{root}/eval/{v}/{g}.json" if g == "reward" else f"{root}/eval/{v}/{g}.items.csv"
        for v in eval_variants(config)
        for g in groups
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
        inputs["tasks"] = result_path(config, "data/tasks")  # shared by every seed
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
