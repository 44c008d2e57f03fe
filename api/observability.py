"""JSON-lines logs carrying a request id, and Prometheus metrics: requests and latencies by route, postings
written, errors by code, and the figures the domain counts (claim review times, scheduled steps' durations and
failures, sign-in refusals), with those read from the database at each scrape (api/gauges.py).

Several API worker processes (`shanzhi serve --workers N`): each counts in its own memory, so `serve` gives them
one directory (PROMETHEUS_MULTIPROC_DIR, prometheus_client's multiprocess mode) where each process keeps its
counts in a file of its own, and /metrics, whichever worker answers it, adds up the files of all of them. The
scheduler's own process (`shanzhi worker`) shows its figures on a port of its own (`serve_metrics`)."""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.gauges import Backlog
from ledger import jobs
from ledger.claims import review
from ledger.core import failures
from ledger.identity import throttle
from ledger.sms import delivery as sms_delivery

_request_id: ContextVar[str] = ContextVar("request_id", default="-")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "shanzhi_http_requests",
    "HTTP requests by route template, method and status",
    ["route", "method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "shanzhi_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["route", "method"],
    registry=REGISTRY,
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
POSTINGS = Counter("shanzhi_postings", "Journal postings committed", registry=REGISTRY)
ERRORS = Counter("shanzhi_errors", "Error responses by stable code", ["code"], registry=REGISTRY)
REGISTRY.register(failures.FAILURES)  # scheduled items (or whole steps) that failed, by step
REGISTRY.register(jobs.STEP_SECONDS)  # how long each scheduled step took
REGISTRY.register(review.REVIEW_SECONDS)  # submission to decision, for each claim decided
REGISTRY.register(throttle.REFUSALS)  # sign-ins refused, by cause
for _sms in (sms_delivery.SENT, sms_delivery.FAILED, sms_delivery.CAPPED):  # text messages (ledger/sms)
    REGISTRY.register(_sms)
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when it is first imported

access_log = logging.getLogger("shanzhi.access")


def client_address(scope: Scope) -> str:
    """The one answer to "who is asking" for the whole app: sign-in limits and the access log. It is the socket
    peer; behind a trusted proxy (SHANZHI_TRUSTED_PROXIES) the app's outermost middleware (uvicorn's
    ProxyHeadersMiddleware, api/app.py) has already replaced it with the rightmost address of X-Forwarded-For that
    is not a trusted proxy, so a client cannot choose its own address by sending the header."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def request_id() -> str:
    return _request_id.get()


def count_error(code: str) -> None:
    ERRORS.labels(code=code).inc()


def metrics_text(engine: Engine | None = None) -> bytes:
    """The metrics of every process sharing the multiprocess directory (or of this one, without one), then the
    figures read from `engine`'s database now."""
    if os.environ.get(MULTIPROCESS_DIR):
        shared = CollectorRegistry()
        multiprocess.MultiProcessCollector(shared)  # type: ignore[no-untyped-call]
        text = generate_latest(shared)
    else:
        text = generate_latest(REGISTRY)
    if engine is not None:
        scrape = CollectorRegistry()
        scrape.register(Backlog(engine))
        text += generate_latest(scrape)
    return text


def serve_metrics(host: str, port: int) -> None:
    """Serve this process's metrics over plain HTTP at http://host:port/metrics, in a thread of its own: the
    scheduler's process (`shanzhi worker`), which answers no other request. Bind it to the loopback address or a
    private network, where only the Prometheus server reaches it: it asks for no token."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host, registry=REGISTRY)


@event.listens_for(Session, "after_commit")
def _count_postings(session: Session) -> None:
    written = session.info.pop("postings_written", 0)
    if written:
        POSTINGS.inc(written)


@event.listens_for(Session, "after_rollback")
def _forget_postings(session: Session) -> None:
    session.info.pop("postings_written", None)


_base_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Stamp each record with the request id when it is made, so any handler, even a queued one, has it."""
    record = _base_factory(*args, **kwargs)
    record.request_id = _request_id.get()
    return record


logging.setLogRecordFactory(_record_with_request_id)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    formatter = JsonFormatter()
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = name != "uvicorn.access"  # our access log replaces uvicorn's


class RequestContext:
    """Pure ASGI middleware: assigns the request id, times the request, logs one line and counts it. The line
    names the route template (`/c/{token}`), not the path, nor its query: a path may hold a voucher code, a
    consent id or a QR token, and logs are read by more people than the ledger is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = _request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            REQUESTS.labels(route=template, method=method, status=str(status)).inc()
            LATENCY.labels(route=template, method=method).observe(elapsed)
            access_log.info(  # the route's template, never the path: paths carry codes, tokens and consent ids
                "request",
                extra={
                    "fields": {
                        "method": method,
                        "route": template,
                        "client": client_address(scope),
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                    }
                },
            )
            _request_id.reset(token)
