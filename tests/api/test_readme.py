"""The README's walk-through, photo, read-model and auditor examples, run as written against `make run`.

One bash session runs every ```sh block of those sections in order, so variables and helper
functions carry over as they do for a reader, and each block's output is compared, by shape, with
the ```text block the README shows after it (a block the README shows no output for must print
nothing). The session works in a scratch directory that mirrors the checkout (`.venv`,
`manage.py` and `tests/` linked in, its own `var/`), so the commands run verbatim, `var/cosmo.sqlite3`
is the server's fresh database, and the files the examples write land there and not in the checkout.
Only `BASE` is pointed at the server's free port.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.api.readme import Example, examples, shape
from tests.api.test_http_server import free_port
from tests.conftest import ROOT

pytestmark = [
    pytest.mark.http_server,
    pytest.mark.skipif(
        os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="runs its own make-run style server on SQLite; the SQLite suite runs it",
    ),
]

SECTIONS = {"Walk-through", "Photos", "Operating the read models", "For auditors"}
README_BASE = "BASE=http://127.0.0.1:8000"


def is_tamper(example: Example) -> bool:
    """The example that edits the database with the `sqlite3` CLI: every verification after it fails."""
    return example.code.lstrip().startswith("sqlite3 ")


def is_runnable(example: Example) -> bool:
    """Not the production commands that start the workers: they run until stopped."""
    return example.section in SECTIONS and "run_workers" not in example.code


def selected() -> list[Example]:
    chosen = [e for e in examples(ROOT / "README.md") if is_runnable(e)]
    assert sum(README_BASE in e.code for e in chosen) == 1, f"exactly one example sets {README_BASE}"
    assert sum(map(is_tamper, chosen)) == 1, "one sqlite3 tamper example"
    assert is_tamper(chosen[-1]), "the tamper example must come last: a reader runs the examples in order"
    return chosen


@dataclass(frozen=True)
class Ran:
    example: Example
    output: str


def environment(var: Path) -> dict[str, str]:
    """A reader's shell: none of the test run's database, keys or settings, only a fresh var dir."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR"}
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("PYENV")}
    # Workers would sign checkpoints on a timer (README "For auditors"): only the examples' own here.
    return {**env, "COSMO_VAR_DIR": str(var), "COSMO_CHECKPOINT_EVERY_SECONDS": "3600"}


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Ran]]:
    checkout = tmp_path_factory.mktemp("checkout")
    for name in (".venv", "manage.py", "tests", "tools"):
        (checkout / name).symlink_to(ROOT / name)
    env = environment(checkout / "var")
    python = str(checkout / ".venv/bin/python")
    # As `make run` does: local keys made once in var/local.env, then migrate and serve, DEBUG off.
    for command in (["-m", "infrastructure.local_env"], ["manage.py", "migrate", "--no-input"]):
        subprocess.run(
            [python, *command], cwd=checkout, env={**env, "DEBUG": "0"}, check=True, capture_output=True
        )
    port = free_port()
    log = (checkout / "server.log").open("wb")
    server = subprocess.Popen(
        [python, "manage.py", "serve", f"127.0.0.1:{port}"],
        cwd=checkout,
        env={**env, "DEBUG": "0"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/health")
        yield run(selected(), checkout, env, port)
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer"
        time.sleep(0.2)


def run(chosen: list[Example], checkout: Path, env: dict[str, str], port: int) -> list[Ran]:
    """One bash script, each block's stdout and stderr sent to a file of its own."""
    if shutil.which("sqlite3") is None:
        chosen = [e for e in chosen if not is_tamper(e)]
    outputs = checkout / "outputs"
    outputs.mkdir()
    script = []
    for n, example in enumerate(chosen):
        code = example.code.replace(README_BASE, f"BASE=http://127.0.0.1:{port}")
        script += [f'exec >"{outputs}/{n}" 2>&1', code]
    subprocess.run(["bash", "-c", "\n".join(script)], cwd=checkout, env=env, timeout=120, check=False)
    base = f"http://127.0.0.1:{port}"
    return [
        Ran(e, (outputs / str(n)).read_text(encoding="utf-8").replace(base, "http://127.0.0.1:8000"))
        for n, e in enumerate(chosen)
        if (outputs / str(n)).exists()
    ]


def mismatches(ran: list[Ran]) -> str:
    report = []
    for block in ran:
        expected, actual = shape(block.example.shown), shape(block.output)
        if expected != actual:
            diff = "\n".join(difflib.unified_diff(expected, actual, "README", "actual", lineterm=""))
            report.append(f"{block.example.title}\n{diff}\n--- actual output, as printed:\n{block.output}")
    return "\n\n".join(report)


def test_readme_examples_print_what_the_readme_shows(session: list[Ran]) -> None:
    expected = [e for e in selected() if not is_tamper(e)]
    ran = [r for r in session if not is_tamper(r.example)]
    assert [r.example for r in ran] == expected, "the session stopped early"
    problems = mismatches(ran)
    assert not problems, problems


@pytest.mark.skipif(
    shutil.which("sqlite3") is None, reason="the README's tamper example uses the sqlite3 CLI"
)
def test_readme_tamper_example_is_caught_as_shown(session: list[Ran]) -> None:
    tampered = [r for r in session if is_tamper(r.example)]
    assert len(tampered) == 1, "the session stopped before the tamper example"
    problems = mismatches(tampered)
    assert not problems, problems
