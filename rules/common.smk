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
    """The furthest targets that exist so far; replaced by all_figures once figures exist."""
    targets = []
    if stage("toy_world"):
        targets += [res("models/base/config.json")]
    return targets


def pair_side(pair, side):
    """Hub spec of one side (theta0 or theta) of a public pair from config['pairs']."""
    for entry in config.get("pairs", []):
        if entry["name"] == pair:
            return entry[side]
    raise ValueError(f"config key 'pairs': no pair named {pair!r}")
