"""Choosing among HMA's candidate fits (learning rate x epsilon) by held-out loss.

Each HMA variant is fitted once per candidate (merging.hma.lrs x merging.hma.epsilons) on
the training rows of D_theta; every fit reports its objective (mean NLL + the L1 term) on
a seeded held-out split of D_theta that no fit sees. The candidate with the least held-out
loss is the variant. The rule never looks at a benchmark or a reward score: it is the
objective HMA minimises, measured on data the fit did not use.

No torch here: the selection runs in a local rule on the fits' JSON files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def select_candidate(fits: Sequence[dict]) -> int:
    """Index of the fit of least ``heldout_loss``; ties go to the earlier fit (the order
    of the config's candidate lists). Every fit must carry a finite held-out loss."""
    if not fits:
        raise ValueError("no candidate fits to select from (merging.hma.lrs is empty?)")
    for i, fit in enumerate(fits):
        loss = fit.get("heldout_loss")
        if not isinstance(loss, int | float) or not math.isfinite(loss):
            raise ValueError(f"candidate fit {i} (lr {fit.get('lr')}, epsilon "
                             f"{fit.get('epsilon')}) has no finite heldout_loss: {loss!r}")
    return min(range(len(fits)), key=lambda i: (fits[i]["heldout_loss"], i))


def selection_record(fits: Sequence[dict], chosen: int) -> dict:
    """What the selection saw and chose, written next to the recipe."""
    keep = ("lr", "epsilon", "heldout_loss", "heldout_nll", "heldout_nll_at_alpha",
            "nll_at_alpha", "nll_fitted", "ratios", "steps", "n_examples", "n_heldout")
    best = fits[chosen]
    return {
        "rule": "least held-out loss on D_theta (mean NLL + L1 term at the fitted ratios)",
        "alpha": best["alpha"],
        "K": best["K"],
        "candidates": [{k: fit.get(k) for k in keep} for fit in fits],
        "chosen": chosen,
        "lr": best["lr"],
        "epsilon": best["epsilon"],
        "heldout_loss": best["heldout_loss"],
        "ratios": best["ratios"],
    }
