"""Sending one text message: a phone, a text's name and its numbered parameters, through the county's provider.

A sender answers the provider's message id, or raises SmsFailed saying whether trying again may help (a timeout, a
provider's flow limit) or not (an invalid number, a template the provider does not know). Three senders:

- `LogSender`: the development channel, the text goes to the log;
- `TencentSender`: Tencent Cloud SMS through its official SDK (SendSms, API 2021-01-11);
- `HttpGatewaySender`: a county's own gateway in front of its provincial government SMS platform: signed JSON over
  HTTPS, the protocol of docs/sms.md.

`from_settings` builds the one the settings choose.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any, Protocol

import httpx

from ledger.core.settings import Settings

log = logging.getLogger("shanzhi.sms")

SIGNATURE_HEADER = "Shanzhi-Signature"  # "v1=<hex HMAC-SHA256 of '<timestamp>.' + body>"
TIMESTAMP_HEADER = "Shanzhi-Timestamp"  # unix seconds when the request was signed
MESSAGE_HEADER = "Shanzhi-Message"  # the message's own id, the same in the body: the gateway may drop a repeat


class SmsFailed(Exception):
    """Not sent. `code` is short and stable (the provider's error code, or timeout, network, http_503 …);
    `retryable` says whether the same message may go through later."""

    def __init__(self, message: str, *, code: str, retryable: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.retryable = code, retryable

    @property
    def error_class(self) -> str:
        """The family of the error, a bounded label for /metrics (Tencent's codes read `Family.Detail`)."""
        return self.code.split(".", 1)[0][:40]


class Sender(Protocol):
    provider: str  # log, tencent or http: the label of its sends in /metrics

    def send(self, phone: str, text: str, params: Sequence[str], *, reference: str | None = None) -> str:
        """Send text `text` (its name in ledger/sms/texts.py) with `params` to `phone` (11 digits); the
        provider's message id, or SmsFailed. `reference` is the same for every try of one message (a notification
        to one phone), so that a provider can drop a repeat after a timeout."""
        ...


class LogSender:
    """Development: the text goes to the log (in dev mode with its parameters, so a code can be read there)."""

    provider = "log"

    def __init__(self, *, dev_mode: bool) -> None:
        self.dev_mode = dev_mode

    def send(self, phone: str, text: str, params: Sequence[str], *, reference: str | None = None) -> str:
        if not self.dev_mode:
            raise SmsFailed("no SMS provider is configured (SHANZHI_SMS_PROVIDER=log)", code="no_sms", retryable=False)
        log.info("sms", extra={"fields": {"phone": phone, "text": text, "params": list(params)}})
        return f"log-{secrets.token_hex(8)}"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The Shanzhi-Signature header of a gateway request."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def signature_matches(secret: str, timestamp: str, body: bytes, header: str, *, now: float, tolerance: int) -> bool:
    """What a gateway checks (docs/sms.md): the signature is the secret's, and signed within `tolerance` seconds."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    return abs(now - stamp) <= tolerance and hmac.compare_digest(sign(secret, stamp, body), header)


class HttpGatewaySender:
    """POSTs `{"id", "phone", "template", "params", "sign_name"}` to the gateway, signed with the shared secret.
    200 with `{"message_id"}` is sent; an answer `{"error": {"code", "retryable"}}` says why not (without one: 4xx
    but 408 and 429 are final, the rest may be retried); a timeout or a broken connection may be retried."""

    provider = "http"

    def __init__(self, *, url: str, secret: str, templates: dict[str, str], sign_name: str, timeout: float) -> None:
        self.url, self.secret, self.templates, self.sign_name = url, secret, templates, sign_name
        self.client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)

    def send(self, phone: str, text: str, params: Sequence[str], *, reference: str | None = None) -> str:
        message = reference or secrets.token_hex(12)
        body = json.dumps(
            {
                "id": message,
                "phone": phone,
                "template": self.templates.get(text, text),
                "params": list(params),
                "sign_name": self.sign_name,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(self.secret, stamp, body),
            MESSAGE_HEADER: message,
        }
        try:
            answer = self.client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as error:
            raise SmsFailed(f"the gateway did not answer in time ({error})", code="timeout", retryable=True) from None
        except httpx.HTTPError as error:
            raise SmsFailed(f"the gateway could not be reached ({error})", code="network", retryable=True) from None
        found = _json(answer)
        if answer.status_code == 200 and isinstance(found.get("message_id"), str):
            return str(found["message_id"])
        refusal = found.get("error")
        said: dict[str, Any] = refusal if isinstance(refusal, dict) else {}
        code = str(said.get("code") or f"http_{answer.status_code}")[:60]
        retryable = said.get("retryable")
        if not isinstance(retryable, bool):
            retryable = answer.status_code >= 500 or answer.status_code in (200, 408, 429)
        why = str(said.get("message") or "the gateway refused the message")[:200]
        raise SmsFailed(why, code=code, retryable=retryable)


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        found = answer.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


# Tencent's SendStatusSet codes after which the same message would fail again (docs: 短信错误码). Any other code,
# and the SDK's network errors, may go through later.
TENCENT_FINAL = (
    "InvalidParameterValue.IncorrectPhoneNumber",
    "InvalidParameterValue.TemplateParameterFormatError",
    "InvalidParameterValue.TemplateParameterLengthLimit",
    "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter",
    "InvalidParameterValue.SdkAppIdNotExist",
    "InvalidParameterValue.ContentLengthLimit",
    "FailedOperation.TemplateIncorrectOrUnapproved",
    "FailedOperation.SignatureIncorrectOrUnapproved",
    "FailedOperation.PhoneNumberInBlacklist",
    "FailedOperation.PhoneNumberOnBlacklist",
    "FailedOperation.MissingTemplateToModify",
    "UnauthorizedOperation",
    "UnsupportedOperation",
    "AuthFailure",
    "MissingParameter",
)
TENCENT_RETRYABLE = (
    "LimitExceeded",
    "InternalError",
    "RequestLimitExceeded",
    "ClientNetworkError",
    "ServerNetworkError",
)


def tencent_retryable(code: str) -> bool:
    if code.startswith(TENCENT_FINAL):
        return False
    return True


class TencentSender:
    """Tencent Cloud SMS, API 2021-01-11, through `tencentcloud-sdk-python-sms`. Each text needs its approved
    template id (settings `sms_templates`); one without it is not sent (a final failure, said at start-up too)."""

    provider = "tencent"

    def __init__(self, settings: Settings) -> None:
        from tencentcloud.common import credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.sms.v20210111 import sms_client

        http = HttpProfile(reqTimeout=max(1, round(settings.sms_timeout_seconds)))
        http.protocol = http.scheme = settings.sms_tencent_protocol
        if settings.sms_tencent_endpoint:
            http.endpoint = settings.sms_tencent_endpoint
        self.client = sms_client.SmsClient(
            credential.Credential(settings.sms_tencent_secret_id, settings.sms_tencent_secret_key),
            settings.sms_tencent_region,
            ClientProfile(httpProfile=http),
        )
        self.app_id, self.sign_name, self.templates = (
            settings.sms_tencent_app_id,
            settings.sms_sign_name,
            settings.sms_templates,
        )

    def send(self, phone: str, text: str, params: Sequence[str], *, reference: str | None = None) -> str:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
        from tencentcloud.sms.v20210111 import models

        template = self.templates.get(text)
        if not template:
            raise SmsFailed(f"no template id for the text {text!r}", code="no_template", retryable=False)
        request = models.SendSmsRequest()
        request.SmsSdkAppId, request.SignName, request.TemplateId = self.app_id, self.sign_name, template
        request.TemplateParamSet, request.PhoneNumberSet = list(params), [f"+86{phone}"]
        if reference:
            request.SessionContext = reference  # returned in Tencent's delivery reports
        try:
            answer = self.client.SendSms(request)
        except TencentCloudSDKException as error:
            code = str(error.get_code() or "ClientNetworkError")
            timed_out = "timed out" in str(error.get_message()).lower() or "timeout" in str(error.get_message()).lower()
            if timed_out:
                code = "timeout"
            raise SmsFailed(str(error.get_message())[:200], code=code, retryable=tencent_retryable(code)) from None
        statuses = list(answer.SendStatusSet or [])
        if not statuses:
            raise SmsFailed("Tencent answered without a send status", code="bad_answer", retryable=True)
        status = statuses[0]
        if status.Code != "Ok":
            code = str(status.Code)
            raise SmsFailed(str(status.Message)[:200], code=code, retryable=tencent_retryable(code))
        return str(status.SerialNo)


def from_settings(settings: Settings) -> Sender:
    """The sender the settings choose."""
    if settings.sms_provider == "tencent":
        return TencentSender(settings)
    if settings.sms_provider == "http":
        return HttpGatewaySender(
            url=settings.sms_http_url,
            secret=settings.sms_http_secret,
            templates=settings.sms_templates,
            sign_name=settings.sms_sign_name,
            timeout=settings.sms_timeout_seconds,
        )
    return LogSender(dev_mode=settings.dev_mode)
