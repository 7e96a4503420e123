# Shared paths, input functions and config checks. Every rule file includes this via the
# Snakefile; nothing here runs a job.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow_scripts"))

from alignment_tax.config_checks import check_config  # noqa: E402

check_config(config)

RUN = config["run_name"]
RESULTS = f"results/{RUN}"
LOGS = f"logs/{RUN}"


def res(path):
    """Path of a result of the active configuration."""
    return f"{RESULTS}/{path}"


def log(path):
    return f"{LOGS}/{path}"


def stage(name):
    return bool(config["stages"].get(name, False))


def all_inputs():
    """Every artifact the active configuration can make (the all_figures target)."""
    figures = [res(f"figures/{a}.{ext}") for a in BUILDABLE for ext in ("pdf", "png")]
    return figures + [
        res("figures/fig1_fig2_rulegraph.dot"),
        res("tables/paper_claims.csv"),
    ]


def pair_side(pair, side):
    """Hub spec of one side (theta0 or theta) of a public pair from config['pairs']."""
    for entry in config.get("pairs", []):
        if entry["name"] == pair:
            return entry[side]
    raise ValueError(f"config key 'pairs': no pair named {pair!r}")


# ------------------------------------------------------------------ paper artifacts
from alignment_tax.figures import (  # noqa: E402
    artifact_settings,
    artifacts,
    skipped_artifacts,
)

CATEGORIES = ["common_sense", "reading", "translation"]
ARTIFACT_NAMES = [f"fig{i}" for i in range(3, 17)] + ["table1"]
SKIPPED_ARTIFACTS = skipped_artifacts(config)
BUILDABLE = [a for a in artifacts(config) if a not in SKIPPED_ARTIFACTS]
for _name, _why in SKIPPED_ARTIFACTS.items():
    print(f"[{RUN}] {_name} is skipped: {_why}", file=sys.stderr)


def figure_caption(artifact):
    """What was run, for the figure's caption in the report."""
    base = config.get("base_model") or {}
    model = base.get("hub_id") or (
        "toy LLaMA pretrained here" if base.get("source") == "toy" else None
    )
    pairs = ", ".join(p["name"] for p in config.get("pairs", []))
    n = config["evaluation"].get("reward", {}).get("n_prompts")
    bench = "; ".join(
        f"{k}: {', '.join(v)}" for k, v in config["evaluation"]["benchmarks"].items()
    )
    return (
        f"config {RUN} (seed {config['seed']}); model {model or pairs}; reward: mean over "
        f"{n} held-out prompts, one sample each; benchmarks {bench}. "
        "alpha = weight on theta0: merged = alpha*theta0 + (1-alpha)*theta."
    )


# ------------------------------------------------------------------ training
def _model_kwargs():
    base = config["base_model"]
    return {
        "dtype": base.get("dtype"),
        "use_fast": base.get("use_fast_tokenizer", True),
        "trust_remote_code": base.get("trust_remote_code", False),
    }


def _rlhf(algo, **extra):
    """An algorithm's config section plus the switches shared by all RLHF algorithms."""
    rlhf = config["rlhf"]
    shared = {
        k: rlhf[k]
        for k in ("micro_batch_size", "save_steps", "bf16", "gradient_checkpointing")
        if k in rlhf
    }
    return {**shared, **rlhf[algo], **extra}


def _coef(value):
    """Canonical text of a beta / KL coefficient in a path: 0.05 -> "0.05", 1.0 -> "1"."""
    return f"{float(value):g}"


def _rm_inputs(wildcards):
    inputs = {
        "base": res("models/base"),
        "hh_train": res("data/hh_rlhf/train.jsonl"),
        "hh_test": res("data/hh_rlhf/test.jsonl"),
    }
    if stage("toy_world"):
        inputs["hh_test_truth"] = res("data/hh_rlhf/test_truth.jsonl")
    return inputs


def training_outputs():
    """Every model this file produces for the active config (for rule all)."""
    rlhf = config["rlhf"]
    algos = rlhf["algorithms"]
    outs = [res("models/sft"), res("models/reward_model")]
    outs += [res(f"models/rlhf/{a}") for a in algos]
    if "dpo" in algos:
        betas = rlhf["dpo"].get("betas", [])
        outs += [res(f"models/rlhf/dpo_beta{_coef(b)}") for b in betas]
    if "ppo" in algos:
        kls = rlhf["ppo"].get("kl_coefs", [])
        outs += [res(f"models/rlhf/ppo_kl{_coef(k)}") for k in kls]
    return outs


# ------------------------------------------------------------------ merging
from alignment_tax.variants import pairs, variant_pair  # noqa: E402


def pair_of(variant):
    """The pair whose checkpoints a variant merges ("sft" is theta0 of the first pair)."""
    return variant_pair(config, variant)


def pair_dtype(pair):
    for entry in config.get("pairs", []):
        if entry["name"] == pair:
            return entry["theta"].get("dtype", "bfloat16")
    return config.get("base_model", {}).get("dtype", "float32")


def hma_reward_model(wildcards):
    """D_theta is ranked by the reward model unless merging.hma.rank_by_reward is false
    (e.g. public pairs without a reward model: answers are then drawn at random)."""
    if config["merging"]["hma"].get("rank_by_reward", True):
        return {"reward_model": res("models/reward_model")}
    return {}


def hma_id(w):
    return f"{w.pair}/hma/K{w.K}/lr{w.lr}/alpha{w.alpha}"
