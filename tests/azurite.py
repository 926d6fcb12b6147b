"""Pytest plugin: real Blob and Queue Storage endpoints (Azurite) on 127.0.0.1 for the whole session.

Registered by ``pytest_plugins = ["azurite"]``. Azurite is a test dependency
installed by ``make install`` (npm); when it is missing the tests fail rather
than skip, so CI can never silently stop testing the blob store or the queues.
Each service runs as its own Azurite process (``azurite-blob``, ``azurite-queue``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from keyvault_standin import LocalCA

#: Azurite's fixed development account (public, documented by Microsoft; not a secret)
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
START_TIMEOUT_S = 30.0

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("blob", "queue")


def azurite_bin(service: str) -> Path:
    name = f"azurite-{service}"
    return REPO_ROOT / "node_modules" / ".bin" / (f"{name}.cmd" if os.name == "nt" else name)


AZURITE_BIN = azurite_bin("blob")


@dataclass(frozen=True)
class Azurite:
    """A running Azurite endpoint of one service (``blob`` or ``queue``)."""

    host: str
    port: int
    scheme: str = "http"
    service: str = "blob"

    @property
    def account_name(self) -> str:
        return ACCOUNT_NAME

    @property
    def account_key(self) -> str:
        return ACCOUNT_KEY

    @property
    def endpoint(self) -> str:
        """The account URL, path-style as emulators use it: ``http://127.0.0.1:PORT/devstoreaccount1``."""
        return f"{self.scheme}://{self.host}:{self.port}/{ACCOUNT_NAME}"

    @property
    def blob_endpoint(self) -> str:
        return self.endpoint

    @property
    def queue_endpoint(self) -> str:
        return self.endpoint

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol={self.scheme};AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"{self.service.capitalize()}Endpoint={self.endpoint};"
        )


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it; small race, handled by a retry)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop Azurite and anything it spawned: the whole process group on POSIX."""

    def signal_group(signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)

    if os.name != "posix":
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        process.kill()
        process.wait(timeout=5)
        return
    signal_group(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    signal_group(signal.SIGKILL)  # stragglers, or a leader that ignored SIGTERM
    process.wait(timeout=5)


def _start(
    workdir: Path, host: str, port: int, extra: Sequence[str] = (), service: str = "blob"
) -> subprocess.Popen[bytes] | str:
    """The running process, or the reason it did not come up (its stderr)."""
    log_path = workdir / f"azurite-{port}.log"
    command = [
        str(azurite_bin(service)),
        f"--{service}Host",
        host,
        f"--{service}Port",
        str(port),
        "--inMemoryPersistence",
        "--silent",
        "--skipApiVersionCheck",
        "--loose",
        "--disableTelemetry",
        *extra,
    ]
    # --location cannot be combined with --inMemoryPersistence; cwd keeps any stray files in workdir.
    # Output goes to a file, not a pipe: a full pipe would block Azurite, and tests stay quiet
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=os.name == "posix",
            creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _accepts_connections(host, port):
            return process
        time.sleep(0.1)
    timed_out = process.poll() is None
    _stop(process)
    output = log_path.read_text(errors="replace").strip() or "(no output)"
    if timed_out:
        return f"Azurite did not accept connections on {host}:{port} within {START_TIMEOUT_S:.0f} s:\n{output}"
    return f"Azurite exited with code {process.returncode}:\n{output}"


class AzuriteError(Exception):
    """Azurite did not start; the message says why."""


@contextlib.contextmanager
def running_azurite(
    workdir: Path, scheme: str = "http", extra: Sequence[str] = (), service: str = "blob"
) -> Iterator[Azurite]:
    """Azurite's ``service`` on a free port of 127.0.0.1, in memory, for the ``with`` block
    (the fixtures' engine; scripts such as the benchmarks use it directly)."""
    binary = azurite_bin(service)
    if not binary.exists():
        raise AzuriteError(
            f"Azurite is not installed ({binary.relative_to(REPO_ROOT)} is missing); "
            "run `make install` (it runs `npm ci`) and try again"
        )
    host = "127.0.0.1"
    failure = ""
    for _attempt in range(3):  # another process may grab the free port before Azurite binds it
        port = free_port(host)
        started = _start(workdir, host, port, extra, service)
        if not isinstance(started, str):
            break
        failure = started
        if "EADDRINUSE" not in failure:
            raise AzuriteError(failure)
    else:
        raise AzuriteError(failure)
    try:
        yield Azurite(host, port, scheme, service)
    finally:
        _stop(started)


def oauth_options(workdir: Path, local_ca: LocalCA) -> list[str]:
    """Azurite over HTTPS (a certificate of ``local_ca``) accepting Entra ID bearer tokens (``--oauth basic``)."""
    certificate = local_ca.ca.issue_cert("127.0.0.1")
    certificate.private_key_pem.write_to_path(str(workdir / "key.pem"))
    certificate.cert_chain_pems[0].write_to_path(str(workdir / "cert.pem"))
    return ["--oauth", "basic", "--cert", str(workdir / "cert.pem"), "--key", str(workdir / "key.pem")]


def _run(
    tmp_path_factory: pytest.TempPathFactory, scheme: str, extra: Sequence[str] = (), service: str = "blob"
) -> Iterator[Azurite]:
    try:
        with running_azurite(tmp_path_factory.mktemp("azurite"), scheme, extra, service) as azurite:
            yield azurite
    except AzuriteError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite Blob on a free port of 127.0.0.1, in memory; stopped at the end of the session."""
    yield from _run(tmp_path_factory, "http")


@pytest.fixture(scope="session")
def azurite_oauth(tmp_path_factory: pytest.TempPathFactory, local_ca: LocalCA) -> Iterator[Azurite]:
    """Azurite over HTTPS that accepts Entra ID bearer tokens (``--oauth basic``), as Azure Storage
    does for a managed identity: the stand-in's tokens (keyvault_standin) sign in to it."""
    yield from _run(tmp_path_factory, "https", oauth_options(tmp_path_factory.mktemp("azurite-tls"), local_ca))


@pytest.fixture(scope="session")
def azurite_queue_oauth(tmp_path_factory: pytest.TempPathFactory, local_ca: LocalCA) -> Iterator[Azurite]:
    """Azurite's Queue service, over HTTPS with Entra ID bearer tokens like ``azurite_oauth``."""
    extra = oauth_options(tmp_path_factory.mktemp("azurite-tls"), local_ca)
    yield from _run(tmp_path_factory, "https", extra, service="queue")


@pytest.fixture
def blob_container() -> str:
    """A container name no other test uses (the container itself is not created)."""
    return f"test-{uuid.uuid4().hex[:16]}"


__all__ = [
    "ACCOUNT_KEY",
    "ACCOUNT_NAME",
    "Azurite",
    "azurite",
    "azurite_oauth",
    "azurite_queue_oauth",
    "blob_container",
    "free_port",
]
