"""gunicorn's settings: ``gunicorn --config python:infrastructure.gunicorn_config`` (``make serve``).

Read from the same environment as Django's settings (infrastructure/environment.py), documented
in the same README table. Threads, not more processes: a request mostly waits on the database,
and each process holds its own connections and caches.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

from infrastructure import environment, metrics
from infrastructure.logging_config import gunicorn_logging

env = environment.load(Path(__file__).resolve().parent.parent)

wsgi_app = "infrastructure.wsgi"
# Set explicitly: gunicorn would otherwise bind 0.0.0.0:$PORT when a process manager sets PORT.
bind = [env.str("COSMO_BIND", "127.0.0.1:8000")]
workers = env.int("COSMO_WEB_WORKERS", 2)
threads = env.int("COSMO_WEB_THREADS", 8)
timeout = env.int("COSMO_WEB_TIMEOUT_SECONDS", 30)
# Below honcho's 5 s before it kills what is left (`make serve`), so requests in flight finish.
graceful_timeout = 4
keepalive = 5
# gunicorn believes X-Forwarded-Proto (wsgi.url_scheme) only from the proxies Django trusts for
# X-Forwarded-For (api/client_ip.py); with none, only from a proxy on this host.
forwarded_allow_ips = ",".join(environment.comma_separated(env, "TRUSTED_PROXIES")) or "127.0.0.1,::1"
# No runtime control socket: its default path is per user, not per server, so two would share it.
control_socket_disable = True
# The master and workers log the JSON lines Django logs (docs/observability.md).
logconfig_dict = gunicorn_logging(env.str("LOG_LEVEL", "INFO"))


def on_starting(server: Any) -> None:
    """Django's settings, read once by the master before any worker starts: a value that does not
    parse stops gunicorn with one line, instead of each worker failing as it boots."""
    try:
        import_module("infrastructure.settings")
    except environment.CONFIGURATION_ERRORS as error:
        environment.exit_unconfigured(error)
    # A previous run's processes are gone: their metric value files go too (docs/observability.md).
    metrics.forget_dead_processes()
