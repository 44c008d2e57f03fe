"""Settings from the environment (prefix SHANZHI_) or a .env file, and the production start-up checks.

Production is the default: dev mode (SHANZHI_ENV=dev) is asked for, never fallen into."""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, IPvAnyNetwork, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from zxcvbn import zxcvbn

# Passwords that ship with the code or that everyone tries first. None may be in force outside dev mode.
DEFAULT_PASSWORDS = frozenset(
    {"", "admin", "password", "changeme", "change-me", "secret", "123456", "shanzhi", "shanzhi-demo"}
)
DEMO_PASSWORD = "shanzhi-demo"

_KEY_MATERIAL = re.compile(
    r"-----BEGIN [A-Z ]+-----|^ssh-(rsa|ed25519|dss)\s|^ecdsa-sha2-|^\s*MII[A-Za-z0-9+/]", re.MULTILINE
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHANZHI_", env_file=".env", extra="ignore")

    env: Literal["dev", "prod"] = "prod"
    database_url: str = "sqlite:///var/shanzhi.db"
    base_url: str = "http://127.0.0.1:8000"
    upload_dir: Path = Path("var/uploads")
    # Where `shanzhi backup` and `restore` find pg_dump and pg_restore for a PostgreSQL database; unset, they look
    # in /usr/lib/postgresql/<version>/bin (Debian) and on PATH for one of the server's major version or newer.
    pg_bin_dir: Path | None = None

    # Access tokens: HS256 signed with the key named by jwt_kid; jwt_previous_keys ({kid: secret}) still verify.
    jwt_secret: str = ""
    jwt_kid: str = "k1"
    jwt_previous_keys: dict[str, str] = Field(default_factory=dict)
    jwt_issuer: str = "shanzhi"
    jwt_audience: str = "shanzhi-api"
    # Dev mode without SHANZHI_JWT_SECRET: a random secret made on first use and kept in this file (never a
    # constant in the source), so a restart or another command of the same folder reads the same one.
    dev_secret_path: Path = Path("var/dev-secret")
    access_token_seconds: int = Field(default=900, ge=30, le=900)

    # The chain head is signed with ES256 so that anyone holding the public key can check it.
    head_signing_key_path: Path = Path("var/head-signing-key.pem")

    otp_seconds: int = 300
    # Sign-in codes asked for, per window: per phone (each costs an SMS) and per client address, each on its own.
    # Asking is not failing: neither counts towards slowing down or locking anyone.
    code_requests_per_phone: int = Field(default=5, ge=1)
    code_requests_per_address: int = Field(default=60, ge=1)
    # The window those counts, and the failures of one account from one address, are kept in
    sign_in_window_seconds: int = Field(default=900, ge=60)
    # Wrong codes, passwords or client secrets for one account from one address: this many are free, then each
    # next try waits 1, 2, 4 … seconds (at most sign_in_max_delay_seconds). Another address is not slowed by them.
    sign_in_free_failures: int = Field(default=3, ge=1)
    sign_in_max_delay_seconds: int = Field(default=900, ge=1)
    # Failures of one account from all addresses within account_lock_window_seconds that lock it (even the right
    # code or password) for account_lock_seconds; its holder is told.
    account_lock_failures: int = Field(default=20, ge=5)
    account_lock_window_seconds: int = Field(default=24 * 3600, ge=60)
    account_lock_seconds: int = Field(default=3600, ge=60)
    # argon2 hashes (password and client-secret checks) running at once in a process; 0 = the number of cores
    password_hashes_at_once: int = Field(default=0, ge=0)
    # Reverse proxies (IP addresses or CIDR networks) whose X-Forwarded-For is believed: behind them the client is
    # the rightmost address in it that is not one of them. Empty: the socket peer is the client.
    # From the environment as a JSON list or comma separated: SHANZHI_TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Optional first administrator (shanzhi create-admin reads these when flags are absent).
    admin_password: str = ""

    pending_timeout_seconds: int = 7 * 24 * 3600

    # Partner banks' rating lookups: per client a minute, and per household (per bank) a day.
    credit_lookups_per_minute: int = Field(default=600, ge=1)
    credit_lookups_per_household_day: int = Field(default=20, ge=1)

    # Pages: a browser stays signed in this long (villagers sign in by SMS code, so not every day)
    villager_session_days: int = Field(default=30, ge=1, le=365)
    staff_session_hours: int = Field(default=12, ge=1, le=24 * 7)
    cookie_secure: bool = True  # cookies only over HTTPS (browsers count http://localhost as secure)

    # Request bodies, limited before routing and sign-in (api/limits.py), by the class of route:
    upload_body_bytes: int = Field(default=6 * 1024 * 1024, ge=1024)  # a route taking a photo (5 MB and its form)
    roster_body_bytes: int = Field(default=40 * 1024 * 1024, ge=1024)  # a county's roster (100 000 households)
    api_body_bytes: int = Field(default=64 * 1024, ge=1024)  # any other API route (JSON)
    form_body_bytes: int = Field(default=64 * 1024, ge=1024)  # any other page form

    # Partners' webhooks may go to these networks although they are private (CIDRs, e.g. ["10.20.0.0/16"] for a
    # bank on the county's network); any other private, local or reserved address is refused.
    webhook_allowed_networks: list[IPvAnyNetwork] = Field(default_factory=list)

    # Evidence photos: at most this many pixels (checked before decoding; a decompression bomb is refused).
    evidence_max_pixels: int = Field(default=40_000_000, ge=1_000_000)

    # How long people's data is kept (docs/privacy.md, "Retention"); the scheduled purge deletes what is older.
    # Evidence photos: this many days after every claim and deduction using them is final (never less than the
    # county's appeal days, never while an objection or appeal is open).
    evidence_retention_days: int = Field(default=365, ge=30)
    # One-time codes, browser sessions, failed sign-in and request counts: this many days after they expired,
    # ended or their window passed.
    sign_in_records_retention_days: int = Field(default=30, ge=2)
    # The log of banks' looks at a household's rating: five years (the credit regulation keeps negative records
    # that long; a household sees every look at it within the period), and at least two.
    credit_lookup_retention_days: int = Field(default=5 * 365 + 1, ge=730)

    # The scheduled work (`shanzhi tick`: settle claims past their notice period, expire vouchers, send
    # notifications and webhooks) runs this often in `shanzhi worker`, and in the API process when it runs it
    # there (schedule_in_api); 0 turns the API's loop off (the worker needs a number above 0).
    tick_seconds: int = Field(default=60, ge=0, le=3600)
    # Whether each API process also runs the scheduled work in a thread of its own. Unset: in dev mode only (the
    # demo is one process and must keep settling); in production the scheduler runs as `shanzhi worker`.
    # true or false decides in either mode.
    schedule_in_api: bool | None = None
    # Lets `shanzhi worker --days-ahead` run the schedule as of a later time outside dev mode, for a test of the
    # production profile. Off by default and never to be turned on where real households are served: it settles
    # points before their notice period ends. Every tick run ahead logs a warning naming it.
    test_clock: bool = False

    # /docs, /redoc and /openapi.json: unset, served in dev mode only; true or false decides in either mode.
    api_docs: bool | None = None
    # /metrics outside dev mode: a Prometheus scraper sends this as its bearer token (the county admin and
    # auditors may read it with their access token); empty, no scraper token is accepted. Dev mode: open.
    metrics_token: str = ""
    # `serve --workers N` (N > 1): the directory where each API worker process keeps its counts, so that /metrics
    # adds up all of them (prometheus_client's multiprocess mode). Emptied when `serve` starts. Unset: a temporary
    # directory of its own, removed when it stops.
    metrics_dir: Path | None = None
    # `shanzhi worker` (the scheduler's own process) serves its metrics (tick steps, failures, notifications sent)
    # at http://worker_metrics_host:worker_metrics_port/metrics for Prometheus to scrape; 0 serves none. No token:
    # keep the host on the loopback address or a private network.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)

    # SMS (docs/sms.md): one-time codes and notifications. log: written to the log (dev); outside dev mode it
    # means no SMS at all (the service starts, says so loudly, and refuses to promise codes). tencent: Tencent
    # Cloud SMS. http: the county's gateway to its provincial government SMS platform (signed JSON over HTTPS).
    sms_provider: Literal["log", "tencent", "http"] = "log"
    # The provider's template id for each text (ledger/sms/texts.py names them: "otp", "claim_approved" …), JSON:
    # SHANZHI_SMS_TEMPLATES='{"otp": "1234567", …}'. The http gateway uses a text's own name where none is set;
    # Tencent needs an approved template for each text it is to send (the code's at least).
    sms_templates: dict[str, str] = Field(default_factory=dict)
    sms_sign_name: str = Field(default="", max_length=12)  # 短信签名, e.g. 善治积分: shown as 【…】 before each text
    sms_timeout_seconds: float = Field(default=10.0, gt=0, le=60)  # one request to the provider, at most
    # Caps, counted in the database (all processes share them) over a day that starts with the first message:
    # texts to one phone (codes and notifications alike), and texts of one county. A capped code is refused; a
    # capped notification waits until the day is over, then goes.
    sms_per_phone_day: int = Field(default=10, ge=1)
    sms_per_county_day: int = Field(default=20_000, ge=1)
    # Tencent Cloud SMS (API 2021-01-11): the CAM key, the region, the SMS application (SdkAppId), and an
    # endpoint override host[:port] with its protocol (tests point it at a fake on 127.0.0.1; empty: Tencent's)
    sms_tencent_secret_id: str = ""
    sms_tencent_secret_key: str = ""
    sms_tencent_region: str = "ap-guangzhou"
    sms_tencent_app_id: str = ""
    sms_tencent_endpoint: str = ""
    sms_tencent_protocol: Literal["https", "http"] = "https"
    # The http gateway: the URL requests are POSTed to (https, or http to this machine only) and the secret that
    # signs them (HMAC-SHA256; at least 128 bits of guessing, like every signing secret)
    sms_http_url: str = ""
    sms_http_secret: str = ""

    @property
    def serves_api_docs(self) -> bool:
        return self.dev_mode if self.api_docs is None else self.api_docs

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value) if value.strip().startswith("[") else [v for v in value.split(",") if v.strip()]
        return [str(ipaddress.ip_network(str(v).strip(), strict=False)) for v in value]

    def hashes_at_once(self) -> int:
        return self.password_hashes_at_once or os.cpu_count() or 1

    @property
    def dev_mode(self) -> bool:
        return self.env == "dev"

    @property
    def api_runs_schedule(self) -> bool:
        """Whether an API process runs the scheduled work itself (see schedule_in_api)."""
        runs = self.dev_mode if self.schedule_in_api is None else self.schedule_in_api
        return runs and self.tick_seconds > 0

    def key_ring(self) -> dict[str, str]:
        """Every signing secret by key id: the current one and the previous ones still accepted."""
        return {**self.jwt_previous_keys, self.jwt_kid: self.effective_jwt_secret()}

    def effective_jwt_secret(self) -> str:
        """In dev mode a missing secret is a random one of this machine (see dev_secret); outside dev it stays
        missing, and the service refuses to start (check_for_production)."""
        if self.jwt_secret or not self.dev_mode:
            return self.jwt_secret
        return dev_secret(self.dev_secret_path)


@lru_cache
def dev_secret(path: Path) -> str:
    """The random secret kept in this file, made on first use (mode 0600, linked into place so that two processes
    starting at once agree on one)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, draft = tempfile.mkstemp(dir=path.parent, prefix=".dev-secret-")
        try:
            with os.fdopen(handle, "w") as out:
                out.write(secrets.token_urlsafe(32) + "\n")
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first: read theirs
        finally:
            os.unlink(draft)
    return path.read_text().strip()


class InsecureSettings(Exception):
    """The service refuses to start: the message says which setting is unsafe."""


MIN_SECRET_BITS = 128  # what guessing a signing secret must cost at least: 2**128 guesses
_ESTIMATED_CHARS = 128  # the estimate reads this much of a secret (its cost grows quickly with the length)
MAKE_A_SECRET = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def guessing_bits(secret: str) -> float:
    """log2 of the guesses an attacker needs, as zxcvbn estimates them: repeats, sequences, keyboard rows, dates
    and dictionary words cost little; only what is left counts as random. A random 32-byte key in hex or base64
    comes out above 135 bits; 40 × 'a' at 9, a few common words with a date or a name under 128."""
    return float(
        zxcvbn(secret[:_ESTIMATED_CHARS], user_inputs=["shanzhi"], max_length=_ESTIMATED_CHARS)["guesses_log10"]
    ) * math.log2(10)


def secret_problem(secret: str) -> str | None:
    """Why this secret cannot sign tokens, or None when it can."""
    if not secret:
        return f"SHANZHI_JWT_SECRET is missing (make one with: {MAKE_A_SECRET})"
    if len(secret.encode()) < 32:
        return "SHANZHI_JWT_SECRET is shorter than 32 bytes"
    if _KEY_MATERIAL.search(secret) or secret.startswith("\x30\x82"):
        return "SHANZHI_JWT_SECRET looks like PEM/DER/SSH key material; use a random HMAC secret"
    if secret.lower() in DEFAULT_PASSWORDS:
        return "SHANZHI_JWT_SECRET is a default value"
    bits = guessing_bits(secret)
    if bits < MIN_SECRET_BITS:
        return (
            f"SHANZHI_JWT_SECRET is too easy to guess (about {bits:.0f} bits, at least {MIN_SECRET_BITS} "
            f"needed: repeats, patterns and words count for little; make one with: {MAKE_A_SECRET})"
        )
    return None


def check_for_production(settings: Settings) -> None:
    """Raise InsecureSettings when the service must not start. Dev mode accepts anything."""
    if settings.dev_mode:
        return
    problems = []
    for kid, secret in {settings.jwt_kid: settings.jwt_secret, **settings.jwt_previous_keys}.items():
        problem = secret_problem(secret)
        if problem:
            problems.append(
                problem
                if kid == settings.jwt_kid
                else problem.replace("SHANZHI_JWT_SECRET", f"SHANZHI_JWT_PREVIOUS_KEYS key {kid!r}")
            )
    if settings.admin_password and settings.admin_password.lower() in DEFAULT_PASSWORDS:
        problems.append("SHANZHI_ADMIN_PASSWORD is a default password")
    # The scraper's bearer token opens /metrics: a guessable one is a guessable key (empty means no scraper).
    metrics_problem = secret_problem(settings.metrics_token) if settings.metrics_token else None
    if metrics_problem:
        problems.append(metrics_problem.replace("SHANZHI_JWT_SECRET", "SHANZHI_METRICS_TOKEN"))
    problems.extend(sms_problems(settings))
    if problems:
        raise InsecureSettings("; ".join(problems))


def sms_problems(settings: Settings) -> list[str]:
    """What stops the chosen SMS provider from working safely (the log provider is not a problem here: the service
    starts without SMS and says so, see api/app.py)."""
    problems = []
    if settings.sms_provider == "tencent":
        for name in ("secret_id", "secret_key", "app_id"):
            if not getattr(settings, f"sms_tencent_{name}"):
                problems.append(f"SHANZHI_SMS_TENCENT_{name.upper()} is missing")
        if not settings.sms_sign_name:
            problems.append("SHANZHI_SMS_SIGN_NAME is missing (Tencent sends no text without its signature)")
        if not settings.sms_templates.get("otp"):
            problems.append('SHANZHI_SMS_TEMPLATES has no "otp" template (villagers could not sign in)')
    if settings.sms_provider == "http":
        if not settings.sms_http_url:
            problems.append("SHANZHI_SMS_HTTP_URL is missing")
        elif not _safe_gateway_url(settings.sms_http_url):
            problems.append("SHANZHI_SMS_HTTP_URL must be https:// (plain http only to this machine: codes are in it)")
        problem = secret_problem(settings.sms_http_secret)
        if problem:
            problems.append(problem.replace("SHANZHI_JWT_SECRET", "SHANZHI_SMS_HTTP_SECRET"))
    return problems


def _safe_gateway_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


@lru_cache
def get_settings() -> Settings:
    return Settings()
