"""Fingerprints of the project code a rule runs, for the rule's ``params``.

Snakemake's code trigger watches only a rule script's modification time: the library
modules the script imports from this package are invisible to it, so a fix in, say,
``alignment_tax/hma.py`` would not rerun the HMA fits. Each rule therefore carries
``params: code=code_fingerprint("<script>", env="<group>")``: a short SHA-256 over

- the rule script and every project file it reaches: modules imported from
  ``alignment_tax`` (``import``/``from ... import`` anywhere in a module, relative imports
  included), modules named by a string such as ``"alignment_tax.sft"`` (the training
  stages are dispatched by name), and files or folders of the package named by a string
  (``"lm_eval_tasks"``, ``"toy_task_utils.py"``); followed transitively;
- each Python file normalised through its syntax tree: ``ast.dump`` of the parsed module
  with docstrings removed, so comments, docstrings and formatting do not count and any
  change in what the code does does; other files count byte for byte;
- the pins of the rule group's conda environment (``envs/<group>.yaml``, kept equal to
  ``requirements.txt`` by tests/test_envs.py): a new torch or TRL release reruns the jobs
  that use it, with or without ``--software-deployment-method conda``.

Every file is read and hashed once per process (Snakemake parses the workflow once), so a
parse pays a few milliseconds per module. The syntax tree's layout belongs to the Python
version, so a new Python minor version reruns everything once, like a new torch.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import re
import tokenize
from collections.abc import Iterable
from pathlib import Path

import yaml

PACKAGE = "alignment_tax"
PACKAGE_DIR = Path(__file__).resolve().parent
SCRIPTS_DIR = PACKAGE_DIR.parent
REPO_DIR = SCRIPTS_DIR.parent
ENVS_DIR = REPO_DIR / "envs"
FINGERPRINT_CHARS = 16

# Modules whose string references to other modules are not followed: the warm worker
# imports libraries ahead of time only to save start-up time; the job it runs then
# imports what its own script needs (followed from the script).
PRELOAD_ONLY = frozenset({"warm_worker.py"})


def code_fingerprint(script: str, env: str | None = None) -> str:
    """Short SHA-256 of a rule script, the project code it reaches and its env's pins.

    ``script`` is relative to ``workflow_scripts/`` (``"fit_hma.py"``); ``env`` names the
    rule's conda environment (``"merging"`` for ``envs/merging.yaml``), or None.
    """
    digest = hashlib.sha256()
    for name, file_digest in sorted(code_closure(script).items()):
        digest.update(f"{name}\t{file_digest}\n".encode())
    if env is not None:
        for pin in env_pins(env):
            digest.update(f"env\t{pin}\n".encode())
    return digest.hexdigest()[:FINGERPRINT_CHARS]


def code_closure(script: str) -> dict[str, str]:
    """Every project file ``script`` reaches (relative to workflow_scripts/) -> its digest."""
    start = (SCRIPTS_DIR / script).resolve()
    if not start.is_file():
        raise FileNotFoundError(f"rule script workflow_scripts/{script} does not exist")
    return _closure([start])


def workflow_fingerprint(rule_files: Iterable[str | Path]) -> str:
    """Short SHA-256 of the workflow's definition: the rule files (Snakefile, rules/*.smk)
    token by token, comments left out, and the project modules they import, as above."""
    digest = hashlib.sha256()
    modules: set[Path] = set()
    for rule_file in sorted(Path(f).resolve() for f in rule_files):
        text = rule_file.read_text(encoding="utf-8")
        digest.update(f"{rule_file.name}\t{_token_digest(text)}\n".encode())
        for name in sorted(set(re.findall(rf"\b{PACKAGE}\.[A-Za-z_][A-Za-z0-9_]*", text))):
            modules.update(_module_files(name, required=False))
    for name, file_hash in sorted(_closure(sorted(modules)).items()):
        digest.update(f"{name}\t{file_hash}\n".encode())
    return digest.hexdigest()[:FINGERPRINT_CHARS]


def _token_digest(text: str) -> str:
    """SHA-256 of a Snakemake file's tokens without comments and blank lines (Snakemake's
    own parser reads these files with Python's tokenizer)."""
    try:
        tokens = [
            f"{tok.type}:{tok.string}"
            for tok in tokenize.generate_tokens(io.StringIO(text).readline)
            if tok.type not in (tokenize.COMMENT, tokenize.NL)
        ]
    except (tokenize.TokenError, SyntaxError):
        tokens = [text]
    return hashlib.sha256("\n".join(tokens).encode()).hexdigest()


def _closure(starts: list[Path]) -> dict[str, str]:
    seen: dict[Path, str] = {}
    todo = list(starts)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen[path], references = _analyse(path)
        todo.extend(references)
    return {path.relative_to(SCRIPTS_DIR).as_posix(): d for path, d in seen.items()}


def file_digest(path: Path) -> str:
    """SHA-256 of a Python file's docstring-free syntax tree, or of another file's bytes."""
    return _analyse(Path(path).resolve())[0]


@functools.cache
def env_pins(env: str) -> tuple[str, ...]:
    """The sorted package specs of ``envs/<env>.yaml`` (conda and pip)."""
    path = ENVS_DIR / f"{env}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"conda environment envs/{env}.yaml does not exist")
    specs: list[str] = []
    for dep in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("dependencies", []):
        if isinstance(dep, dict):
            specs += [f"pip:{spec}" for spec in dep.get("pip", [])]
        else:
            specs.append(str(dep))
    return tuple(sorted(specs))


def _parse(path: Path, data: bytes) -> ast.Module:
    try:
        return ast.parse(data, filename=str(path))
    except SyntaxError as err:
        raise SyntaxError(f"code fingerprint: cannot parse {path}: {err}") from err


_DEFINITIONS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


@functools.cache
def _analyse(path: Path) -> tuple[str, tuple[Path, ...]]:
    """A file's digest and the project files it references, from one parse and one walk."""
    data = path.read_bytes()
    if path.suffix != ".py":
        return hashlib.sha256(data).hexdigest(), ()
    tree = _parse(path, data)
    package = _package_of(path)
    follow_names = path.name not in PRELOAD_ONLY
    found: set[Path] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, _DEFINITIONS):
            _drop_docstring(node)  # before its children are visited: never a reference
        elif isinstance(node, ast.Import):
            for alias in node.names:
                found.update(_module_files(alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = _absolute_module(node.module, node.level, package)
            if base is not None:
                found.update(_module_files(base))
                for alias in node.names:  # `from alignment_tax import hma` imports a module
                    found.update(_module_files(f"{base}.{alias.name}", required=False))
        elif follow_names and isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.update(_named_files(node.value, path.parent))
        stack.extend(ast.iter_child_nodes(node))
    found.discard(path)
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest(), tuple(sorted(found))


def _drop_docstring(node: ast.AST) -> None:
    body = node.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        node.body = body[1:] or [ast.Pass()]


def _package_of(path: Path) -> str | None:
    """Dotted package of a file inside workflow_scripts/alignment_tax, else None."""
    try:
        parts = path.parent.relative_to(SCRIPTS_DIR).parts
    except ValueError:
        return None
    return ".".join(parts) if parts and parts[0] == PACKAGE else None


def _absolute_module(module: str | None, level: int, package: str | None) -> str | None:
    if level == 0:
        return module
    if package is None:
        return None
    parts = package.split(".")
    if level > 1:
        parts = parts[: -(level - 1)]
    return ".".join(parts + ([module] if module else []))


def _module_files(name: str, required: bool = True) -> list[Path]:
    """The file(s) importing ``name`` executes: each package __init__ on the way, then the
    module; nothing for modules outside this package."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return []
    files = []
    folder = SCRIPTS_DIR
    for i, part in enumerate(parts):
        folder = folder / part
        last = i == len(parts) - 1
        if (folder / "__init__.py").is_file():
            files.append(folder / "__init__.py")
        elif last and folder.with_suffix(".py").is_file():
            files.append(folder.with_suffix(".py"))
        elif required:
            raise ImportError(f"code fingerprint: no project module {name}")
        else:
            return files
    return files


def _named_files(text: str, folder: Path) -> list[Path]:
    """Project files a string constant names: a module ("alignment_tax.sft"), or a file or
    folder next to a module of the package (folders: every file in them)."""
    if text.startswith(f"{PACKAGE}.") and text.replace(".", "").replace("_", "").isalnum():
        return _module_files(text, required=False)
    if not (folder == PACKAGE_DIR or PACKAGE_DIR in folder.parents):
        return []
    if not text or "/" in text or text.startswith(".") or len(text) > 100:
        return []
    candidate = folder / text
    if candidate.is_file():
        return [candidate]
    if candidate.is_dir():
        return sorted(
            p for p in candidate.rglob("*") if p.is_file() and "__pycache__" not in p.parts
        )
    return []
