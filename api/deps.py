"""Request-scoped dependencies: one unit of work per request, and the access rule every route declares.

Deny by default: a route either names who may call it with `allow(...)` (or `allow_caller(...)`) or says
`public()`. A test walks every route of the app and fails when one declares neither.

Two ways for a route to use the database:

- `allow(...)` with `SessionDep`: the unit of work is a dependency, the caller is loaded by another, and the
  endpoint is a plain function. Simple, and costs four thread-pool hops a request (open, caller, endpoint, commit).
- `allow_caller(...)` with `run`, for the hot routes: the dependency checks only the bearer token, on the event
  loop. The `async def` endpoint then calls `await run(request, caller, work, ...)`, which in one thread hop, in
  its turn at the database, opens the unit of work, loads the caller with one indexed read (every check of
  `principal.load`), admits them with the route's rule, runs `work(session, principal, ...)` and commits. `work`
  returns plain data; the endpoint builds the answer from it after the commit (`json_answer`), so nothing is
  serialised while the database is held.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Concatenate, Literal, ParamSpec, TypeVar

from fastapi import Depends, Header, Query, Request, Response, status
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from api import tokens
from ledger.activities.codes import Keys
from ledger.core.db import unit_of_work, writes_one_at_a_time
from ledger.core.errors import Forbidden, Unauthenticated
from ledger.core.settings import Settings
from ledger.identity import principal as principals
from ledger.identity import throttle
from ledger.identity.principal import PARTNER, PasswordChangeRequired, Principal

# Dependencies that only read app state or check values are `async def`: FastAPI runs them on the event loop
# instead of handing each to the thread pool. Those that touch the database are plain functions.


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """Services flush; the request commits once, before the response is sent (scope="function").

    Requests wait for a connection here, on the event loop, before the unit of work takes a thread: one at a time
    on a SQLite file (one writer), as many as the pool holds on PostgreSQL. A request waiting for its turn holds
    no thread, so one holding a connection always has a thread to finish on (ledger/core/db.py)."""
    async with _turn(request):
        work = unit_of_work(request.app.state.engine)
        session = await run_in_threadpool(work.__enter__)
        try:
            yield session
        except BaseException as error:
            if not await run_in_threadpool(work.__exit__, type(error), error, error.__traceback__):
                raise
        else:
            await run_in_threadpool(work.__exit__, None, None, None)


def _turn(request: Request) -> AbstractAsyncContextManager[Any]:
    """This request's turn at the database: one of the process's connections (a SQLite file has one writer)."""
    gate: asyncio.Semaphore | None = request.app.state.db_turns
    return gate if gate is not None else _no_gate()


@asynccontextmanager
async def _no_gate() -> AsyncIterator[None]:
    yield


async def in_turn(request: Request, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run `work` (which opens a unit of work of its own) in a thread once it is this request's turn at the
    database, as get_session does: a request waiting for its turn holds no thread."""
    async with _turn(request):
        return await run_in_threadpool(work, *args, **kwargs)


async def get_code_keys(request: Request) -> Keys:
    keys: Keys = request.app.state.code_keys
    return keys


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
KeysDep = Annotated[Keys, Depends(get_code_keys)]
Lang = Annotated[
    Literal["zh_CN", "en"],
    Query(description="The language of a poster, a card or a file's headers and words: zh_CN (the default) or en."),
]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="A key you generate per write; resending the same request with it never writes twice.",
    ),
]
REPLAY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A replay of an earlier request with the same Idempotency-Key"}
}


def created_or_replayed(response: Response, replayed: bool) -> None:
    """201 for a new write; 200 and `Idempotency-Replayed: true` for a replay of an earlier one."""
    response.status_code = status.HTTP_200_OK if replayed else status.HTTP_201_CREATED
    if replayed:
        response.headers["Idempotency-Replayed"] = "true"


_bearer = HTTPBearer(auto_error=False, description="An access token from POST /api/v1/auth/token or /otp/verify")


BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def unauthenticated_caller(request: Request, dependant: Dependant) -> Unauthenticated | None:
    """Why a caller without valid credentials may not call this API route (None if it may, or if the route is
    public): checked before the body is read, so that a request whose body is malformed is still told to sign in
    first (api/problems.py). The token only: whether its holder may use the route is the route's own check."""
    rules = access_rules(dependant)
    if not rules or "public" in rules or not request.url.path.startswith("/api/"):
        return None
    settings: Settings = request.app.state.settings
    if settings.dev_mode and any(isinstance(r, dict) and r.get("open_in_dev") for r in rules):
        return None
    try:
        bearer_claims(request, settings, await _bearer(request))
    except Unauthenticated as refusal:
        return refusal
    return None


def bearer_claims(
    request: Request, settings: Settings, credentials: HTTPAuthorizationCredentials | None
) -> tokens.AccessClaims:
    """The request's bearer token, checked (once per request)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("Sign in first: this route needs a bearer access token.")
    claims: tokens.AccessClaims | None = getattr(request.state, "access_claims", None)
    if claims is None:
        claims = request.state.access_claims = tokens.read_access_token(settings, credentials.credentials)
    return claims


def current_principal(
    request: Request, session: SessionDep, settings: SettingsDep, credentials: BearerDep
) -> Principal:
    claims = bearer_claims(request, settings, credentials)
    return principals.load(
        session, subject=claims.sub, role=claims.role, scopes=claims.scopes, issued_at=claims.issued_at
    )


def allow(
    *roles: str,
    partner_kinds: tuple[str, ...] = (),
    scope: str | None = None,
    before_password_change: bool = False,
) -> Any:
    """Who may call a route: user roles, and/or partner clients of the given kinds holding `scope`. A holder of a
    password someone else set is refused every route but those marked `before_password_change` (setting their
    own)."""

    access = _access(roles, partner_kinds, scope, before_password_change)

    async def rule(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        admit(access, principal)
        return principal

    vars(rule)["access_rule"] = access  # read by access_rule_of
    return Depends(rule)


def allow_unheld(*roles: str, partner_kinds: tuple[str, ...] = (), before_password_change: bool = False) -> Any:
    """As `allow`, for a route that must hold no unit of work while it works (it hashes a password with argon2):
    the caller is read and checked in a short unit of work of its own, in turn; the route then hashes with none
    open, and writes in a unit of work of its own, reading the caller again there (`caller_again`)."""
    access = _access(roles, partner_kinds, None, before_password_change)

    async def rule(request: Request, settings: SettingsDep, credentials: BearerDep) -> Principal:
        claims = bearer_claims(request, settings, credentials)
        principal: Principal = await in_turn(request, _principal_of, request.app.state.engine, claims)
        admit(access, principal)
        request.state.access_rule = access
        return principal

    vars(rule)["access_rule"] = access  # read by access_rule_of
    return Depends(rule)


@dataclass(frozen=True, slots=True)
class Caller:
    """A caller whose bearer token was checked on the event loop, and the rule of the route they call. Who they
    are now (active, role, household, scopes…) is read in the route's own unit of work, by `run`."""

    claims: tokens.AccessClaims
    access: dict[str, Any]


def allow_caller(
    *roles: str,
    partner_kinds: tuple[str, ...] = (),
    scope: str | None = None,
    before_password_change: bool = False,
) -> Any:
    """As `allow`, for an `async def` route that does its database work in one thread hop with `run`: the
    dependency checks the token only (no database, no thread) and gives a `Caller`; `run` loads the caller and
    applies this rule inside the route's unit of work, before the work itself."""
    access = _access(roles, partner_kinds, scope, before_password_change)

    async def rule(request: Request, settings: SettingsDep, credentials: BearerDep) -> Caller:
        return Caller(bearer_claims(request, settings, credentials), access)

    vars(rule)["access_rule"] = access  # read by access_rule_of
    return Depends(rule)


P = ParamSpec("P")
T = TypeVar("T")


async def run(
    request: Request,
    caller: Caller,
    work: Callable[Concatenate[Session, Principal, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """`work(session, principal, *args, **kwargs)` in one unit of work, committed before this returns: one
    thread-pool hop, taken once it is this request's turn at the database (a request waiting holds no thread).
    The caller is loaded and admitted first, in the same unit of work; a refusal (401, 403) or any error of the
    work rolls everything back and propagates as it would from a plain route. Return plain data from `work` and
    build the answer from it afterwards."""
    engine: Engine = request.app.state.engine
    async with _turn(request):
        return await run_in_threadpool(_work_as, engine, caller, work, args, kwargs)


async def run_after(
    request: Request,
    caller: Caller,
    first: Callable[[Session], object],
    work: Callable[Concatenate[Session, Principal, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """As `run`, with `first(session)` before it in the same thread hop and the same turn, kept even when the
    caller is then refused or the work fails (a bank's lookup budget counts refused lookups too). `first` commits
    in a unit of work of its own before the work's, so no work holds its rows; on a SQLite file, whose units of
    work take turns anyway, the work runs instead in a savepoint of the same transaction: one commit, one sync
    to disk, instead of two."""
    engine: Engine = request.app.state.engine
    async with _turn(request):
        return await run_in_threadpool(_first_then, engine, first, caller, work, args, kwargs)


def _first_then(
    engine: Engine,
    first: Callable[[Session], object],
    caller: Caller,
    work: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
) -> T:
    if not writes_one_at_a_time(engine):
        with unit_of_work(engine) as session:
            first(session)
        return _work_as(engine, caller, work, args, kwargs)
    failed: Exception | None = None
    with unit_of_work(engine) as session:
        first(session)
        try:
            with session.begin_nested():
                done = _as_caller(session, caller, work, args, kwargs)
        except Exception as error:  # the savepoint is undone; `first` is committed all the same
            failed = error
    if failed is not None:
        raise failed
    return done


def _work_as(
    engine: Engine,
    caller: Caller,
    work: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
) -> T:
    with unit_of_work(engine) as session:
        return _as_caller(session, caller, work, args, kwargs)


def _as_caller(
    session: Session, caller: Caller, work: Callable[..., T], args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> T:
    claims = caller.claims
    principal = principals.load(
        session, subject=claims.sub, role=claims.role, scopes=claims.scopes, issued_at=claims.issued_at
    )
    admit(caller.access, principal)
    return work(session, principal, *args, **kwargs)


def json_answer(
    model: BaseModel,
    *,
    status_code: int = status.HTTP_200_OK,
    headers: Mapping[str, str] | None = None,
    exclude_none: bool = False,
) -> Response:
    """The answer of a route whose decorator declares `response_model` (for the OpenAPI document) but that
    returns a ready Response: the model serialised once, with no second validation by FastAPI. `exclude_none`
    as the decorator's `response_model_exclude_none`."""
    body = model.model_dump_json(exclude_none=exclude_none)
    return Response(body, status_code, headers, media_type="application/json")


def written_answer(model: BaseModel, replayed: bool) -> Response:
    """`json_answer` for an idempotent write: 201 for a new one; 200 and `Idempotency-Replayed: true` for a
    replay of an earlier one (as `created_or_replayed`)."""
    if replayed:
        return json_answer(model, headers={"Idempotency-Replayed": "true"})
    return json_answer(model, status_code=status.HTTP_201_CREATED)


def caller_again(request: Request, session: Session) -> Principal:
    """In a route's own unit of work (see `allow_unheld`): the caller as the rows are now, checked again."""
    claims: tokens.AccessClaims = request.state.access_claims
    principal = principals.load(
        session, subject=claims.sub, role=claims.role, scopes=claims.scopes, issued_at=claims.issued_at
    )
    admit(request.state.access_rule, principal)
    return principal


def _access(
    roles: tuple[str, ...], partner_kinds: tuple[str, ...], scope: str | None, before_password_change: bool
) -> dict[str, Any]:
    access: dict[str, Any] = {"roles": roles, "partner_kinds": partner_kinds, "scope": scope}
    if before_password_change:
        access["before_password_change"] = True
    return access


def admit(access: dict[str, Any], principal: Principal) -> None:
    """The one check behind `allow` and the pages' `page_allow`: a password someone else set must be replaced
    first (403 `password_change_required`; the pages send the holder to set their own), then the role."""
    if principal.must_change_password and not access.get("before_password_change"):
        throttle.refused("password_change_required")
        raise PasswordChangeRequired("Set a password of your own first (POST /api/v1/auth/password).")
    if not permits(access, principal):
        raise Forbidden("Your role may not use this route.")


def permits(access: dict[str, Any], principal: Principal) -> bool:
    """Does the role (or the partner's kind and scope) fit? Part of `admit`."""
    if principal.role == PARTNER:
        return principal.partner_kind in access["partner_kinds"] and (
            access["scope"] is None or access["scope"] in principal.scopes
        )
    return principal.role in access["roles"]


def scraper_or(*roles: str) -> Any:
    """Who may read /metrics: anyone in dev mode; otherwise a scraper sending SHANZHI_METRICS_TOKEN as its bearer
    token (Prometheus scrapes without cookies), or a signed-in user of `roles`."""
    access = {"roles": roles, "partner_kinds": (), "scope": None, "open_in_dev": True}

    async def rule(request: Request, settings: SettingsDep, credentials: BearerDep) -> None:
        if settings.dev_mode:
            return
        sent = credentials.credentials if credentials is not None and credentials.scheme.lower() == "bearer" else ""
        if settings.metrics_token and sent and hmac.compare_digest(sent.encode(), settings.metrics_token.encode()):
            return
        claims = bearer_claims(request, settings, credentials)
        principal = await in_turn(request, _principal_of, request.app.state.engine, claims)
        admit(access, principal)

    vars(rule)["access_rule"] = access  # read by access_rule_of
    return Depends(rule)


def _principal_of(engine: Any, claims: tokens.AccessClaims) -> Principal:
    with unit_of_work(engine) as session:
        return principals.load(
            session, subject=claims.sub, role=claims.role, scopes=claims.scopes, issued_at=claims.issued_at
        )


def public() -> Any:
    """Marks a route anyone may call. Use sparingly; the route test lists every public route."""

    async def rule() -> None:
        return None

    vars(rule)["access_rule"] = "public"  # read by access_rule_of
    return Depends(rule)


def access_rule_of(call: Callable[..., Any]) -> Any:
    return getattr(call, "access_rule", None)


def access_rules(dependant: Dependant) -> list[Any]:
    """The access rules a route (its dependant) declares, through any depth of dependencies: "public" or the
    `allow(...)` dict. The OpenAPI document and the 401-before-422 answer read them."""
    found, stack = [], [dependant]
    while stack:
        current = stack.pop()
        if current.call is not None and (rule := access_rule_of(current.call)) is not None:
            found.append(rule)
        stack.extend(current.dependencies)
    return found
