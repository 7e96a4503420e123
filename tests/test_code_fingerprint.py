"""alignment_tax.code_fingerprint: what a rule's code fingerprint sees, and that every rule
that runs project code carries one."""

from __future__ import annotations

import re
import textwrap

import pytest
from alignment_tax import code_fingerprint as cf
from conftest import REPO


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A scratch workflow_scripts/ with a rule script, a package and an envs/ folder."""
    scripts = tmp_path / "workflow_scripts"
    package = scripts / "alignment_tax"
    (package / "tasks").mkdir(parents=True)
    (package / "__init__.py").write_text('"""The package."""\n')
    (package / "top.py").write_text(
        textwrap.dedent('''
            """Top: imports a helper relatively and names a stage module and a data folder."""
            from .helper import twice

            STAGES = {"fit": "alignment_tax.stage"}
            TASKS = "tasks"


            def run(x):
                """Run."""
                return twice(x)
            ''')
    )
    (package / "helper.py").write_text("def twice(x):\n    return 2 * x\n")
    (package / "stage.py").write_text("def fit():\n    return 1\n")
    (package / "unused.py").write_text("VALUE = 1\n")
    (package / "tasks" / "task.yaml").write_text("task: a\n")
    (scripts / "rule_script.py").write_text(
        "from alignment_tax.top import run\n\nrun(snakemake.params.x)\n"
    )
    envs = tmp_path / "envs"
    envs.mkdir()
    (envs / "group.yaml").write_text(
        "dependencies:\n  - python=3.11\n  - pip:\n      - torch==2.13.0\n"
    )
    monkeypatch.setattr(cf, "SCRIPTS_DIR", scripts)
    monkeypatch.setattr(cf, "PACKAGE_DIR", package)
    monkeypatch.setattr(cf, "ENVS_DIR", envs)
    cf._analyse.cache_clear()
    cf.env_pins.cache_clear()
    yield package
    cf._analyse.cache_clear()
    cf.env_pins.cache_clear()


def fingerprint(env=None):
    cf._analyse.cache_clear()  # a new parse of the workflow
    cf.env_pins.cache_clear()
    return cf.code_fingerprint("rule_script.py", env=env)


def test_closure_follows_imports_stage_names_and_data_folders(project):
    closure = cf.code_closure("rule_script.py")
    assert set(closure) == {
        "rule_script.py",
        "alignment_tax/__init__.py",
        "alignment_tax/top.py",
        "alignment_tax/helper.py",
        "alignment_tax/stage.py",
        "alignment_tax/tasks/task.yaml",
    }


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: s.replace("return 2 * x", "return 3 * x"),  # transitive import
        lambda s: s + "\n\ndef extra():\n    return 0\n",
    ],
)
def test_a_code_change_in_an_imported_module_changes_the_fingerprint(project, edit):
    before = fingerprint()
    helper = project / "helper.py"
    helper.write_text(edit(helper.read_text()))
    assert fingerprint() != before


def test_a_change_in_a_module_named_by_string_or_a_data_file_counts(project):
    before = fingerprint()
    (project / "stage.py").write_text("def fit():\n    return 2\n")
    after_stage = fingerprint()
    assert after_stage != before
    (project / "tasks" / "task.yaml").write_text("task: b\n")
    assert fingerprint() != after_stage


def test_comments_docstrings_and_formatting_do_not_count(project):
    before = fingerprint()
    top = project / "top.py"
    text = top.read_text()
    text = text.replace('"""Run."""', '"""Run it, now documented at length."""')
    text = text.replace('"""Top:', '# a new comment\n"""Top, reworded:')
    text = text.replace("return twice(x)", "return twice(\n        x\n    )  # reformatted")
    text = text.replace('{"fit": "alignment_tax.stage"}', "{'fit': 'alignment_tax.stage'}")
    top.write_text(text)
    helper = '"""Now with a docstring."""\n\n\ndef twice(x):\n\n    return 2*x\n'
    (project / "helper.py").write_text(helper)
    assert fingerprint() == before


def test_a_module_not_reached_does_not_count(project):
    before = fingerprint()
    (project / "unused.py").write_text("VALUE = 2\n")
    assert fingerprint() == before


def test_environment_pins_count(project):
    before = fingerprint("group")
    assert fingerprint() != before  # with and without the environment
    env = cf.ENVS_DIR / "group.yaml"
    env.write_text(env.read_text().replace("2.13.0", "2.14.0"))
    assert fingerprint("group") != before


def test_each_file_is_parsed_once_per_process(project, monkeypatch):
    fingerprint()
    calls = []
    monkeypatch.setattr(cf, "_parse", lambda *a: calls.append(a) or None)
    cf.code_fingerprint("rule_script.py")  # cached: no parse
    assert calls == []


def test_missing_script_or_env_is_named(project):
    with pytest.raises(FileNotFoundError, match="nope.py"):
        cf.code_fingerprint("nope.py")
    with pytest.raises(FileNotFoundError, match="envs/nope.yaml"):
        cf.code_fingerprint("rule_script.py", env="nope")


# ---------------------------------------------------------------- the real workflow


def test_real_closures_reach_the_library():
    assert "alignment_tax/hma.py" in cf.code_closure("fit_hma.py")
    # training stages are dispatched by name (training_common.STAGES)
    assert "alignment_tax/sft.py" in cf.code_closure("train_stage.py")
    bench = cf.code_closure("evaluate_benchmarks.py")
    assert any(name.startswith("alignment_tax/lm_eval_tasks/") for name in bench)
    # the warm worker's preloads are not followed: figures do not depend on HMA code
    assert "alignment_tax/hma.py" not in cf.code_closure("plot_figure.py")


def rule_blocks():
    """(file, rule name, rule body) of every rule in rules/*.smk, by indentation."""
    for smk in sorted((REPO / "rules").glob("*.smk")):
        lines = smk.read_text().splitlines()
        for i, line in enumerate(lines):
            match = re.match(r"^(\s*)rule (\w+):\s*$", line)
            if not match:
                continue
            indent, end = len(match.group(1)), i + 1
            while end < len(lines) and (
                not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent
            ):
                end += 1
            yield smk.name, match.group(2), "\n".join(lines[i + 1 : end])


def test_every_rule_that_runs_project_code_carries_its_fingerprint():
    checked = 0
    for smk, name, body in rule_blocks():
        script = re.search(r'script:\s*\n\s*"\.\./workflow_scripts/([^"]+)"', body)
        if not script and "run:" not in body and "shell:" not in body:
            continue
        where = f"{smk}: rule {name}"
        assert "code=code_fingerprint(" in body, f"{where} has no params code=code_fingerprint(...)"
        if script:
            env = re.search(r'conda:\s*\n\s*"\.\./envs/([^"]+)\.yaml"', body)
            want = f'code=code_fingerprint("{script.group(1)}"'
            want += f', env="{env.group(1)}")' if env else ")"
            assert want in body, f"{where}: expected {want}"
        checked += 1
    assert checked >= 25
