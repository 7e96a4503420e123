"""The forgetting-mitigation baselines a configuration compares model averaging against.

Paper section 4.1, appendices C and D.4. Every baseline is one model directory; the lead
turns each into an evaluated variant (theta0 = models/sft, theta = the baseline, alpha 0).

Ids (path-like, numbers as f"{x:g}", LoRA ranks as integers)::

    rsf/early_stopping/iter<i>    RSF checkpoint of iteration i   models/rlhf/rsf/iter_<i>
    rsf/<method>/<value>          theta0 fine-tuned on the RSF best-of-n pool with a remedy
                                  models/baselines/rsf/<method>/<value>
    ppo/ppo_kl/<coef>             PPO trained with KL reward penalty  models/rlhf/ppo_kl<coef>

Trained methods (alignment_tax.baselines): l1, l2 (weight-space penalty towards theta0),
lora_mlp, lora_mlp_attn (LoRA rank), distillation (KD weight), sma (weight the moving
average keeps on theta0 at the end of training), replay (pretraining tokens / RLHF pool
tokens, as trained). Early stopping and PPO KL only list models that the
training stage already writes.

This module does not import torch, so .smk files can use it.
"""

from __future__ import annotations

from alignment_tax.replicates import result_path, results_root

# method -> config key of its grid in the `baselines:` section
TRAINED_METHODS = {
    "l1": "l1",
    "l2": "l2",
    "lora_mlp": "lora_mlp_ranks",
    "lora_mlp_attn": "lora_mlp_attn_ranks",
    "distillation": "distillation",
    "sma": "sma_theta0_weights",
    "replay": "replay_ratios",
}
INTEGER_METHODS = ("lora_mlp", "lora_mlp_attn")
METHODS = ("early_stopping", *TRAINED_METHODS, "ppo_kl")


def fmt_value(method: str, value) -> str:
    """The text of a hyper-parameter in ids and paths: 0.05 -> "0.05", 1.0 -> "1", rank 16
    -> "16" (same as the training rules' f"{x:g}", so ppo_kl paths match)."""
    if method in INTEGER_METHODS:
        return str(int(value))
    return f"{float(value):g}"


def parse_value(method: str, text: str):
    """Inverse of fmt_value (for the rule's {value} wildcard)."""
    if method not in TRAINED_METHODS:
        raise ValueError(
            f"unknown trained baseline method {method!r}; known: {list(TRAINED_METHODS)}"
        )
    return int(text) if method in INTEGER_METHODS else float(text)


def _results(config: dict) -> str:
    return results_root(config)  # the active replicate seed's results


def trained_baseline_dir(config: dict, method: str, value) -> str:
    """Model directory of a trained (fine-tuned) baseline, relative to the repo root."""
    return f"{_results(config)}/models/baselines/rsf/{method}/{fmt_value(method, value)}"


def baseline_models(config: dict) -> list[dict]:
    """Every baseline model of the configuration, as dicts with keys id, pair, algorithm,
    method, hyper ({"value": ..., plus "iteration" for early stopping}), path.

    Empty unless stages.baselines and stages.training are on (the baselines need the
    trained RSF / PPO models). RSF baselines need "rsf" in rlhf.algorithms, PPO KL ones "ppo".
    """
    stages = config.get("stages", {})
    if not (stages.get("baselines", False) and stages.get("training", False)):
        return []
    cfg = config.get("baselines") or {}
    rlhf = config.get("rlhf", {})
    algos = rlhf.get("algorithms", [])
    results = _results(config)
    out: list[dict] = []

    def add(pair, method, value, path, **hyper):
        out.append(
            {
                "id": f"{pair}/{method}/{hyper.pop('slug', fmt_value(method, value))}",
                "pair": pair,
                "algorithm": pair,
                "method": method,
                "hyper": {"value": value, **hyper},
                "path": path,
            }
        )

    if "rsf" in algos:
        n_iter = rlhf.get("rsf", {}).get("iterations")
        for it in cfg.get("early_stopping_iterations", []):
            if n_iter is not None and not 0 <= int(it) <= int(n_iter):
                raise ValueError(
                    f"config key 'baselines.early_stopping_iterations': iteration {it} is "
                    f"outside 0..rlhf.rsf.iterations ({n_iter})"
                )
            add(
                "rsf",
                "early_stopping",
                int(it),
                f"{results}/models/rlhf/rsf/iter_{int(it)}",
                iteration=int(it),
                slug=f"iter{int(it)}",
            )
        for method, key in TRAINED_METHODS.items():
            for value in cfg.get(key, []):
                value = int(value) if method in INTEGER_METHODS else float(value)
                add("rsf", method, value, trained_baseline_dir(config, method, value))
    if "ppo" in algos:
        for coef in rlhf.get("ppo", {}).get("kl_coefs", []):
            add("ppo", "ppo_kl", float(coef), f"{results}/models/rlhf/ppo_kl{float(coef):g}")
    ids = [m["id"] for m in out]
    if len(set(ids)) != len(ids):
        raise ValueError(f"config key 'baselines': repeated grid values give duplicate ids {ids}")
    return out


def trained_baseline_dirs(config: dict) -> list[str]:
    """The baseline models that rule train_baseline produces (targets for rule all)."""
    return [m["path"] for m in baseline_models(config) if m["method"] in TRAINED_METHODS]


# ------------------------------------------------------------------ rule helpers


def rule_params(config: dict) -> dict:
    """The training keys that rule train_baseline passes: the `baselines` section without
    its grids (adding a grid value reruns nothing else), the RLHF switches shared by every
    RLHF algorithm, and sft.max_length."""
    rlhf = config["rlhf"]
    shared = {
        k: rlhf[k]
        for k in ("micro_batch_size", "save_steps", "bf16", "gradient_checkpointing")
        if k in rlhf
    }
    grids = {"early_stopping_iterations", *TRAINED_METHODS.values()}
    own = {k: v for k, v in config["baselines"].items() if k not in grids}
    return {**shared, "max_length": config["sft"]["max_length"], **own}


def rule_model_kwargs(config: dict) -> dict:
    base = config["base_model"]
    return {
        "dtype": base.get("dtype"),
        "use_fast": base.get("use_fast_tokenizer", True),
        "trust_remote_code": base.get("trust_remote_code", False),
    }


def rule_inputs(config: dict, method: str) -> dict:
    """Inputs of rule train_baseline, named as baselines.train_baseline's arguments: theta0,
    the RSF output (its pool.jsonl), and the pretraining documents for replay."""
    results = _results(config)
    inputs = {"sft_dir": f"{results}/models/sft", "rsf_dir": f"{results}/models/rlhf/rsf"}
    if method == "replay":
        inputs["pretrain_path"] = result_path(config, "data/pretrain.jsonl")  # shared by seeds
    return inputs
