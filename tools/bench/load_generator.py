"""``wrk`` as the load generator: a C client that costs the server's CPUs far less than Python would.

A small Lua script per target sets the method, the JSON body and the bearer token, and prints
wrk's own summary as one JSON line, so nothing has to scrape wrk's human-readable report.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MARKER = "BENCH_RESULT "

_LUA = """\
wrk.method = "{method}"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "application/json"
{body}
{request}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{marker}{{"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d,'
    .. ' "p50_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


# Requests of a target with ``paths`` take turns over those paths, and ``COUNTER`` in the body
# becomes the request's number: repeated PATCHes then each change something, spread over rows.
_VARYING_LUA = """\
local paths = {{{paths}}}
local counter = 0
request = function()
  counter = counter + 1
  local body = (string.gsub(wrk.body, "COUNTER", tostring(counter)))
  return wrk.format(nil, paths[(counter % #paths) + 1], nil, body)
end
"""


@dataclass(frozen=True)
class Target:
    method: str
    path: str
    body: str = ""
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    status_errors: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def ok_per_second(self) -> float:
        """Only 2xx/3xx answers count: an error page served fast is not throughput."""
        return (self.requests - self.status_errors) / self.seconds


def find_or_install_wrk(log: Callable[[str], None]) -> str | None:
    """``wrk`` from PATH, else from Debian's package when we are root; ``None`` if neither works."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return found
    log("wrk is not installed: installing the Debian package (apt-get install wrk)")
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    for commands in ([install], [["apt-get", "update", "-q"], install]):
        if all(subprocess.run(c, capture_output=True, check=False).returncode == 0 for c in commands):
            break
    return shutil.which("wrk")


def write_script(directory: Path, name: str, target: Target, token: str) -> Path:
    body = f"wrk.body = [==[{target.body}]==]" if target.body else ""
    request = ""
    if target.paths:
        request = _VARYING_LUA.format(paths=", ".join(f'"{path}"' for path in target.paths))
    script = directory / f"{name}.lua"
    script.write_text(
        _LUA.format(method=target.method, token=token, body=body, request=request, marker=MARKER)
    )
    return script


def run_wrk(wrk: str, url: str, script: Path, *, seconds: int, connections: int) -> LoadResult:
    command = [
        wrk,
        "--threads",
        "1",
        "--connections",
        str(connections),
        "--duration",
        f"{seconds}s",
        "--timeout",
        "10s",
        "--script",
        str(script),
        url,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=seconds + 60)
    for line in completed.stdout.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            return LoadResult(
                requests=data["requests"],
                seconds=data["duration_us"] / 1e6,
                status_errors=data["status_errors"],
                socket_errors=data["socket_errors"],
                p50_ms=data["p50_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
            )
    raise RuntimeError(
        f"wrk gave no result (exit {completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
    )
