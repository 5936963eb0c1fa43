"""Static Mastodon statuses served by nginx: the fast local server the crawl benchmarks hit.

``spiders.sandbox.export_static`` writes each status as a file
``<root>/api/v1/statuses/<id>`` holding the JSON a real instance answers for
``GET /api/v1/statuses/<id>``. nginx runs in the foreground as our child
(``daemon off``), listens on 127.0.0.1 only, and is stopped by its pid.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def export(root: Path, n: int, base: str) -> list[str]:
    """Write ``n`` live statuses under ``root`` with the sandbox; returns their ids."""
    # Imported here: the crawl child's recorder process runs ``bench.cycle``'s imports
    # again (it is spawned), and needs none of the sandbox.
    from spiders.sandbox import export_static

    urls = export_static(root, n, platform="mastodon", base_url=base)
    return [url.rstrip("/").rsplit("/", 1)[1] for url in urls]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# No open_file_cache: it keeps one descriptor per file, and a 50,000-file run then
# hits the worker's descriptor limit, where nginx answers 404 (seen: 30,000 of them).
_CONF = """\
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    {access_log}
    types {{ }}
    default_type application/json;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ try_files $uri =404; }}
    }}
}}
"""
#: The access log of a site whose request times are measured: ``<unix time> <status> <uri>``.
STAMP_LOG = ("log_format stamp '$msec $status $uri';\n"
             "    access_log {tmp}/access.log stamp buffer=4k flush=1s;")


def start_nginx(tmp: Path, root: Path, port: int, *, stamp_log: bool = False
                ) -> subprocess.Popen[bytes]:
    """nginx serving ``root`` on 127.0.0.1:``port`` as a child (config and logs in
    ``tmp``), once it accepts connections; SystemExit naming the cause otherwise."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        raise SystemExit("nginx is not installed: apt-get update && apt-get install -y nginx")
    access = STAMP_LOG.format(tmp=tmp) if stamp_log else "access_log off;"
    conf = tmp / "nginx.conf"
    conf.write_text(_CONF.format(tmp=tmp, port=port, root=root, access_log=access),
                    encoding="utf-8")
    proc = subprocess.Popen(
        [nginx, "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                if proc.poll() is None:
                    proc.kill()
                raise SystemExit(f"nginx did not start on port {port}: {err}") from None
            time.sleep(0.05)


@dataclass
class StaticSite:
    """``n`` Mastodon statuses exported to a temp dir and served by an nginx child."""

    n: int
    keep: bool = False

    def __enter__(self) -> StaticSite:
        self.tmp = Path(tempfile.mkdtemp(prefix="takedown-bench-nginx-"))
        self.root = self.tmp / "www"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        started = time.perf_counter()
        self.ids = export(self.root, self.n, self.base)
        self.exported_by = "spiders.sandbox.export_static"
        self.export_seconds = time.perf_counter() - started
        # nginx's workers drop to 'nobody' when started as root: let them read.
        for path in (self.tmp, self.root, *self.root.rglob("*")):
            if path.is_dir():
                path.chmod(0o755)
        try:
            self.proc = start_nginx(self.tmp, self.root, self.port)
        except SystemExit:
            self._cleanup()
            raise
        return self

    def status_url(self, sid: str) -> str:
        """A human-facing permalink, as a watchlist ``post`` target names it."""
        return f"{self.base}/@bench/{sid}"

    def probe_url(self, sid: str) -> str:
        return f"{self.base}/api/v1/statuses/{sid}"

    def __exit__(self, *exc: object) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            proc.terminate()  # SIGTERM: nginx's fast shutdown, master and workers
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
