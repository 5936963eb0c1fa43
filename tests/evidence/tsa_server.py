"""A local RFC 3161 timestamp authority for the tests: a CA and a TSA certificate
made with ``openssl``, and a tiny HTTP server on 127.0.0.1 answering each query by
running ``openssl ts -reply``. ``up`` switches it off (HTTP 503) and on again."""

from __future__ import annotations

import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_CONFIG = """\
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""

_TSA_EXT = """\
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_authority(folder: Path, name: str = "Test TSA", *, ec: bool = False) -> Path:
    """A CA (``ca.pem``) and a TSA certificate signed by it, in ``folder``; RSA keys,
    or ECDSA P-256 ones with ``ec``."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"] if ec else \
        ["-newkey", "rsa:2048"]
    _run("req", "-x509", *key, "-nodes", "-keyout", "ca.key", "-out",
         "ca.pem", "-days", "30", "-subj", f"/CN={name} Root CA", cwd=folder)
    _run("req", *key, "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
         "-subj", f"/CN={name}", cwd=folder)
    (folder / "tsa.ext").write_text(_TSA_EXT)
    _run("x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "tsa.pem", "-days", "30", "-extfile", "tsa.ext", cwd=folder)
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(_CONFIG.format(dir=folder))
    return folder


class LocalAuthority:
    """The authority's HTTP front on 127.0.0.1; ``url``, ``ca_file``, ``up``,
    ``queries`` (how many it was asked)."""

    def __init__(self, folder: Path, *, ec: bool = False) -> None:
        self.folder = make_authority(folder, ec=ec)
        self.ca_file = folder / "ca.pem"
        self.up = True
        self.queries = 0
        self.user_agents: list[str] = []
        self._lock = threading.Lock()
        authority = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                authority.queries += 1
                authority.user_agents.append(self.headers.get("User-Agent", ""))
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if not authority.up or self.headers.get("Content-Type") != \
                        "application/timestamp-query":
                    self.send_response(503 if not authority.up else 415)
                    self.end_headers()
                    return
                reply = authority.reply(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tsr"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def reply(self, query: bytes) -> bytes:
        with self._lock, tempfile.TemporaryDirectory() as tmp:
            q, r = Path(tmp) / "q.tsq", Path(tmp) / "r.tsr"
            q.write_bytes(query)
            _run("ts", "-reply", "-config", str(self.folder / "tsa.cnf"), "-queryfile",
                 str(q), "-out", str(r), cwd=self.folder)
            return r.read_bytes()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
