"""Table of fitted HMA ratios of a run: how far each candidate fit moved from alpha, its
held-out loss, and which candidate select_hma chose, per K, alpha, lr and epsilon.

Ratios are weights on theta0 (merged part k = r_k * theta0 + (1 - r_k) * theta).

    .venv/bin/python benchmarks/summarize_hma_fits.py [--run toy]

Reads results/<run>/merging/<pair>/hma/K<K>/alpha<a>/lr<lr>_eps<e>/ratios.json (rule
fit_hma) and results/<run>/recipes/<pair>/hma/K<K>/alpha<a>.selection.json (rule select_hma)
and writes its section of benchmarks/RESULTS.md.
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
    for path in sorted(base.glob("*/hma/K*/alpha*/lr*_eps*/ratios.json")):
        pair, _, k, alpha, _candidate = path.parent.relative_to(base).parts
        fit = json.loads(path.read_text())
        moved = max(abs(r - fit["alpha"]) for r in fit["ratios"])
        selection = base.parent / "recipes" / pair / "hma" / k / f"{alpha}.selection.json"
        chosen = None
        if selection.exists():
            picked = json.loads(selection.read_text())
            chosen = (picked["lr"], picked["epsilon"]) == (fit["lr"], fit["epsilon"])
        out.append({"pair": pair, "K": int(k[1:]), "lr": fit["lr"], "epsilon": fit["epsilon"],
                    "alpha": fit["alpha"], "ratios": fit["ratios"], "max_moved": moved,
                    "nll": (fit["nll_at_alpha"], fit["nll_fitted"]), "steps": fit["steps"],
                    "heldout": (fit["heldout_nll_at_alpha"], fit["heldout_loss"]),
                    "chosen": chosen})
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
             "Fitted part ratios of every candidate (weight on theta0; mean = alpha by "
             "construction), the largest distance of a part ratio from alpha, the mean NLL of "
             "D_theta's training rows with every ratio at alpha (plain averaging) and at the "
             "fitted ratios, the held-out NLL at alpha and the held-out loss (NLL + L1 term) "
             "at the fitted ratios, and the candidate select_hma chose (least held-out loss).",
             "", "| pair | K | alpha | lr | epsilon | fitted ratios | max abs(r - alpha) "
             "| NLL at alpha -> fitted | held-out: NLL at alpha, loss fitted | chosen |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(table, key=lambda r: (r["pair"], r["K"], r["alpha"], r["lr"],
                                          r["epsilon"])):
        ratios = ", ".join(f"{x:.3f}" for x in r["ratios"])
        chosen = {True: "yes", False: "", None: "?"}[r["chosen"]]
        lines.append(f"| {r['pair']} | {r['K']} | {r['alpha']:g} | {r['lr']:g} | "
                     f"{r['epsilon']:g} | {ratios} | {r['max_moved']:.4f} | "
                     f"{r['nll'][0]:.4f} -> {r['nll'][1]:.4f} | {r['heldout'][0]:.4f}, "
                     f"{r['heldout'][1]:.4f} | {chosen} |")
    lines.append(MARK_END)
    replace_section(ROOT / "benchmarks" / "RESULTS.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
