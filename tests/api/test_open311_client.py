"""Open311 as an existing GeoReport v2 client meets it: `georeport` (PyPI), a third-party wrapper of the standard,
against the app served by uvicorn on a port of this machine.

The library reads services, service definitions and requests; it sends no api_key on a GET and cannot send a
request at all (its README: "does not currently support the creation of new 311 service requests"). So: its GETs
without a key are refused (403, in the standard's shape); with the key as HTTP Basic credentials from a netrc file,
which `requests` (the library's HTTP client) reads by itself, it reads them; and the POST goes as a GeoReport
client sends it, form-encoded with `requests`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import uvicorn
from fastapi.testclient import TestClient
from georeport import GeoReport
from sqlalchemy import Engine

from api.app import create_app
from ledger.core.settings import Settings
from tests.api.conftest import World, make_settings
from tests.api.open311_world import Setup, make_client, make_setup
from tests.demo_server import free_port


@pytest.fixture
def setup(engine: Engine, world: World) -> Setup:
    return make_setup(engine, world)


@pytest.fixture
def served(tmp_path: Path, database_url: str, engine: Engine, setup: Setup) -> Iterator[str]:
    """The app served by uvicorn in a thread of this process, on a free port of 127.0.0.1: its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings: Settings = make_settings(tmp_path, database_url, base_url=base)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield base
    server.should_exit = True
    thread.join(timeout=10)


def answer_of(error: pytest.ExceptionInfo[requests.HTTPError]) -> requests.Response:
    response = error.value.response
    assert response is not None
    return response


def test_a_georeport_client_lists_services_reads_a_definition_and_its_requests(
    served: str, client: TestClient, setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = f"{served}/open311/v2"
    discovery = requests.get(f"{endpoint}/discovery.json", timeout=10).json()
    assert discovery["endpoints"][0]["url"] == endpoint  # where a client finds the endpoint it then talks to
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))  # no credentials yet
    library = GeoReport(endpoint, jurisdiction=setup.county_code)

    services = library.get_service_list()
    assert {s["service_code"] for s in services} == {"road_hazard", "environment"}
    assert all(s["type"] == "realtime" and s["metadata"] is True for s in services)
    definition = library.get_service_definition("road_hazard")
    assert {a["code"] for a in definition["attributes"]} == {"anonymous", "kind"}
    with pytest.raises(requests.HTTPError) as unknown:
        library.get_service_definition("nothing")
    assert answer_of(unknown).status_code == 404
    assert answer_of(unknown).json()[0]["code"] == 404

    with pytest.raises(requests.HTTPError) as refused:  # requests are not for anyone: deny by default
        library.get_service_requests()
    assert answer_of(refused).status_code == 403
    assert set(answer_of(refused).json()[0]) == {"code", "description"}

    key = make_client(client)["api_key"]
    sent = requests.post(  # as a GeoReport v2 client sends a request: form-encoded, the key among the fields
        f"{endpoint}/requests.json",
        data={
            "api_key": key,
            "jurisdiction_id": setup.county_code,
            "service_code": "road_hazard",
            "lat": "30.001",
            "long": "120.001",
            "description": "村口的桥栏杆断了",
            "first_name": "小红",
            "phone": "13900000007",
            "attribute[anonymous]": "true",
        },
        timeout=10,
    )
    assert sent.status_code == 201, sent.text
    request_id = sent.json()[0]["service_request_id"]

    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login open311 password {key}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))  # requests sends these as HTTP Basic credentials
    listed = library.get_service_requests(status="open", service_code="road_hazard")
    assert [r["service_request_id"] for r in listed] == [request_id]
    one = library.get_service_request(request_id)
    assert one["status"] == "open" and one["status_notes"] == "submitted" and one["service_code"] == "road_hazard"
    assert one["description"] == "村口的桥栏杆断了" and one["expected_datetime"]
    assert library.get_service_requests(status="closed") == []
    assert library.get_service_requests(service_request_id=request_id)[0]["service_request_id"] == request_id
    for personal in ("小红", "13900000007"):
        assert personal not in str(listed) and personal not in str(one)
    with pytest.raises(requests.HTTPError) as missing:
        library.get_service_request("999999")
    assert answer_of(missing).status_code == 404
