"""Debian's nginx on loopback for the tests: a configuration from the `http` block a test needs, run in
the foreground as root with every file in the test's folder, stopped gracefully (SIGQUIT)."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.live import wait_for

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
STOP_TIMEOUT = 10


def write_config(folder: Path, servers: str, connections: int = 64) -> Path:
    """nginx.conf in `folder`: everything nginx writes stays there; `servers` is the inside of `http`."""
    config = folder / "nginx.conf"
    config.write_text(
        f"""
daemon off;
user root;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections {connections}; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
{servers}
}}
""",
        encoding="utf-8",
    )
    return config


@contextmanager
def running(config: Path, ready: Callable[[], bool | None], what: str = "nginx answering") -> Iterator[None]:
    """nginx on `config` until the block ends, once `ready()` says it answers."""
    folder = config.parent
    process = subprocess.Popen(
        [NGINX, "-e", str(folder / "startup.log"), "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(ready, 10, f"{what}:\n{tail(folder / 'error.log')}")
        yield
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)


def tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else ""
