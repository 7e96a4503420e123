# Shared paths, input functions and config checks. Every rule file includes this via the
# Snakefile; nothing here runs a job.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow_scripts"))

from alignment_tax.code_fingerprint import (  # noqa: E402
    code_fingerprint,
    workflow_fingerprint,
)
from alignment_tax.config_checks import check_config  # noqa: E402
from alignment_tax.provenance import (  # noqa: E402
    canonicalise_in_place,
    digest,
    graph_shape,
)

# Every mapping of the config in sorted key order, once, before any params are built from
# it: Snakemake compares params by their text, so a config file that lists the same keys
# in another order must give the same params (and rerun nothing).
canonicalise_in_place(config)
# base_model.gguf_file is relative to the workflow root, not to `snakemake -d`'s folder
check_config(config, root=workflow.basedir)

from alignment_tax.replicates import (  # noqa: E402
    is_first_seed,
    shared_rules,
    logs_root,
    replicate_seeds,
    result_path,
    results_root,
    seed_config,
)

RUN = config["run_name"]
# the first replicate seed writes results/<run>/; the others results/<run>/replicates/seed<k>/
RESULTS = results_root(config)
LOGS = logs_root(config)
SEEDS = replicate_seeds(config)


def res(path):
    """Path of a result of the active configuration (data, tokenizer, base model and hub
    checkpoints are shared by every replicate seed: alignment_tax.replicates)."""
    return result_path(config, path)


def log(path):
    return f"{LOGS}/{path}"


def stage(name):
    return bool(config["stages"].get(name, False))


def all_inputs():
    """Every artifact the active configuration can make (the all_figures target)."""
    figures = [res(f"figures/{a}.{ext}") for a in BUILDABLE for ext in ("pdf", "png")]
    return figures + [
        res("config.resolved.yaml"),
        res("figures/fig1_fig2_rulegraph.dot"),
        res("tables/paper_claims.csv"),
    ]


# ------------------------------------------------------------------ replicate seeds
from alignment_tax.eval_plan import item_files  # noqa: E402


def replicate_wide_tables(wildcards):
    """One category's wide table of every replicate seed, first seed first."""
    path = f"tables/wide_{wildcards.category}.csv"
    return [result_path(config, path, seed=s) for s in SEEDS]


def figure_tables():
    """The tables the figures draw: the run's, or with several replicate seeds their mean
    and standard error over seeds (tables/replicates/, rule aggregate_replicates)."""
    folder = "tables/replicates" if len(SEEDS) > 1 else "tables"
    return [res(f"{folder}/wide_{c}.csv") for c in CATEGORIES]


def claim_item_files():
    """Per-item scores of every variant in every replicate seed (the claims' bootstrap)."""
    return [f for s in SEEDS for f in item_files(seed_config(config, s))]


def rule_graph_key():
    """The params of rulegraph, i.e. what the graph of all_figures depends on. That is the
    config's shape (alignment_tax.provenance.graph_shape, which drops its numbers) and the
    workflow's definition (Snakefile, rules/*.smk and the project code they import), and
    never how Snakemake was invoked (config file paths, the Python running it).
    """
    rules_dir = Path(workflow.basedir) / "rules"
    rule_files = [workflow.main_snakefile, *rules_dir.glob("*.smk")]
    return {
        "config_shape": digest(graph_shape(config)),
        "workflow": workflow_fingerprint(rule_files),
    }


def pair_side(pair, side):
    """Hub spec of one side (theta0 or theta) of a public pair from config['pairs']."""
    for entry in config.get("pairs", []):
        if entry["name"] == pair:
            return entry[side]
    raise ValueError(f"config key 'pairs': no pair named {pair!r}")


def tiny_pairrm_tokenizer(wildcards):
    """The folder whose tokenizer the tiny PairRM (build_tiny_pairrm) is built on: the
    base model's, else the first public pair's theta0 (both shared by every seed)."""
    if stage("training"):
        return res("models/base")
    return res(f"hub/{config['pairs'][0]['name']}/theta0")


def pairrm_name():
    """What judged the AlpacaEval answers, as pairrm.json records it."""
    spec = config["evaluation"]["pairrm"]
    if spec["source"] == "tiny":
        return f"tiny random DebertaV2PairRM (seed {spec['tiny']['seed']}), not a trained judge"
    return spec["model"]


# ------------------------------------------------------------------ local data
from alignment_tax.hub_data import local_dataset_files  # noqa: E402


def dataset_local_files(*names):
    """Files named by datasets.<name>.local_files (inputs of the rules that read them)."""
    datasets = config.get("datasets") or {}
    files = set()
    for name in names:
        files.update(local_dataset_files(datasets.get(name) or {}).values())
    return sorted(files)


def evaluated_squadv2_files(wildcards):
    """The local copy of the evaluated SQuAD v2 items, if any (evaluation.local_task_data):
    AdaMerging's fit data are checked against it (paper's path)."""
    data = config["evaluation"].get("local_task_data") or {}
    return [data["squadv2"]] if "squadv2" in data else []


# ------------------------------------------------------------------ paper artifacts
from alignment_tax.artifact_catalogue import (  # noqa: E402
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
    seeds = (
        f"seed {config['seed']}"
        if len(SEEDS) == 1
        else f"seeds {', '.join(map(str, SEEDS))}: mean, error bars = standard error over seeds"
    )
    return (
        f"config {RUN} ({seeds}); model {model or pairs}; reward: mean over "
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


from alignment_tax.sft import rule_params as sft_rule_params  # noqa: E402
from alignment_tax.sft import theta0_recipe  # noqa: E402


def _sft_inputs(wildcards):
    """theta_pre and ShareGPT; HH-RLHF too when sft.theta0 includes its SFT phase."""
    inputs = {
        "base_dir": res("models/base"),
        "sharegpt_path": res("data/sharegpt.json"),
    }
    if theta0_recipe(config["sft"]) == "sharegpt_then_hh":
        inputs["hh_train_path"] = res("data/hh_rlhf/train.jsonl")
    return inputs


def _rm_inputs(wildcards):
    inputs = {
        "base_dir": res("models/base"),
        "hh_train_path": res("data/hh_rlhf/train.jsonl"),
        "hh_test_path": res("data/hh_rlhf/test.jsonl"),
    }
    if stage("toy_world"):
        # the hidden reward of each test pair (the RM's agreement with it)
        inputs["test_truth_path"] = res("data/hh_rlhf/test_truth.jsonl")
    return inputs


# ------------------------------------------------------------------ merging
from alignment_tax.merge_methods import get_method  # noqa: E402
from alignment_tax.variants import (  # noqa: E402
    hma_candidate_label,
    hma_candidates,
    pairs,
    variant_pair,
)


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
    """The HMA variant whose fit or selection a job makes (the id built by its method)."""
    return get_method("hma").variant_id(w.pair, w.K, w.alpha)


def adamerging_id(w):
    """The AdaMerging variant a fit_adamerging job makes."""
    return get_method("adamerging").variant_id(w.pair, w.alpha)


def hma_prompt_inputs(wildcards):
    """D_theta's prompts: the RLHF training prompts, or merging.hma.prompts drawn by rule
    prepare_hma_prompts."""
    if config["merging"]["hma"].get("prompts"):
        return {"prompts": res("data/prompts/hma_prompts.jsonl")}
    return {"prompts": res("data/prompts/rlhf_train.jsonl")}


def hma_prompt_source(wildcards):
    """The local file of merging.hma.prompts (an input, so editing it reruns the draw)."""
    spec = config["merging"]["hma"].get("prompts") or {}
    files = spec.get("local_files")
    if not files:
        return {}
    return {"source": [files] if isinstance(files, str) else sorted(files.values())}


def hma_sampling(key):
    """D_theta's answer length / temperature: merging.hma.<key>, else rlhf.<key>."""
    value = config["merging"]["hma"].get(key)
    return value if value is not None else config["rlhf"][key]


def hma_candidate(w):
    """The configured (lr, epsilon) whose label is the candidate wildcard, or an error."""
    for lr, epsilon in hma_candidates(config, w.pair):
        if hma_candidate_label(lr, epsilon) == w.candidate:
            return {"lr": lr, "epsilon": epsilon}
    raise ValueError(
        f"HMA candidate {w.candidate!r} of pair {w.pair!r} is not in merging.hma.lrs x "
        "merging.hma.epsilons"
    )


def hma_candidate_fits(w):
    """Every candidate fit of one HMA variant, in the config's candidate order."""
    return [
        res(
            f"merging/{w.pair}/hma/K{w.K}/alpha{w.alpha}/{hma_candidate_label(*c)}/ratios.json"
        )
        for c in hma_candidates(config, w.pair)
    ]
