"""tools/cosmo_verify.py for tests: imported in-process, or run by a Python that has only cryptography.

The isolated run is how an auditor runs it: ``python -S`` (no site-packages, so no Django and none
of this repository) with a path holding nothing but ``cryptography`` and what it installs with.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path
from types import ModuleType

TOOL = Path(__file__).resolve().parents[1] / "tools" / "cosmo_verify.py"
CRYPTOGRAPHY_AND_ITS_DEPENDENCIES = ("cryptography", "cffi", "pycparser")


def load_tool() -> ModuleType:
    """The verifier as a module, for checks too many to run one process each."""
    spec = importlib.util.spec_from_file_location("cosmo_verify", TOOL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["cosmo_verify"] = module
    spec.loader.exec_module(module)
    return module


def cryptography_only_path(directory: Path) -> Path:
    """A directory linking only the files of cryptography's distributions, for PYTHONPATH."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in CRYPTOGRAPHY_AND_ITS_DEPENDENCIES:
        dist = distribution(name)
        for top in {file.parts[0] for file in dist.files or ()}:
            source = Path(str(dist.locate_file(top)))
            link = directory / top
            if source.exists() and not link.exists():
                link.symlink_to(source)
    return directory


def isolated_python(path: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -S`` with nothing importable but the standard library and ``path``."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(path), "PYTHONNOUSERSITE": "1"}
    return subprocess.run(
        [sys.executable, "-S", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
        timeout=120,
    )


def line_values(raw: bytes) -> str:
    """The JSON values of an NDJSON file's lines in one spelling (telling 1, 1.0 and true apart):
    what a bundle's proofs bind, whatever the spacing within a line."""
    values = [json.loads(line) for line in raw.split(b"\n")[:-1]]
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
