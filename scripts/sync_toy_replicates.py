"""Rewrite config/toy_replicates.yaml from config/config.yaml.

The three-seed toy configuration must stand alone (a --configfile is not merged over
config/config.yaml), yet differ from the default only in run_name and replicates.seeds:
this keeps its header and copies everything else from config/config.yaml.
tests/test_replicates.py checks that the two agree.

    python scripts/sync_toy_replicates.py
"""

from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "config"
DEFAULT_REPLICATES = "replicates: {}\n"
THREE_SEEDS = "replicates:\n  seeds: [1, 2, 3]\n"


def main() -> None:
    default = (CONFIG / "config.yaml").read_text()
    target = CONFIG / "toy_replicates.yaml"
    current = target.read_text()
    header = current[: current.index("run_name: toy_replicates\n")]
    body = default[default.index("run_name: toy\n"):]
    if body.count(DEFAULT_REPLICATES) != 1:
        raise SystemExit(f"config/config.yaml: expected one line {DEFAULT_REPLICATES!r}")
    body = body.replace("run_name: toy\n", "run_name: toy_replicates\n", 1)
    body = body.replace(DEFAULT_REPLICATES, THREE_SEEDS, 1)
    tmp = target.with_suffix(".yaml.tmp")
    tmp.write_text(header + body)
    tmp.replace(target)


if __name__ == "__main__":
    main()
