# Reproduces "Mitigating the Alignment Tax of RLHF" (Lin et al., 2024).
# Default configuration: the embedded toy world (config/config.yaml).
# Other setups: --configfile config/paper.yaml | config/zephyr.yaml
# Merge convention: merged = alpha * theta0 + (1 - alpha) * theta (alpha on the SFT model).
from snakemake.utils import min_version, validate

min_version("9.0")


# A config given with --configfile stands alone (only the schema's defaults fill its gaps):
# the toy config is read only when none is given. --config key=value applies on top of either.
if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/config/config.yaml"


validate(config, "config/schema/config.schema.yaml")


include: "rules/common.smk"
include: "rules/resources.smk"


if config["stages"]["toy_world"]:

    include: "rules/toy_world.smk"

else:

    include: "rules/models.smk"


# Sections of a stage that does not run (e.g. sft in the Zephyr config) may be absent.
if config["stages"]["training"]:

    include: "rules/training.smk"


if config["stages"]["baselines"]:

    include: "rules/baselines.smk"


include: "rules/merging.smk"
include: "rules/evaluation.smk"
include: "rules/tables.smk"
include: "rules/figures.smk"
include: "rules/provenance.smk"


# Replicate seeds (config replicates.seeds, alignment_tax.replicates): every seed after the
# first runs this workflow again as a module with only `seed` changed; its results go to
# results/<run>/replicates/seed<k>/ and it takes data and base model from the first seed.
if len(SEEDS) > 1 and is_first_seed(config):
    # the rules whose outputs are all shared by the seeds (data, tokenizer, base model, hub)
    # run once, in this workflow: computed from the rules, so a new data rule is covered
    _shared_rules = shared_rules(config, workflow.rules)
    for _seed in SEEDS[1:]:
        _module = f"seed{_seed}"

        module:
            name: _module
            snakefile:
                "Snakefile"
            config:
                seed_config(config, _seed)

        # `use rule * from <module> exclude <names> as seed<k>_*` with the excluded names
        # computed above: the call that statement compiles to (its syntax takes literal
        # names only)
        workflow.userule(
            rules=["*"],
            from_module=_module,
            exclude_rules=_shared_rules,
            name_modifier=f"{_module}_*",
        )(lambda: None)


rule all:
    default_target: True
    input:
        all_inputs(),
