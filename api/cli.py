"""The `shanzhi` command."""

from __future__ import annotations

import ipaddress
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from ledger.activities.codes import Keys
from ledger.core import migrations
from ledger.core.base import row_id
from ledger.core.db import make_engine, unit_of_work
from ledger.core.settings import DEFAULT_PASSWORDS, InsecureSettings, Settings, check_for_production, get_settings

if TYPE_CHECKING:
    from ledger.core.errors import DomainError
    from ledger.identity.principal import Principal
    from ledger.tenancy import County

app = typer.Typer(
    help="Shanzhi (善治): village points-and-credit ledger.", no_args_is_help=True, pretty_exceptions_enable=False
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")
staff_app = typer.Typer(
    help="Staff accounts of a county: officials, township supervisors, auditors, county admins.", no_args_is_help=True
)
app.add_typer(staff_app, name="staff")


QUIET = typer.Option("--quiet", "-q", help="Print only the one-line summary and errors, no progress")
RECORDS = "kinds of records checked against the journal"  # verify's last part: claims and deductions, vouchers
CALIBRATED = "calibration steps"


def _refuse(why: str) -> typer.Exit:
    typer.echo(f"refusing to start: {why}", err=True)
    return typer.Exit(2)


def _read_settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:  # e.g. SHANZHI_ENV=production: name the setting, no stack trace
        raise _refuse(
            "; ".join(f"SHANZHI_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        ) from exc


def _settings() -> Settings:
    settings = _read_settings()
    try:
        check_for_production(settings)
    except InsecureSettings as exc:
        raise _refuse(str(exc)) from exc
    return settings


def loopback(host: str) -> bool:
    """True when only this machine can reach an address: localhost or a loopback IP (127.0.0.0/8, ::1)."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # another name: it may resolve to any address


def _starting(host: str) -> Settings:
    """What `serve` and `demo` do first: logging on, the mode as its first line, then the checks that refuse."""
    from api.app import announce_mode
    from api.observability import configure_logging

    configure_logging()
    settings = _read_settings()
    announce_mode(settings)
    settings = _settings()
    if settings.dev_mode and not loopback(host):
        raise _refuse(
            f"dev mode serves only on a loopback address (127.0.0.1, ::1, localhost), not {host!r}: its "
            "secrets and sign-in codes are for this machine; set SHANZHI_ENV=prod to serve others"
        )
    return settings


def _engine(settings: Settings) -> Engine:
    return make_engine(settings.database_url)


def _ready(engine: Engine) -> None:
    """Commands that read or write the county's data need the schema at head: say so plainly, not in a trace."""
    if not migrations.at_head(engine):
        typer.echo(
            "the database is not ready: its schema is missing or behind this version; run `shanzhi db upgrade` first",
            err=True,
        )
        raise typer.Exit(2)


def cli_actor() -> str:
    """Who the change log names for a change made from the command line: the machine's login running it."""
    import getpass

    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "unknown"
    return f"cli:{login}"[:80]


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Migrate the database forward (to the newest revision by default)."""
    engine = _engine(_read_settings())
    migrations.upgrade(engine, revision)
    typer.echo(f"database at {migrations.current_revision(engine)}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base")] = "-1") -> None:
    """Migrate the database back (one revision by default)."""
    engine = _engine(_read_settings())
    migrations.downgrade(engine, revision)
    typer.echo(f"database at {migrations.current_revision(engine) or 'base'}")


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    from api.observability import configure_logging

    configure_logging()
    with _metrics_shared(settings, workers):
        _uvicorn(host, port, workers)


@contextmanager
def _metrics_shared(settings: Settings, workers: int) -> Iterator[None]:
    """With several worker processes, give them one directory for their counts (api/observability.py): set
    before they start, so that each, importing prometheus_client, counts into a file of its own there."""
    import shutil
    import tempfile

    from api.observability import MULTIPROCESS_DIR

    if workers == 1:
        yield
        return
    made = settings.metrics_dir is None
    where = Path(tempfile.mkdtemp(prefix="shanzhi-metrics-")) if settings.metrics_dir is None else settings.metrics_dir
    where.mkdir(parents=True, exist_ok=True)
    for earlier in where.glob("*.db"):  # the counts of an earlier run: Prometheus sees the counters start again
        earlier.unlink()
    os.environ[MULTIPROCESS_DIR] = str(where)
    try:
        yield
    finally:
        if made:
            shutil.rmtree(where, ignore_errors=True)


def _uvicorn(host: str, port: int, workers: int) -> None:
    import uvicorn

    # proxy_headers off: uvicorn would trust X-Forwarded-For from 127.0.0.1 by default; the app decides whom to
    # trust itself (SHANZHI_TRUSTED_PROXIES, api/app.py).
    # uvicorn's own access log prints raw paths (voucher codes, consent ids, QR tokens): it stays off, and each
    # worker logs our line instead, which names the route template (api/observability.py: RequestContext)
    uvicorn.run(
        "api.app:served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64)] = 1,
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations first")] = True,
) -> None:
    """Serve the API (dev mode: on a loopback address only)."""
    settings = _starting(host)
    engine = _engine(settings)
    if migrate:
        migrations.upgrade(engine)
    if not settings.dev_mode:
        from api.app import refuse_default_passwords

        try:
            refuse_default_passwords(engine)
        except InsecureSettings as exc:
            raise _refuse(str(exc)) from exc
    _announce_schedule(settings)
    _serve(settings, host, port, workers)


def _announce_schedule(settings: Settings) -> None:
    """Say at start-up who runs the scheduled work, so that nobody runs the API alone and wonders why no points
    settle."""
    import logging

    log = logging.getLogger("shanzhi")
    if settings.api_runs_schedule:
        log.info(
            "the API runs the scheduled work itself",
            extra={"fields": {"every_seconds": settings.tick_seconds}},
        )
    else:
        log.info(
            "the API does not run the scheduled work: run `shanzhi worker` as a process of its own "
            "(settlement, expiry, notifications and webhooks wait for it)"
        )


@app.command()
def demo(
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve after seeding")] = True,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Seed the demo county into an empty database, then serve it (dev mode only, on a loopback address)."""
    from api import demo as demo_data

    if not _read_settings().dev_mode:
        typer.echo(
            "the demo runs only in dev mode (SHANZHI_ENV=dev): its passwords and secrets are printed "
            "for anyone to read",
            err=True,
        )
        raise typer.Exit(2)
    settings = _starting(host) if serve_after else _settings()
    engine = _engine(settings)
    migrations.upgrade(engine)
    keys = Keys.from_settings(settings)
    base_url = f"http://{host}:{port}"
    with unit_of_work(engine) as session:
        if demo_data.is_seeded(session):
            typer.echo("database already has a county; not seeding again")
        else:
            demo_data.seed(session, keys, upload_dir=settings.upload_dir)
            typer.echo("seeded the demo county")
            typer.echo(demo_data.story(session) + "\n")
    with unit_of_work(engine) as session:
        activity = demo_data.first_activity(session, keys, settings.base_url.rstrip("/"))
    typer.echo(demo_data.sign_in_help(base_url if serve_after else None, activity))
    if serve_after:
        _serve(settings, host, port, 1)


@app.command()
def verify(quiet: Annotated[bool, QUIET] = False) -> None:
    """Recompute every balance from postings and walk every village's hash chain; then check each claim's,
    deduction's, voucher's and booking's status against its transactions. Exits 1 on any problem."""
    from api.progress import reporter
    from ledger.claims import verify as claims_verify
    from ledger.journal.verify import links
    from ledger.journal.verify import verify as run
    from redemption import verify as redemption_verify

    engine = _engine(_read_settings())
    with reporter(quiet=quiet) as progress, unit_of_work(engine) as session:
        report = run(session, progress=progress)
        progress(RECORDS, 0, 2)
        linked = links(session)
        mismatches = claims_verify.check(session, linked)
        progress(RECORDS, 1, 2)
        mismatches += redemption_verify.check(session, linked)
        progress(RECORDS, 2, 2)
    if not report.ok:
        typer.echo(f"LEDGER TAMPERED: first bad {report.first_bad}", err=True)
        for problem in report.problems:
            typer.echo(f"  - {problem}", err=True)
    if mismatches:
        typer.echo(f"RECORDS DISAGREE WITH THE JOURNAL: {len(mismatches)}", err=True)
        for mismatch in mismatches:
            typer.echo(f"  - {mismatch}", err=True)
    typer.echo(  # the one-line summary
        f"checked {report.transactions} transactions in {report.villages} villages and {report.accounts} account "
        "balances: "
        + ("ledger verified" if report.ok else f"LEDGER TAMPERED ({len(report.problems)} problems)")
        + ", "
        + ("records verified" if not mismatches else f"{len(mismatches)} records disagree with the journal")
    )
    if not report.ok or mismatches:
        raise typer.Exit(1)


@app.command()
def head(
    county: Annotated[str, typer.Option(help="County code")],
    out: Annotated[Path | None, typer.Option(help="Write the JWS here instead of stdout")] = None,
    check: Annotated[Path | None, typer.Option(help="Check a JWS pinned earlier instead of exporting")] = None,
) -> None:
    """Export the county's chain head signed as a JWS, or check that a pinned one is still in the chain."""
    from api import tokens
    from ledger import tenancy
    from ledger.journal import head as heads
    from ledger.tenancy import County

    settings = _read_settings()
    with unit_of_work(_engine(settings)) as session:
        county_row = session.scalars(select(County).where(col(County.code) == county)).first()
        if county_row is None or county_row.id is None:
            typer.echo(f"no county {county!r}", err=True)
            raise typer.Exit(2)
        if check is not None:
            payload = tokens.read_signed_head(tokens.head_public_jwk(settings), check.read_text().strip())
            problems = heads.still_in_chain(session, payload)
            for problem in problems:
                typer.echo(f"  - {problem}", err=True)
            typer.echo("pinned head intact" if not problems else "PINNED HEAD NO LONGER IN THE CHAIN")
            raise typer.Exit(1 if problems else 0)
        payload = tenancy.county_chain_head(session, county_row.id)
    token = tokens.sign_head(settings, payload)
    if out is None:
        typer.echo(token)
    else:
        out.write_text(token + "\n")
        typer.echo(f"wrote {out}: {payload['transactions']} transactions, root {payload['root']}")


def _held(counts: dict[str, int]) -> str:
    rows = sum(n for name, n in counts.items() if name != "alembic_version")
    return (
        f"{rows} rows in {len(counts)} tables ({counts.get('journal_transaction', 0)} journal transactions, "
        f"{counts.get('household', 0)} households, {counts.get('claim', 0)} claims)"
    )


@contextmanager
def _backup_refusals(what: str) -> Iterator[None]:
    """A backup's or restore's refusal in one line (exit 2), a failing disk or folder in another (exit 1)."""
    from ledger.core.errors import DomainError

    try:
        yield
    except DomainError as exc:
        typer.echo(f"{exc.code}: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    except OSError as exc:  # a full disk, a folder it may not write
        typer.echo(f"{what} failed: {exc}", err=True)
        raise typer.Exit(1) from exc


@app.command()
def backup(
    to: Annotated[Path, typer.Option("--to", help="The backup file to write (written whole, then renamed into place)")],
    photos: Annotated[
        bool, typer.Option("--photos/--no-photos", help="Include the evidence photos of SHANZHI_UPLOAD_DIR")
    ] = True,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print only the summary and errors")] = False,
) -> None:
    """Back up the database while the service runs (SQLite through its online backup API, PostgreSQL through
    pg_dump) with the evidence photos, into one file that says what it holds."""
    from api.progress import reporter
    from ledger.core import backup as backups

    settings = _read_settings()
    with _backup_refusals("backup"), reporter(quiet=quiet) as report:
        manifest = backups.backup(
            settings.database_url,
            to,
            upload_dir=settings.upload_dir,
            photos=photos,
            report=report,
            pg_bin_dir=settings.pg_bin_dir,
        )
    typer.echo(
        f"wrote {to}: {manifest.engine} database at revision {manifest.revision}, {_held(manifest.counts)}, "
        f"{manifest.photos} photos" + ("" if photos else " (photos left out)")
    )


@app.command()
def restore(
    from_: Annotated[Path, typer.Option("--from", help="A file written by `shanzhi backup`")],
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Replace the data the database of SHANZHI_DATABASE_URL holds; without it, restore only into a "
            "database without data",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print only the summary and errors")] = False,
) -> None:
    """Restore a backup into the database of SHANZHI_DATABASE_URL (stop the service and the worker first) and its
    photos into SHANZHI_UPLOAD_DIR; then count every table against the backup's own counts."""
    from api.progress import reporter
    from ledger.core import backup as backups

    settings = _read_settings()
    with _backup_refusals("restore"), reporter(quiet=quiet) as report:
        restored = backups.restore(
            settings.database_url,
            from_,
            upload_dir=settings.upload_dir,
            replace=replace,
            report=report,
            pg_bin_dir=settings.pg_bin_dir,
        )
    manifest = restored.manifest
    typer.echo(
        f"restored {from_} (made {manifest.created_at}): {_held(restored.counts)}, every table as the backup "
        f"counted it; {restored.photos_written} photos written, {restored.photos_there} there "
        "already"
    )
    if restored.behind:
        typer.echo(
            f"the backup's schema ({manifest.revision}) is older than this version's ({restored.head_revision}): "
            "run `shanzhi db upgrade` before serving it"
        )
    typer.echo("next: `shanzhi verify`, and `shanzhi head --check` with the last head you pinned")


@app.command()
def tick(
    days_ahead: Annotated[
        float,
        typer.Option(
            help="Dev mode (or SHANZHI_TEST_CLOCK=true) only: run the schedule as it will be this many days "
            "from now (to see notice periods end in a demo)"
        ),
    ] = 0,
) -> None:
    """Run the scheduled work once: expire claims nobody decided, settle claims whose notice period is over,
    expire other pending transfers past their timeout, expire points (where the county turned it on) and warn
    of it, expire vouchers past their time, delete people's data past its retention period (docs/privacy.md),
    deliver partner webhooks and notifications."""
    from datetime import timedelta

    from api import sms
    from ledger.core.base import utcnow
    from redemption import schedule

    settings = _read_settings()
    if days_ahead and not (settings.dev_mode or settings.test_clock):
        typer.echo(
            "--days-ahead runs only in dev mode or with SHANZHI_TEST_CLOCK=true: it would settle points before "
            "their time",
            err=True,
        )
        raise typer.Exit(2)
    if days_ahead and not settings.dev_mode:
        typer.echo(f"TEST CLOCK: running the schedule as of {days_ahead:g} days from now", err=True)
    report = schedule.tick(_engine(settings), sink=sms.sink(settings), now=utcnow() + timedelta(days=days_ahead))
    typer.echo(
        f"expired {report.expired_claims} claims, escalated {report.escalated_claims} to the township supervisor, "
        f"settled {report.settled_claims} claims, "
        f"flagged {report.overdue_concerns} concerns overdue, closed {report.auto_closed_concerns} resolved "
        "concerns nobody evaluated, "
        f"expired {report.expired_transfers} other pending transfers, expired points of "
        f"{report.expired_points_households} households, warned {report.expiry_warnings} households of "
        f"points expiring, delivered {report.delivered} notifications ({report.failed_deliveries} to retry)"
    )
    for step, count in report.done.items():
        typer.echo(f"{step}: {count}")
    for step in report.skipped:
        typer.echo(f"skipped {step}: another worker is running it")
    for step, count in report.failed_items.items():
        typer.echo(f"{step}: {count} failed and skipped (see `shanzhi failures`)")
    for step in report.failed_steps:
        typer.echo(f"{step} failed as a whole and was rolled back (see `shanzhi failures`)")


@app.command()
def worker(
    days_ahead: Annotated[
        float,
        typer.Option(
            help="Run the schedule as it will be this many days from now: in dev mode, or with "
            "SHANZHI_TEST_CLOCK=true (a test of the production profile; never where real households are served)"
        ),
    ] = 0,
) -> None:
    """Run the scheduled work every SHANZHI_TICK_SECONDS until stopped (SIGTERM or Ctrl-C: the step running
    finishes, then it exits 0). The production scheduler: run one as a service next to `shanzhi serve`. It
    refuses to start while the database does not answer or its schema is behind (run `shanzhi db upgrade`)."""
    from api import sms
    from api.app import announce_mode
    from api.observability import configure_logging
    from api.worker import NotReady, Worker, check_ready

    configure_logging()
    settings = _read_settings()
    announce_mode(settings)
    settings = _settings()
    if days_ahead and not (settings.dev_mode or settings.test_clock):
        raise _refuse(
            "--days-ahead runs only in dev mode or with SHANZHI_TEST_CLOCK=true: it would settle points before "
            "their time"
        )
    if settings.tick_seconds <= 0:
        raise _refuse("SHANZHI_TICK_SECONDS is 0: the worker needs how often to run (e.g. 60)")
    engine = _engine(settings)
    try:
        check_ready(engine)
    except NotReady as exc:
        raise _refuse(str(exc)) from exc
    sms.announce(settings)
    if settings.worker_metrics_port:  # its tick steps, failures and text messages, for Prometheus (docs/alerts.md)
        from api.observability import serve_metrics

        serve_metrics(settings.worker_metrics_host, settings.worker_metrics_port)
    running = Worker(engine, seconds=settings.tick_seconds, days_ahead=days_ahead, sink=sms.sink(settings))
    running.stop_on_signals()
    running.run()


@app.command()
def failures(
    county: Annotated[
        str | None, typer.Option(help="Only this county's (and whole steps'); every county if left out")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Also those that went through at a later run")] = False,
) -> None:
    """What the scheduled work could not do: each item (or whole step) that failed and was skipped, newest first,
    with its error, when it was first and last seen and how often. Exits 1 when any is still failing."""
    from ledger.core import failures as job_failures

    with unit_of_work(_engine(get_settings())) as session:
        county_id = _county(session, county).id if county else None
        rows = job_failures.recent(session, county_id=county_id, open_only=not all_, limit=1000)
        lines = [
            f"{row.step} {row.record_kind} {row.record_id or '-'}: {row.error_code} ({row.times}x, first "
            f"{row.first_seen:%Y-%m-%d %H:%M}, last {row.last_seen:%Y-%m-%d %H:%M}"
            f"{', resolved' if row.resolved_at else ''}) {row.error}"
            for row in rows
        ]
        still = sum(1 for row in rows if row.resolved_at is None)
    for line in lines:
        typer.echo(line)
    typer.echo(f"{still} failing" if still else "nothing failing")
    if still:
        raise typer.Exit(1)


def _county(session: Session, code: str) -> County:
    from ledger.tenancy import County

    county = session.scalars(select(County).where(col(County.code) == code)).first()
    if county is None:
        typer.echo(f"no county {code!r}", err=True)
        raise typer.Exit(2)
    return county


@app.command()
def score(county: Annotated[str, typer.Option(help="County code")], quiet: Annotated[bool, QUIET] = False) -> None:
    """Rate every household of a county as of now, with the county's active scorecard, and store the ratings."""
    from api.progress import reporter
    from scoring import ratings

    with reporter(quiet=quiet) as progress, unit_of_work(_engine(_read_settings())) as session:
        done = ratings.rescore_county(session, row_id(_county(session, county).id), progress=progress)
    typer.echo(
        f"rated {done.rated} of {done.households} households ({done.households - done.rated} not rated: "
        f"too short a history) in {done.seconds_loading + done.seconds_scoring + done.seconds_writing:.1f} s"
    )


@app.command()
def calibrate(
    county: Annotated[str, typer.Option(help="County code")],
    out: Annotated[Path, typer.Option(help="Folder for the validation report")] = Path("var/calibration"),
    c: Annotated[float, typer.Option(help="Inverse strength of the L2 penalty of the regression")] = 1.0,
    quiet: Annotated[bool, QUIET] = False,
) -> None:
    """Fit a candidate scorecard on the county's reported loan outcomes and write its validation report. The
    candidate is stored as a new version; a county admin activates it (POST /api/v1/scorecards/{id}/activate)."""
    from api.progress import reporter
    from ledger.core.base import utcnow
    from ledger.core.errors import DomainError
    from scoring import calibration, ratings, report
    from scoring.card import Card

    steps = ["loans read", "fitted", "stored", "validated", "report written"]
    with reporter(quiet=quiet) as progress:

        def did(step: str) -> None:
            progress(CALIBRATED, steps.index(step) + 1, len(steps))

        progress(CALIBRATED, 0, len(steps))
        with unit_of_work(_engine(_read_settings())) as session:
            county_row = _county(session, county)
            active = ratings.active_card(session, row_id(county_row.id))
            loans = calibration.dataset(session, row_id(county_row.id))
            try:
                calibration.check_enough(loans)
            except DomainError as exc:
                typer.echo(exc.message, err=True)
                raise typer.Exit(2) from exc
            did("loans read")
            train, test, holdout = calibration.split(loans)
            content = calibration.fit(
                active, train.features, train.good, c=c, fitted_on=calibration.fitted_on(train, utcnow())
            )
            did("fitted")
            candidate = Card.from_content(content)
            ratings.ensure_card(session, candidate, origin="calibrated", actor="cli:calibrate", parent_id=active.id)
            did("stored")
            validation = calibration.validate(
                active, candidate, test, calibration.population(session, row_id(county_row.id)), holdout=holdout
            )
            did("validated")
        files = report.write(validation, active, candidate, out)
        did("report written")
    if not quiet:
        typer.echo(validation.metrics.to_string(index=False))
        typer.echo("report: " + ", ".join(str(f) for f in files))
    typer.echo(  # the one-line summary
        f"candidate scorecard {candidate.id} (from {active.id}), not active; PSI against the active card "
        f"{validation.psi:.4f} ({validation.psi_status}); report in {out}"
    )


def _refuse_weak(password: str) -> None:
    if len(password) < 12 or password.lower() in DEFAULT_PASSWORDS:
        typer.echo("choose a password of at least 12 characters that is not a default one", err=True)
        raise typer.Exit(2)


@app.command("create-admin")
def create_admin(
    username: Annotated[str, typer.Option()],
    county: Annotated[str, typer.Option(help="County code; created when missing")],
    county_name: Annotated[str | None, typer.Option(help="Name for a new county")] = None,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, envvar="SHANZHI_ADMIN_PASSWORD")
    ] = "",
) -> None:
    """Create a county administrator (and the county, when it does not exist yet: it starts with the default
    catalogue and policy)."""
    from ledger import tenancy
    from ledger.catalogue.county import start_county
    from ledger.concerns.setup import default_categories
    from ledger.core import audit
    from ledger.identity.models import Role, User
    from ledger.identity.service import set_password

    settings = _read_settings()
    _refuse_weak(password)
    engine = _engine(settings)
    _ready(engine)
    with unit_of_work(engine) as session:
        if session.scalars(select(User).where(col(User.username) == username)).first() is not None:
            typer.echo(f"user {username!r} exists already", err=True)
            raise typer.Exit(2)
        county_row = session.scalars(select(tenancy.County).where(col(tenancy.County.code) == county)).first()
        if county_row is None:
            county_row = start_county(session, code=county, name=county_name or county, actor=cli_actor())
            default_categories(session, row_id(county_row.id))  # concerns can be reported on day one
        user = User(
            role=Role.COUNTY_ADMIN,
            county_id=row_id(county_row.id),
            username=username,
            display_name=username,
        )
        set_password(user, password)
        session.add(user)
        session.flush()
        audit.record(
            session,
            county_id=row_id(county_row.id),
            actor=cli_actor(),
            action="staff.create",
            target_type="staff",
            target_id=user.id,
            after={"username": username, "role": Role.COUNTY_ADMIN.value},
        )
    typer.echo(f"created county admin {username!r} for county {county!r}")


@app.command("create-partner-client")
def create_partner_client(
    partner: Annotated[str, typer.Option(help="Partner code; created when missing")],
    county: Annotated[str, typer.Option(help="County code")],
    kind: Annotated[str, typer.Option(help="bank, merchant or clinic")] = "bank",
    name: Annotated[str | None, typer.Option(help="Partner name for a new partner")] = None,
    client_id: Annotated[str | None, typer.Option(help="Defaults to a random id")] = None,
    scopes: Annotated[str, typer.Option(help="Space-separated scopes (default: every scope its kind may hold)")] = "",
) -> None:
    """Register an OAuth2 client-credentials client for a partner (by default with every scope its kind may hold).
    Prints the secret once; only its hash is kept. Both are written to the change log."""
    from ledger.core.errors import DomainError
    from ledger.identity.models import Partner
    from ledger.tenancy import County
    from redemption import partners
    from redemption.partners import new_secret

    fresh = new_secret()  # argon2 before the transaction
    engine = _engine(_read_settings())
    _ready(engine)
    with unit_of_work(engine) as session:
        county_row = session.scalars(select(County).where(col(County.code) == county)).first()
        if county_row is None:
            typer.echo(f"no county {county!r}", err=True)
            raise typer.Exit(2)
        who = _cli_admin(row_id(county_row.id))
        try:
            partner_row = session.scalars(select(Partner).where(col(Partner.code) == partner)).first()
            if partner_row is None:
                partner_row = partners.create_partner(session, who, kind=kind, code=partner, name=name or partner)
            elif partner_row.county_id != county_row.id:
                typer.echo(f"partner {partner!r} is of another county", err=True)
                raise typer.Exit(2)
            client = partners.create_client(
                session, who, row_id(partner_row.id), secret=fresh, client_id=client_id, scopes=scopes.split() or None
            )
        except DomainError as exc:
            typer.echo(f"{exc.code}: {exc.message}", err=True)
            raise typer.Exit(2) from exc
        issued = {"client_id": client.client_id, "client_secret": fresh.plain, "scopes": client.scopes}
    json.dump(issued, sys.stdout)
    typer.echo("")


@app.command("create-open311-client")
def create_open311_client(
    county: Annotated[str, typer.Option(help="County code (GeoReport v2's jurisdiction_id)")],
    name: Annotated[str, typer.Option(help="Which system this is, e.g. the city's 12345 dashboard")],
) -> None:
    """Register a system that speaks Open311 GeoReport v2 to the county (/open311/v2/): it may send concerns and
    read the ones it sent. Prints its api_key once; only its SHA-256 is kept. Written to the change log."""
    from ledger.concerns import open311
    from ledger.core.errors import DomainError
    from ledger.tenancy import County

    key = open311.new_key()
    engine = _engine(_read_settings())
    _ready(engine)
    with unit_of_work(engine) as session:
        county_row = session.scalars(select(County).where(col(County.code) == county)).first()
        if county_row is None:
            typer.echo(f"no county {county!r}", err=True)
            raise typer.Exit(2)
        try:
            client = open311.create_client(session, _cli_admin(row_id(county_row.id)), name=name, key=key)
        except DomainError as exc:
            typer.echo(f"{exc.code}: {exc.message}", err=True)
            raise typer.Exit(2) from exc
        issued = {"id": client.id, "name": client.name, "jurisdiction_id": county, "api_key": key.plain}
    json.dump(issued, sys.stdout, ensure_ascii=False)
    typer.echo("")


def _cli_admin(county_id: int) -> Principal:
    """The command line acting as the county's admin, named in the change log by the machine's login."""
    from ledger.identity.models import Role
    from ledger.identity.principal import Principal

    return Principal(subject=cli_actor(), role=Role.COUNTY_ADMIN, county_id=county_id)


@app.command("create-partner-staff")
def create_partner_staff(
    username: Annotated[str, typer.Option()],
    partner: Annotated[str, typer.Option(help="Code of an existing partner (see create-partner-client)")],
    display_name: Annotated[str | None, typer.Option(help="Name shown in the journal and the inbox")] = None,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, envvar="SHANZHI_STAFF_PASSWORD")
    ] = "",
) -> None:
    """Create a sign-in for someone working at a partner (a cashier, a clinic nurse, a loan officer). They act for
    the partner with what its kind may do (vouchers, bookings, loans, offers, settlement). Written to the change
    log (never the password)."""
    from ledger.core.errors import DomainError
    from ledger.identity.models import Partner
    from ledger.identity.passwords import hash_secret
    from redemption import partners
    from redemption.partners import Fresh

    _refuse_weak(password)
    fresh = Fresh(password, hash_secret(password))  # argon2 before the transaction
    engine = _engine(_read_settings())
    _ready(engine)
    with unit_of_work(engine) as session:
        partner_row = session.scalars(select(Partner).where(col(Partner.code) == partner)).first()
        if partner_row is None:
            typer.echo(f"no partner {partner!r}", err=True)
            raise typer.Exit(2)
        try:
            partners.create_staff(
                session,
                _cli_admin(partner_row.county_id),
                row_id(partner_row.id),
                username=username,
                display_name=display_name,
                password=fresh,
                must_change=False,
            )
        except DomainError as exc:
            typer.echo(f"{exc.code}: {exc.message}", err=True)
            raise typer.Exit(2) from exc
        kind = partner_row.kind
    typer.echo(f"created {kind} staff {username!r} of partner {partner!r}")


@app.command("link-staff")
def link_staff(
    username: Annotated[str, typer.Option(help="The staff account (official, county admin or auditor)")],
    person: Annotated[int | None, typer.Option(help="Id of the person (villager) the account belongs to")] = None,
    unlink: Annotated[bool, typer.Option(help="The account belongs to nobody of the county")] = False,
) -> None:
    """Say which villager a staff account belongs to, so that they are never the one to decide, award or record
    anything for their own household (the conflict-of-interest rule)."""
    from ledger.core.errors import DomainError
    from ledger.identity.models import User
    from ledger.identity.service import link_staff as link

    if (person is None) == (not unlink):
        typer.echo("give either --person ID or --unlink", err=True)
        raise typer.Exit(2)
    with unit_of_work(_engine(get_settings())) as session:
        user_id = session.scalars(select(col(User.id)).where(col(User.username) == username)).first()
        if user_id is None:
            typer.echo(f"no user {username!r}", err=True)
            raise typer.Exit(2)
        try:
            user = link(session, user_id=user_id, person_id=person, by=None, actor=cli_actor())
        except DomainError as exc:
            typer.echo(f"{exc.code}: {exc.message}", err=True)
            raise typer.Exit(2) from exc
        linked = user.person_id
    typer.echo(f"{username!r} is person {linked}" if linked is not None else f"{username!r} is linked to nobody")


# --- staff accounts ------------------------------------------------------------------------------------------


def _staff_refused(error: DomainError) -> typer.Exit:
    typer.echo(f"{error.code}: {error.message}", err=True)
    return typer.Exit(2)


def _county_id(session: Session, code: str) -> int:
    from ledger.tenancy import County

    county_id = session.scalar(select(col(County.id)).where(col(County.code) == code))
    if county_id is None:
        typer.echo(f"no county {code!r}", err=True)
        raise typer.Exit(2)
    return county_id


def _staff_user_id(session: Session, username: str) -> tuple[int, int]:
    """The id and county of the account with this username."""
    from ledger.identity.models import User

    found = session.execute(select(col(User.id), col(User.county_id)).where(col(User.username) == username)).first()
    if found is None:
        typer.echo(f"no user {username!r}", err=True)
        raise typer.Exit(2)
    return found[0], found[1]


@staff_app.command("add")
def staff_add(
    county: Annotated[str, typer.Option(help="County code")],
    username: Annotated[str, typer.Option()],
    role: Annotated[str, typer.Option(help="official, supervisor, auditor or admin")],
    village: Annotated[list[str] | None, typer.Option(help="Code of a village an official works in (repeat)")] = None,
    township: Annotated[str | None, typer.Option(help="Code of the township a supervisor supervises")] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the office and the journal")] = None,
) -> None:
    """Create a staff account. Prints its password once; its holder sets their own at first sign-in."""
    from ledger.core.errors import DomainError
    from ledger.identity import staff

    if role not in {k.value for k in staff.StaffKind}:
        typer.echo("role is official, supervisor, auditor or admin", err=True)
        raise typer.Exit(2)
    engine = _engine(_read_settings())
    _ready(engine)
    password = staff.new_password()  # argon2 before the transaction
    with unit_of_work(engine) as session:
        county_id = _county_id(session, county)
        try:
            village_ids, township_id = staff.places_by_code(session, county_id, village or [], township)
            user = staff.create(
                session,
                by=staff.command_line(county_id, cli_actor()),
                username=username,
                display_name=display_name or username,
                kind=staff.StaffKind(role),
                password=password,
                village_ids=village_ids,
                township_id=township_id,
            )
        except DomainError as error:
            raise _staff_refused(error) from error
        user_id = user.id
    typer.echo(f"created {role} {username!r} (id {user_id}) in county {county!r}")
    typer.echo(f"one-time password (shown once; to be changed at first sign-in): {password.shown}")


@staff_app.command("list")
def staff_list(county: Annotated[str, typer.Option(help="County code")]) -> None:
    """The county's staff accounts: username, kind, where they work, whether active, and their household."""
    from ledger.identity import staff

    engine = _engine(_read_settings())
    _ready(engine)
    with unit_of_work(engine) as session:
        found = staff.members(session, _county_id(session, county))
    for member in found:
        places = ",".join(member.village_codes) or member.township_code or "-"
        typer.echo(
            "\t".join(
                (
                    member.username or "",
                    member.kind.value,
                    places,
                    "active" if member.active else "disabled",
                    "must-change-password" if member.must_change_password else "-",
                    member.household_code or "-",
                    member.display_name,
                )
            )
        )


@staff_app.command("disable")
def staff_disable(username: Annotated[str, typer.Argument()]) -> None:
    """The account signs in no more; its sessions and tokens end at once."""
    _staff_change(username, "disable")


@staff_app.command("enable")
def staff_enable(username: Annotated[str, typer.Argument()]) -> None:
    """A disabled account may sign in again."""
    _staff_change(username, "enable")


@staff_app.command("reset-password")
def staff_reset_password(username: Annotated[str, typer.Argument()]) -> None:
    """A new password, printed once; every sign-in of the old one ends, and its holder sets their own at first
    sign-in."""
    _staff_change(username, "reset-password")


def _staff_change(username: str, action: str) -> None:
    from ledger.core.errors import DomainError
    from ledger.identity import staff

    engine = _engine(_read_settings())
    _ready(engine)
    password = staff.new_password() if action == "reset-password" else None  # argon2 before the transaction
    with unit_of_work(engine) as session:
        user_id, county_id = _staff_user_id(session, username)
        by = staff.command_line(county_id, cli_actor())
        try:
            if action == "disable":
                staff.disable(session, by=by, user_id=user_id)
            elif action == "enable":
                staff.enable(session, by=by, user_id=user_id)
            else:
                assert password is not None
                staff.reset_password(session, by=by, user_id=user_id, password=password)
        except DomainError as error:
            raise _staff_refused(error) from error
    if password is not None:
        typer.echo(
            f"new one-time password for {username!r} (shown once; to be changed at first sign-in): {password.shown}"
        )
    else:
        typer.echo(f"{username!r} {action}d")


@app.command("roster-template")
def roster_template(
    out: Annotated[Path, typer.Option(help="Where to write the template")],
    format: Annotated[str, typer.Option(help="csv or xlsx")] = "xlsx",  # noqa: A002
) -> None:
    """Write the empty roster template: the Chinese headers in order, no rows (docs/roster.md)."""
    from ledger import roster

    if format not in ("csv", "xlsx"):
        typer.echo("--format is csv or xlsx", err=True)
        raise typer.Exit(2)
    out.write_bytes(roster.template("csv" if format == "csv" else "xlsx"))
    typer.echo(f"wrote {out}")


@app.command("roster-import")
def roster_import(
    file: Annotated[Path, typer.Argument(help="The roster, .xlsx or .csv", exists=True, dir_okay=False)],
    county: Annotated[str, typer.Option(help="County code")],
    dry_run: Annotated[bool, typer.Option(help="Check and report, write nothing")] = False,
    create_places: Annotated[bool, typer.Option(help="Create townships and villages the county lacks")] = False,
    quiet: Annotated[bool, QUIET] = False,
) -> None:
    """Import a county's roster, all or nothing, and print the report: the counts, then each problem by row.
    Exits 1 when the roster has problems (nothing is written then)."""
    from api.progress import reporter
    from ledger import roster
    from ledger.core.errors import DomainError

    engine = _engine(_read_settings())
    _ready(engine)
    try:
        table = roster.read_file(file.read_bytes(), file.name)
        with reporter(quiet=quiet) as progress, unit_of_work(engine) as session:
            report = roster.apply(
                session,
                county_id=row_id(_county(session, county).id),
                table=table,
                dry_run=dry_run,
                create_places=create_places,
                actor=cli_actor(),
                by=None,
                progress=progress,
            )
    except DomainError as exc:
        typer.echo(f"{exc.code}: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    lines = roster_lines(report.as_dict())
    if quiet:  # the problems are the errors: on stderr
        for line in lines[3:]:
            if line.startswith("row "):
                typer.echo(line, err=True)
    else:
        for line in lines:
            typer.echo(line)
    typer.echo(roster_summary(report.as_dict()))
    if report.problems:
        raise typer.Exit(1)


def roster_summary(r: dict[str, Any]) -> str:
    """The one line the command ends with."""
    done = "imported" if r["applied"] else ("NOT imported" if r["problems"] else "dry run, nothing written")
    h, m = r["households"], r["members"]
    return (
        f"roster {done}: {r['rows']} rows, {len(r['problems'])} problems; households {h['added']} added, "
        f"{h['changed']} changed; members {m['added']} added, {m['changed']} changed, {m['moved']} moved"
    )


def roster_lines(r: dict[str, Any]) -> list[str]:
    """The report as the command prints it: what it did, the counts, then the problems by row."""
    done = "imported" if r["applied"] else ("not imported: problems" if r["problems"] else "dry run: nothing written")
    h, m = r["households"], r["members"]
    lines = [
        f"roster {done} ({r['rows']} rows, sha256 {r['sha256']})",
        f"households: {h['added']} added, {h['changed']} changed, {h['unchanged']} unchanged, "
        f"{h['missing']} missing from the file",
        f"members: {m['added']} added, {m['changed']} changed, {m['unchanged']} unchanged, {m['moved']} moved, "
        f"{m['missing']} missing from the file",
    ]
    if r["new_places"]:
        places = ", ".join(p["township"] + ("/" + p["village"] if p["village"] else "") for p in r["new_places"])
        lines.append(f"new places: {places}")
    if r["ignored_columns"]:
        lines.append(f"ignored columns (not stored): {', '.join(r['ignored_columns'])}")
    if r["missing_households"]:
        lines.append(f"households missing from the file (kept): {', '.join(r['missing_households'][:50])}")
    for p in r["problems"]:
        lines.append(f"row {p['row']} {p['column'] or ''}: {p['code']}: {p['message']}")
    return lines
