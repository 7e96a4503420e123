"""The README table "What the real-model lane exercises", from dry runs.

Every rule in the DAG (target all_figures) of config/paper.yaml and config/zephyr.yaml,
with its job count there, and what config/real_cpu.yaml does with it: the lane's job count
(a dry run with --forceall), how many of those jobs are done in results/real_cpu/ (the
jobs a plain dry run no longer lists), and for a rule the lane never reaches, why. Rules
only the lane has (the GGUF conversion, the fixtures) are listed too.

    .venv/bin/python scripts/lane_coverage.py            # print the table
    .venv/bin/python scripts/lane_coverage.py --write    # replace it in README.md

Run it from the repository root; each dry run takes some seconds.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
CONFIGS = {"paper": "config/paper.yaml", "zephyr": "config/zephyr.yaml"}
LANE = "config/real_cpu.yaml"
START = "<!-- lane-coverage:start (scripts/lane_coverage.py --write) -->"
END = "<!-- lane-coverage:end -->"
# why the lane does not run a rule of the paper / Zephyr DAGs
NOT_IN_LANE = {
    "fetch_base_model": "theta_pre comes from the GGUF file (convert_gguf_base_model)",
    "fetch_pair_model": "public pairs are hub checkpoints; the lane trains its own pairs",
    "fetch_pairrm": "PairRM is a hub model; the lane builds a tiny random one (build_tiny_pairrm)",
    "make_adamerging_data": "AdaMerging fits on toy-world reading items only",
    "fit_adamerging": "AdaMerging fits on toy-world reading items only",
}


def job_counts(config: str, *extra: str) -> dict[str, int]:
    """{rule: jobs} of a dry run of all_figures (Snakemake's "Job stats" table)."""
    result = subprocess.run(
        [str(SNAKEMAKE), "-n", "all_figures", "--cores", "1", *extra, "--configfile", config],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    out = result.stdout + result.stderr
    if result.returncode != 0:
        raise SystemExit(f"dry run of {config} failed:\n{out[-3000:]}")
    counts: dict[str, int] = {}
    if "Nothing to be done" in out:
        return counts
    table = out.split("Job stats:", 1)[1].split("total", 1)[0]
    for rule, count in re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.M):
        counts[rule] = int(count)
    return counts


def table() -> str:
    per_config = {name: job_counts(path, "--forceall") for name, path in CONFIGS.items()}
    lane = job_counts(LANE, "--forceall")
    pending = job_counts(LANE)
    rules = sorted(set(lane).union(*per_config.values()))
    rows = [
        "| rule | paper jobs | zephyr jobs | lane jobs | lane status |",
        "|---|---:|---:|---:|---|",
    ]
    for rule in rules:
        if rule in lane:
            done = lane[rule] - pending.get(rule, 0)
            if done == lane[rule]:
                status = f"run ({done} of {lane[rule]})"
            elif done:
                status = f"{done} of {lane[rule]} run; planned: not yet run end to end"
            else:
                status = "planned: not yet run end to end"
        else:
            status = "not in the lane: " + NOT_IN_LANE.get(rule, "not in its DAG")
        counts = [per_config[n].get(rule, 0) for n in CONFIGS] + [lane.get(rule, 0)]
        cells = " | ".join(str(c) if c else "-" for c in counts)
        rows.append(f"| `{rule}` | {cells} | {status} |")
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="replace the table in README.md")
    text = table()
    if not parser.parse_args().write:
        print(text, end="")
        return
    readme = REPO / "README.md"
    current = readme.read_text()
    if current.count(START) != 1 or current.count(END) != 1:
        raise SystemExit(f"README.md: expected one {START!r} and one {END!r}")
    head, rest = current.split(START)
    _, tail = rest.split(END)
    tmp = readme.with_suffix(".md.tmp")
    tmp.write_text(f"{head}{START}\n{text}{END}{tail}")
    tmp.replace(readme)


if __name__ == "__main__":
    main()
