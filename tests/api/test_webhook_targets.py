"""Where webhooks may go: never to the service's own network (loopback, private, link-local, multicast, reserved,
unspecified) however the address is written, checked when the URL is set and again when each delivery is sent,
and the connection made to the very address checked. The partner learns "could not connect", nothing more.

No test reaches the internet: names are resolved by a stand-in for socket.getaddrinfo."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from ledger.core.base import utcnow
from ledger.core.settings import get_settings
from redemption import webhooks
from tests.api.conftest import World, bearer, client_token, make_settings
from tests.api.test_webhooks import delivery, enqueue, set_webhook

PUBLIC = "93.184.215.14"  # a global unicast address; nothing connects to it here


class Names:
    """A stand-in for DNS: each name answers from a list of addresses, one answer per look-up (the last repeats);
    an address in standard form answers itself, as the real resolver does (the HTTP client connects that way)."""

    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.asked: list[str] = []

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.asked.append(name)
        queue = self.answers.get(name) or ([[name]] if is_address(name) else None)
        if queue is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        number = int(port or 0)
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (a, number, 0, 0) if ":" in a else (a, number),
            )
            for a in addresses
        ]


def is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> Names:
    stand_in = Names()
    monkeypatch.setattr(socket, "getaddrinfo", stand_in)
    return stand_in


def put(client: TestClient, url: str, partner: str = "mart") -> Any:
    return client.put("/api/v1/partners/me/webhook", json={"url": url}, headers=bearer(client_token(client, partner)))


REFUSED_LITERALS = [
    "http://127.0.0.1/h",
    "http://127.0.0.1:8000/h",
    "http://2130706433/h",
    "http://0177.0.0.1/h",
    "http://0x7f.0.0.1/h",
    "http://0x7f000001/h",
    "http://127.1/h",
    "http://0/h",
    "http://0.0.0.0/h",
    "http://[::1]/h",
    "http://[::]/h",
    "http://[::ffff:127.0.0.1]/h",
    "http://[::ffff:7f00:1]/h",
    "http://[0:0:0:0:0:ffff:a00:1]/h",
    "http://10.0.0.5/h",
    "http://172.16.3.4/h",
    "http://192.168.1.1/h",
    "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/h",
    "http://224.0.0.1/h",
    "http://240.0.0.1/h",
    "http://255.255.255.255/h",
    "http://[fe80::1]/h",
    "http://[fc00::1]/h",
    "http://[ff02::1]/h",
    "http://[64:ff9b::7f00:1]/h",
]


@pytest.mark.parametrize("url", REFUSED_LITERALS)
def test_an_address_of_our_own_network_is_refused_however_written(
    client: TestClient, world: World, names: Names, url: str
) -> None:
    names.answers = {}  # no name resolves: a literal is read as an address, never sent to DNS
    response = put(client, url)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "webhook_address_not_allowed"
    assert client.get("/api/v1/partners/me", headers=bearer(client_token(client, "mart"))).json()["webhook_url"] is None


@pytest.mark.parametrize(
    "addresses",
    [["127.0.0.1"], ["10.1.2.3"], ["169.254.169.254"], ["::1"], ["::ffff:192.168.0.1"], [PUBLIC, "192.168.0.9"]],
)
def test_a_name_that_resolves_to_our_own_network_is_refused(
    client: TestClient, world: World, names: Names, addresses: list[str]
) -> None:
    names.answers = {"hooks.partner.example": [addresses]}
    response = put(client, "https://hooks.partner.example/in")
    assert response.status_code == 422 and response.json()["code"] == "webhook_address_not_allowed"


def test_a_public_name_is_accepted_and_an_unknown_one_refused(client: TestClient, world: World, names: Names) -> None:
    names.answers = {"hooks.partner.example": [[PUBLIC]]}
    assert put(client, "https://hooks.partner.example/in").status_code == 200
    unknown = put(client, "https://nowhere.example/in")
    assert unknown.status_code == 422 and unknown.json()["code"] == "invalid_webhook_url"


def test_https_only_in_production(names: Names, tmp_path: Path, database_url: str) -> None:
    names.answers = {"hooks.partner.example": [[PUBLIC]]}
    production = webhooks.Reach.from_settings(make_settings(tmp_path, database_url, env="prod"))
    development = webhooks.Reach.from_settings(make_settings(tmp_path, database_url, env="dev"))
    with pytest.raises(webhooks.InvalidWebhookUrl):
        webhooks.check_url("http://hooks.partner.example/in", production)
    assert webhooks.check_url("https://hooks.partner.example/in", production)
    assert webhooks.check_url("http://hooks.partner.example/in", development)


class Receiver:
    """A partner's endpoint on this machine: answers 204 and remembers each request's Host header."""

    def __init__(self) -> None:
        self.hosts: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.hosts.append(self.headers["Host"])
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    served = Receiver()
    served.thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()
    served.thread.join(timeout=5)


@pytest.fixture
def dev_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The scheduled delivery reads the service's settings (not the test app's): dev mode, so http:// may go."""
    monkeypatch.setenv("SHANZHI_ENV", "dev")
    monkeypatch.delenv("SHANZHI_WEBHOOK_ALLOWED_NETWORKS", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def allow_loopback(dev_service: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """... and 127.0.0.1, where the receiver listens, is allowed."""
    monkeypatch.setenv("SHANZHI_WEBHOOK_ALLOWED_NETWORKS", '["127.0.0.1/32"]')
    get_settings.cache_clear()


def test_a_name_that_turns_private_after_it_was_set_is_not_called(
    client: TestClient, engine: Engine, world: World, names: Names, receiver: Receiver, dev_service: None
) -> None:
    """DNS rebinding: public when the URL is set, the receiver's loopback address when the delivery goes."""
    names.answers = {"rebind.partner.example": [[PUBLIC]]}
    url = f"http://rebind.partner.example:{receiver.port}/in"
    assert put(client, url).status_code == 200
    names.answers = {"rebind.partner.example": [["127.0.0.1"]]}
    delivery_id = enqueue(engine, world, "mart")
    assert webhooks.deliver_due(engine, utcnow()) == 0
    assert receiver.hosts == []  # never connected
    row = delivery(engine, delivery_id)
    assert (row.attempts, row.last_status, row.delivered_at) == (1, None, None)
    assert row.last_error == "the webhook URL's address is not allowed"


def test_the_connection_goes_to_the_address_checked_with_the_name_as_host(
    engine: Engine, world: World, names: Names, receiver: Receiver, allow_loopback: None
) -> None:
    """One look-up per send: a second answer (here 127.0.0.2, where nothing listens and which the allow-list does
    not cover) is never used, and the request still names the partner's host."""
    names.answers = {"hooks.partner.example": [["127.0.0.1"], ["127.0.0.2"]]}
    set_webhook(engine, "clinic", f"http://hooks.partner.example:{receiver.port}/in")
    delivery_id = enqueue(engine, world, "clinic")
    assert webhooks.deliver_step(engine, utcnow()) == 1
    assert receiver.hosts == [f"hooks.partner.example:{receiver.port}"]
    assert names.asked.count("hooks.partner.example") == 1
    assert delivery(engine, delivery_id).last_status == 204


def test_the_partner_sees_a_generic_error_not_the_connection_error(
    client: TestClient, engine: Engine, world: World, allow_loopback: None
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: the connection is refused
    set_webhook(engine, "bank", f"http://127.0.0.1:{port}/in")
    delivery_id = enqueue(engine, world, "bank")
    assert webhooks.deliver_step(engine, utcnow()) == 0
    assert delivery(engine, delivery_id).last_error == "could not connect"
    listed = client.get("/api/v1/partners/me/webhook/deliveries", headers=bearer(client_token(client, "bank")))
    assert [d["last_error"] for d in listed.json()] == ["could not connect"]
    assert "refused" not in listed.text.lower() and "errno" not in listed.text.lower()


def test_a_partner_on_a_private_network_is_let_in_by_the_allow_list(
    names: Names, tmp_path: Path, database_url: str
) -> None:
    reach = webhooks.Reach.from_settings(
        make_settings(tmp_path, database_url, webhook_allowed_networks=["10.20.0.0/16"])
    )
    names.answers = {"bank.intranet": [["10.20.3.4"]], "other.intranet": [["10.21.0.1"]]}
    assert webhooks.check_url("https://bank.intranet/hooks", reach)
    assert webhooks.check_url("https://10.20.9.9/hooks", reach)
    for url in ("https://other.intranet/hooks", "https://127.0.0.1/hooks", "https://[::ffff:10.21.0.1]/hooks"):
        with pytest.raises(webhooks.WebhookAddressRefused):
            webhooks.check_url(url, reach)


def certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for `name` and its key, as PEM files."""
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_over_tls_the_pinned_connection_names_the_host_in_sni_and_checks_its_certificate(
    tmp_path: Path, names: Names, receiver: Receiver
) -> None:
    import ssl

    cert, key = certificate(tmp_path, "hooks.partner.example")
    seen: list[str | None] = []
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)

    def remember(sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        seen.append(name)

    server_side.sni_callback = remember
    receiver.server.socket = server_side.wrap_socket(receiver.server.socket, server_side=True)
    names.answers = {"hooks.partner.example": [["127.0.0.1"]], "other.partner.example": [["127.0.0.1"]]}
    reach = webhooks.Reach(https_only=True, allowed=(ipaddress.ip_network("127.0.0.1/32"),))
    trusted = ssl.create_default_context(cafile=str(cert))
    send = webhooks.pinned_sender(reach, verify=trusted)

    assert send(f"https://hooks.partner.example:{receiver.port}/in", {}, b"{}") == 204
    assert seen == ["hooks.partner.example"]
    assert receiver.hosts == [f"hooks.partner.example:{receiver.port}"]
    with pytest.raises(Exception, match="certificate|hostname"):  # the certificate is checked against the name
        send(f"https://other.partner.example:{receiver.port}/in", {}, b"{}")
    assert receiver.hosts == [f"hooks.partner.example:{receiver.port}"]


def test_an_international_name_is_resolved_and_sent_in_its_idna_form(names: Names) -> None:
    names.answers = {"xn--bcher-kva.example": [[PUBLIC]]}
    target = webhooks.target_of("https://bücher.example:8443/in", webhooks.Reach())
    assert (target.host, target.host_header, target.tls) == (
        "xn--bcher-kva.example",
        "xn--bcher-kva.example:8443",
        True,
    )
    assert target.connect_to == f"https://{PUBLIC}:8443/in"
    assert names.asked == ["xn--bcher-kva.example"]
