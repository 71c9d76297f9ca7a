"""A real Mosquitto for the floor's tests (and bench/floor.py): a free loopback port, a generated
configuration, optionally TLS with a CA made here, password users and the shipped ACL
(packaging/mosquitto/acl). Stations run as real `chairside headless` processes from their config."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
ACL = ROOT / "packaging" / "mosquitto" / "acl"


def mosquitto_missing() -> str | None:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        return "mosquitto is not installed: apt-get install -y mosquitto (packaging/system-packages.txt)"
    return None


def mosquitto_binary() -> str:
    return shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def make_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, broker.pem, broker.key): a CA made for this test and a certificate for 127.0.0.1/localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Chairside test floor CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "broker.pem", folder / "broker.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    os.chmod(key_path, 0o600)
    return ca_path, cert_path, key_path


@dataclass
class Broker:
    """One mosquitto process; `restart` keeps its port (and its users, ACL and certificates)."""

    folder: Path
    tls: bool = False
    users: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    ca: Path | None = None
    extra: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def _config(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        lines = ["per_listener_settings false", f"listener {self.port} 127.0.0.1"]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to `mosquitto`, which cannot read the test's files
        if self.users:
            passwords = self.folder / "passwords"
            passwords.write_text("")
            for user, password in self.users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(passwords), user, password],
                    check=True,
                    capture_output=True,
                )
            os.chmod(passwords, 0o600)
            lines += ["allow_anonymous false", f"password_file {passwords}", f"acl_file {ACL}"]
        else:
            lines.append("allow_anonymous true")
        if self.tls:
            if self.ca is None:
                self.ca, _cert, _key = make_ca_and_server_cert(self.folder)
            lines += [
                f"cafile {self.ca}",
                f"certfile {self.folder / 'broker.pem'}",
                f"keyfile {self.folder / 'broker.key'}",
            ]
        config = self.folder / "mosquitto.conf"
        config.write_text("\n".join([*lines, *self.extra]) + "\n")
        return config

    def start(self, timeout_s: float = 10.0) -> Broker:
        config = self._config()
        with (self.folder / "mosquitto.log").open("ab") as log:
            self.process = subprocess.Popen([mosquitto_binary(), "-c", str(config)], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout_s
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {(self.folder / 'mosquitto.log').read_text()}")
            if time.monotonic() > deadline:
                raise TimeoutError("mosquitto did not listen")
            threading.Event().wait(0.05)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def running_broker(folder: Path, **kwargs: Any) -> Iterator[Broker]:
    broker = Broker(folder, **kwargs).start()
    try:
        yield broker
    finally:
        broker.stop()


class Listener:
    """A plain MQTT subscriber (the tests' eyes): every message, in arrival order."""

    def __init__(
        self,
        broker: Broker,
        topic: str = "chairside/v1/#",
        *,
        user: str | None = None,
        password: str | None = None,
        client_id: str | None = None,
        clean_session: bool = True,
    ) -> None:
        self.messages: list[tuple[str, dict[str, Any], bool]] = []
        self._lock = threading.Lock()
        self.client = client_for(
            broker,
            client_id or f"test-listener-{time.monotonic_ns()}",
            user,
            password,
            clean_session=clean_session,
        )
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.connect(broker_host(), broker.port, keepalive=5)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, json.loads(message.payload), bool(message.retain)))

    def snapshot(self) -> list[tuple[str, dict[str, Any], bool]]:
        with self._lock:
            return list(self.messages)

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [payload for t, payload, _r in self.snapshot() if t == topic]

    def wait_for(self, what: Callable[[], bool], timeout_s: float = 30.0, say: str = "") -> None:
        deadline = time.monotonic() + timeout_s
        event = threading.Event()
        while not what():
            assert time.monotonic() < deadline, f"timed out waiting for {say or what}"
            event.wait(0.05)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def broker_host() -> str:
    return "127.0.0.1"


def client_for(
    broker: Broker,
    client_id: str,
    user: str | None = None,
    password: str | None = None,
    *,
    clean_session: bool = True,
) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311, clean_session=clean_session
    )
    if user is not None:
        client.username_pw_set(user, password)
    if broker.tls:
        import ssl

        client.tls_set_context(ssl.create_default_context(cafile=str(broker.ca)))
    return client


# -- stations ---------------------------------------------------------------------------------------


def write_station_config(
    path: Path,
    name: str,
    chairs: list[dict[str, Any]],
    broker: dict[str, Any] | None = None,
    floor: dict[str, Any] | None = None,
) -> Path:
    import tomli_w

    data: dict[str, Any] = {"station": {"name": name}, "chairs": chairs}
    if broker:
        data["broker"] = broker
    if floor:
        data["floor"] = floor
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


HEADLESS = (
    "import sys\n"
    "for name in ('PySide6', 'pyqtgraph', 'shiboken6'):\n"
    "    sys.modules[name] = None  # the station core runs without Qt\n"
    "from app.station.headless import main\n"
    "raise SystemExit(main())\n"
)


@dataclass
class StationProcess:
    """`chairside headless --config ... --db ...` in its own process."""

    config: Path
    db: Path
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None

    def start(self) -> StationProcess:
        env = {**os.environ, "CHAIRSIDE_LOG": "INFO"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                HEADLESS,
                "--config",
                str(self.config),
                "--db",
                str(self.db),
                *self.args,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return self

    def stop(self) -> tuple[int, str]:
        """A clean quit (SIGTERM); (exit code, stderr)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        _out, err = self.process.communicate(timeout=30)
        return self.process.returncode, err

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.communicate(timeout=30)

    def close(self) -> None:
        """However the test ended: the process gone and its pipes closed (idempotent)."""
        if self.process is not None and self.process.returncode is None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGKILL)
            self.process.communicate(timeout=30)

    def wait(self, timeout_s: float = 30.0) -> tuple[int, str]:
        assert self.process is not None
        _out, err = self.process.communicate(timeout=timeout_s)
        return self.process.returncode, err
