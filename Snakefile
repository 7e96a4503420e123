# Reproduces "Mitigating the Alignment Tax of RLHF" (Lin et al., 2024).
# Default configuration: the embedded toy world (config/config.yaml).
# Other setups: --configfile config/paper.yaml | config/zephyr.yaml
# Merge convention: merged = alpha * theta0 + (1 - alpha) * theta (alpha on the SFT model).
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema/config.schema.yaml")


include: "rules/common.smk"
include: "rules/resources.smk"


if config["stages"]["toy_world"]:

    include: "rules/toy_world.smk"

else:

    include: "rules/models.smk"


include: "rules/training.smk"


if config["stages"]["baselines"]:

    include: "rules/baselines.smk"


include: "rules/merging.smk"
include: "rules/evaluation.smk"
include: "rules/tables.smk"
include: "rules/figures.smk"


rule all:
    default_target: True
    input:
        all_inputs(),
