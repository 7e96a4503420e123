"""The default toy run end to end: all_figures, then what its artifacts must show.

Runs ``snakemake --cores 2 all_figures`` on the default config (a no-op when the results
are up to date) when TOY_E2E=1; otherwise it checks an existing toy run and skips when
there is none. Measured, not forced: the assertions read the score tables.
"""

import json
import os

import pandas as pd
import pytest
from alignment_tax.artifact_catalogue import buildable_artifacts
from alignment_tax.tables import alignment_tax_checks
from conftest import (
    REPO,
    assert_artifacts_are_valid_files_from_current_tables,
    load_config,
    run_snakemake,
)

RESULTS = REPO / "results" / "toy"
TABLE = RESULTS / "tables" / "scores_long.csv"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def toy_run():
    if os.environ.get("TOY_E2E") == "1":
        result = run_snakemake("--cores", "2", "all_figures", timeout=4800)
        assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    elif not (RESULTS / "figures").exists():
        pytest.skip("no toy run here; set TOY_E2E=1 to run all_figures (about 16 minutes)")
    return RESULTS


def test_every_toy_artifact_is_a_valid_file_from_the_current_tables(toy_run):
    names = buildable_artifacts(load_config("config"))
    assert len(names) >= 13
    assert_artifacts_are_valid_files_from_current_tables(toy_run, names)
    assert (toy_run / "figures" / "fig1_fig2_rulegraph.dot").read_text().startswith("digraph")


def test_main_figures_have_data(toy_run):
    for name in ("fig4", "fig5", "fig13", "fig14", "fig16"):
        summary = json.loads((toy_run / "figures" / f"{name}.json").read_text())
        assert summary["points"] > 0, name


def test_toy_run_shows_the_alignment_tax(toy_run):
    checks = alignment_tax_checks(pd.read_csv(TABLE))
    assert len(checks["algorithms"]) == 3, checks
    assert checks["all_rlhf_above_theta0"], checks
    assert checks["n_algorithms_taxed_on_2_categories"] >= 2, checks
    assert checks["ma_strictly_between_for_all"], checks


def test_paper_claims_are_measured_for_every_figure_that_tests_one(toy_run):
    from alignment_tax.paper_claims import CLAIMS

    claims = pd.read_csv(toy_run / "tables" / "paper_claims.csv")
    assert {c.name for c in CLAIMS} | {"RSF trajectory"} == set(claims["claim"])
    assert {"fig3", "fig4", "fig5", "fig7", "fig8", "fig12", "fig13", "fig16"} <= set(
        claims["figure"])
    # every evaluation wrote its per-item scores: no claim lacks its bootstrap interval
    assert set(claims["verdict"]) <= {"supported", "contradicted", "inconclusive",
                                      "not comparable"}
    decided = claims[claims["verdict"] != "inconclusive"]
    assert (decided["ci_low"] <= decided["ci_high"]).all()
    assert (claims["n_points"] > 0).all()


def test_report_holds_every_figure(toy_run, tmp_path):
    report = tmp_path / "report.html"
    result = run_snakemake("--report", str(report), "--", "all_figures")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    html = report.read_text()
    for name in buildable_artifacts(load_config("config")):
        assert f"{name}.png" in html, name
    assert "paper_claims.csv" in html
