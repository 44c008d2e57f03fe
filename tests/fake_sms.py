"""A fake SMS provider on 127.0.0.1 that speaks both protocols Shanzhi sends with, for tests (no test reaches the
internet):

- Tencent Cloud SMS SendSms (API 2021-01-11), as the official SDK calls it: POST / with X-TC-Action, a TC3-HMAC-SHA256
  Authorization the fake checks against the test's key, and an answer shaped like Tencent's (SendStatusSet, or
  Response.Error);
- the county gateway of docs/sms.md: POST /sms, signed with HMAC-SHA256 over "<timestamp>." + body.

What was sent is kept (`sent`, `last_code(phone)`); `fail_next` and `delay_next` make the next sends fail with a
provider's error code or answer too late.

    with FakeSms() as fake:
        settings = Settings(env="dev", **fake.http_settings())      # or fake.tencent_settings()
        ...
        code = fake.last_code("13900000001")

A test that starts Shanzhi in other processes passes `fake.env(provider)` as their environment.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ledger.sms import senders

TENCENT_SECRET_ID = "AKIDfakeFAKEfake0000000000000000"
TENCENT_SECRET_KEY = "fake-tencent-key-0000000000000000"
TENCENT_APP_ID = "1400000000"
SIGN_NAME = "善治积分"
CODE_TEMPLATE = "1000001"  # the Tencent template id of the one-time code in tencent_settings()


@dataclass(frozen=True)
class Sent:
    provider: str  # tencent or http
    phone: str  # 11 digits
    template: str  # the template id the provider was asked for
    params: list[str]
    sign_name: str
    message_id: str
    reference: str = ""  # the sender's own id of the message: the gateway's "id", Tencent's SessionContext


@dataclass
class _Failure:
    code: str
    status: int = 200
    retryable: bool | None = None
    delay: float = 0.0


@dataclass
class FakeSms:
    gateway_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    tolerance_seconds: int = 300  # the gateway refuses a request signed longer ago than this
    sent: list[Sent] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)  # requests answered with an error, and why
    references: list[str] = field(default_factory=list)  # the sender's id of every request received, in order

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._next: deque[_Failure] = deque()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/sms"):
                    fake._gateway(self, body)
                else:
                    fake._tencent(self, body)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-sms", daemon=True)

    # --- running -------------------------------------------------------------------------------------------------

    def start(self) -> FakeSms:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeSms:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- what a test sets and reads ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sms"

    @property
    def tencent_endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def http_settings(self, **templates: str) -> dict[str, Any]:
        """Settings fields that point the http gateway sender at this fake."""
        return {
            "sms_provider": "http",
            "sms_http_url": self.url,
            "sms_http_secret": self.gateway_secret,
            "sms_sign_name": SIGN_NAME,
            "sms_templates": dict(templates),
        }

    def tencent_settings(self, **templates: str) -> dict[str, Any]:
        """Settings fields that point the Tencent SDK at this fake (plain http to 127.0.0.1, never Tencent)."""
        return {
            "sms_provider": "tencent",
            "sms_tencent_secret_id": TENCENT_SECRET_ID,
            "sms_tencent_secret_key": TENCENT_SECRET_KEY,
            "sms_tencent_app_id": TENCENT_APP_ID,
            "sms_tencent_endpoint": self.tencent_endpoint,
            "sms_tencent_protocol": "http",
            "sms_sign_name": SIGN_NAME,
            "sms_templates": {"otp": CODE_TEMPLATE, **templates},
        }

    def env(self, provider: str = "http") -> dict[str, str]:
        """The same as SHANZHI_ environment variables, for a Shanzhi started as another process."""
        fields = self.http_settings() if provider == "http" else self.tencent_settings()
        return {
            f"SHANZHI_{name.upper()}": json.dumps(value) if isinstance(value, dict) else str(value)
            for name, value in fields.items()
        }

    def messages_to(self, phone: str) -> list[Sent]:
        with self._lock:
            return [m for m in self.sent if m.phone == phone]

    def last_code(self, phone: str) -> str | None:
        """The code of the last sign-in code text sent to `phone` (None: none was sent)."""
        codes = [m.params[0] for m in self.messages_to(phone) if m.template in ("otp", CODE_TEMPLATE)]
        return codes[-1] if codes else None

    def fail_next(self, code: str, *, times: int = 1, status: int = 200, retryable: bool | None = None) -> None:
        """The next `times` sends fail with the provider's error `code` (Tencent: in SendStatusSet, or with
        status != 200 as a Response.Error; gateway: answered with `status`, and `retryable` when given)."""
        with self._lock:
            self._next.extend(_Failure(code, status, retryable) for _ in range(times))

    def delay_next(self, seconds: float, *, times: int = 1) -> None:
        """The next `times` sends answer only after `seconds` (a sender with a shorter timeout gives up)."""
        with self._lock:
            self._next.extend(_Failure("", delay=seconds) for _ in range(times))

    # --- the protocols -------------------------------------------------------------------------------------------

    def _take(self) -> _Failure | None:
        with self._lock:
            return self._next.popleft() if self._next else None

    def _answer(self, handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender gave up waiting

    def _refuse(self, handler: BaseHTTPRequestHandler, status: int, why: dict[str, Any]) -> None:
        with self._lock:
            self.refused.append(why)
        self._answer(handler, status, why)

    def _gateway(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        stamp = handler.headers.get(senders.TIMESTAMP_HEADER, "")
        signature = handler.headers.get(senders.SIGNATURE_HEADER, "")
        if not senders.signature_matches(
            self.gateway_secret, stamp, body, signature, now=time.time(), tolerance=self.tolerance_seconds
        ):
            self._refuse(handler, 401, {"error": {"code": "bad_signature", "retryable": False}})
            return
        request = json.loads(body)
        with self._lock:
            self.references.append(str(request.get("id") or ""))
        failure = self._take()
        if failure is not None and failure.delay:
            time.sleep(failure.delay)
        elif failure is not None:
            error: dict[str, Any] = {"code": failure.code, "message": f"fake refused: {failure.code}"}
            if failure.retryable is not None:
                error["retryable"] = failure.retryable
            self._refuse(handler, failure.status if failure.status != 200 else 400, {"error": error})
            return
        message = f"gw-{secrets.token_hex(6)}"
        with self._lock:
            self.sent.append(
                Sent(
                    "http",
                    request["phone"],
                    request["template"],
                    list(request["params"]),
                    request["sign_name"],
                    message,
                )
            )
        self._answer(handler, 200, {"message_id": message})

    def _tencent(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        request_id = secrets.token_hex(8)
        if handler.headers.get("X-TC-Action") != "SendSms" or handler.headers.get("X-TC-Version") != "2021-01-11":
            self._refuse(handler, 200, _tc_error("InvalidAction", "only SendSms 2021-01-11", request_id))
            return
        if not _tc3_matches(handler, body):
            self._refuse(handler, 200, _tc_error("AuthFailure.SignatureFailure", "signature mismatch", request_id))
            return
        request = json.loads(body)
        with self._lock:
            self.references.append(str(request.get("SessionContext") or ""))
        failure = self._take()
        if failure is not None and failure.delay:
            time.sleep(failure.delay)
        elif failure is not None and failure.status != 200:
            self._refuse(handler, 200, _tc_error(failure.code, f"fake refused: {failure.code}", request_id))
            return
        statuses = []
        for number in request["PhoneNumberSet"]:
            phone = number.removeprefix("+86")
            if failure is not None and not failure.delay:
                with self._lock:
                    self.refused.append({"code": failure.code, "phone": phone})
                statuses.append(_tc_status(number, failure.code, "fake refused", ""))
                continue
            serial = f"tc-{secrets.token_hex(6)}"
            with self._lock:
                self.sent.append(
                    Sent(
                        "tencent",
                        phone,
                        request["TemplateId"],
                        list(request.get("TemplateParamSet") or []),
                        request["SignName"],
                        serial,
                        request.get("SessionContext") or "",
                    )
                )
            statuses.append(_tc_status(number, "Ok", "send success", serial))
        self._answer(handler, 200, {"Response": {"SendStatusSet": statuses, "RequestId": request_id}})


def _tc_status(number: str, code: str, message: str, serial: str) -> dict[str, Any]:
    return {
        "SerialNo": serial,
        "PhoneNumber": number,
        "Fee": 1 if code == "Ok" else 0,
        "SessionContext": "",
        "Code": code,
        "Message": message,
        "IsoCode": "CN",
    }


def _tc_error(code: str, message: str, request_id: str) -> dict[str, Any]:
    return {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}}


def _tc3_matches(handler: BaseHTTPRequestHandler, body: bytes) -> bool:
    """Check the TC3-HMAC-SHA256 signature as Tencent does (Credential with the test's key, headers content-type
    and host, the body's hash)."""
    authorization = handler.headers.get("Authorization", "")
    if not authorization.startswith("TC3-HMAC-SHA256 ") or TENCENT_SECRET_ID not in authorization:
        return False
    stamp = handler.headers.get("X-TC-Timestamp", "0")
    day = datetime.fromtimestamp(int(stamp), UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{handler.headers.get('Content-Type', '')}",
            f"host:{handler.headers.get('Host', '')}",
            "",
            "content-type;host",
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/sms/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"

    def mac(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    key = mac(mac(mac(f"TC3{TENCENT_SECRET_KEY}".encode(), day), "sms"), "tc3_request")
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return authorization.endswith(f"Signature={expected}")
