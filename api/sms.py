"""The SMS channel as the settings choose it (SHANZHI_SMS_PROVIDER, docs/sms.md): the sender of sign-in codes, sent
at once in the request, and the outbox's sink for notifications, sent by the scheduled work."""

from __future__ import annotations

import logging

from ledger.core import outbox
from ledger.core.settings import Settings
from ledger.identity.service import OtpSender
from ledger.sms import delivery, senders, texts
from ledger.sms.senders import Sender

log = logging.getLogger("shanzhi.sms")
auth_log = logging.getLogger("shanzhi.auth")


def sender(settings: Settings) -> Sender:
    return senders.from_settings(settings)


def has_sms(settings: Settings) -> bool:
    """Codes and notifications can reach phones (in dev mode the log stands in for them)."""
    return settings.dev_mode or settings.sms_provider != "log"


def announce(settings: Settings) -> None:
    """At start-up, outside dev mode without a provider: say loudly that villagers cannot sign in."""
    if not has_sms(settings):
        log.error(
            "NO SMS: SHANZHI_SMS_PROVIDER is log outside dev mode. Villagers cannot sign in (every code request "
            "is refused with sms_unavailable) and notifications go to the log only. Set SHANZHI_SMS_PROVIDER to "
            "tencent or http (docs/sms.md)."
        )
    else:
        log.info("SMS provider: %s", settings.sms_provider)
    if settings.sms_provider == "tencent":
        missing = sorted(set(texts.TEXTS) - set(settings.sms_templates))
        if missing:
            log.warning(
                "SHANZHI_SMS_TEMPLATES has no Tencent template for these texts; they are not sent: %s",
                ", ".join(missing),
            )


def otp_sender(settings: Settings, channel: Sender) -> OtpSender:
    """What sends a sign-in code: the provider's text now, or (log provider) the log as before."""
    if settings.sms_provider == "log":
        return log_otp_sender(settings)
    minutes = max(1, settings.otp_seconds // 60)

    def send(phone: str, code: str) -> None:
        delivery.send_code(channel, phone, code, minutes)

    return send


def sink(settings: Settings, channel: Sender | None = None) -> outbox.Sink:
    """The outbox's sink: text messages within the caps, or the log while there is no provider (outside dev mode
    the notifications are then only on the pages: kept back instead, they would flood phones, stale, the day a
    provider is set)."""
    if settings.sms_provider == "log":
        return outbox.log_sink
    return delivery.sink(channel or sender(settings), delivery.Caps.of(settings))


def log_otp_sender(settings: Settings) -> OtpSender:
    """The development delivery channel: the code goes to the log (never outside dev mode, where no code is asked
    for without a provider: api/signin.send_code refuses first)."""

    def send(phone: str, code: str) -> None:
        if settings.dev_mode:
            auth_log.info("one-time code", extra={"fields": {"phone": phone, "dev_code": code}})
        else:
            auth_log.error(
                "no SMS provider is configured; a one-time code could not be delivered",
                extra={"fields": {"phone_tail": phone[-4:]}},
            )

    return send
