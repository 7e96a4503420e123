"""Table of fitted HMA ratios of a run: how far each fit moved from alpha, per K and lr.

Ratios are weights on theta0 (merged part k = r_k * theta0 + (1 - r_k) * theta).

    .venv/bin/python benchmarks/summarize_hma_fits.py [--run toy]

Reads results/<run>/merging/<pair>/hma/K<K>/lr<lr>/alpha<a>/ratios.json (rule fit_hma) and
writes its section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

MARK_BEGIN = "<!-- hma_fits:begin -->"
MARK_END = "<!-- hma_fits:end -->"


def rows(run: str) -> list[dict]:
    out = []
    base = ROOT / "results" / run / "merging"
    for path in sorted(base.glob("*/hma/K*/lr*/alpha*/ratios.json")):
        pair, _, k, lr, _alpha = path.parent.relative_to(base).parts
        fit = json.loads(path.read_text())
        moved = max(abs(r - fit["alpha"]) for r in fit["ratios"])
        out.append({"pair": pair, "K": int(k[1:]), "lr": float(lr[2:]), "alpha": fit["alpha"],
                    "ratios": fit["ratios"], "max_moved": moved,
                    "nll": (fit["nll_at_alpha"], fit["nll_fitted"]), "steps": fit["steps"]})
    return out


def main() -> None:
    from bench_merge_grid import replace_section

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="toy")
    args = parser.parse_args()
    table = rows(args.run)
    if not table:
        raise SystemExit(f"no HMA fits under results/{args.run}/merging/*/hma/")
    lines = [MARK_BEGIN, f"## HMA fits of run `{args.run}`", "",
             "Fitted part ratios (weight on theta0; mean = alpha by construction), the largest "
             "distance of a part ratio from alpha, and the mean NLL of all of D_theta with "
             "every ratio at alpha (plain averaging) and at the fitted ratios.", "",
             "| pair | K | lr | alpha | fitted ratios | max abs(r - alpha) "
             "| NLL at alpha -> fitted |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(table, key=lambda r: (r["pair"], r["K"], r["lr"], r["alpha"])):
        ratios = ", ".join(f"{x:.3f}" for x in r["ratios"])
        lines.append(f"| {r['pair']} | {r['K']} | {r['lr']:g} | {r['alpha']:g} | {ratios} | "
                     f"{r['max_moved']:.4f} | {r['nll'][0]:.4f} -> {r['nll'][1]:.4f} |")
    lines.append(MARK_END)
    replace_section(ROOT / "benchmarks" / "RESULTS.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
