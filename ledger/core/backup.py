"""Backups that say what they hold, and restores that check it.

A backup is one tar file:

- `shanzhi-backup.json` first: the format, the database engine, the schema's migration revision, the number of
  rows of every table and of evidence photos, taken from the same snapshot as the data;
- the database: `database.sqlite` (a copy made through SQLite's online backup API) or `database.pgdump`
  (`pg_dump --format=custom`);
- `photos/…`: the evidence photos of the upload folder, by their SHA-256 (unless left out).

It is written next to its final name and renamed into place, so a file of that name is always a whole backup.

SQLite is copied while the service serves and writes: the copying connection holds one read snapshot for the
whole copy (WAL mode lets writers go on meanwhile), so the copy is the database as of one moment. Without that
snapshot SQLite restarts the copy whenever another connection writes, and under a steady trickle of writes it
never ends. PostgreSQL is counted in a REPEATABLE READ transaction whose snapshot `pg_dump --snapshot` shares.

A restore refuses before it changes anything: a file that is not a backup, a backup of the other engine or of a
schema newer than this code, a SQLite file another process has open (the service: stop it first), a database that
holds data unless the operator says `replace`. Afterwards it counts the rows again and compares them with the
backup's own counts. Only this module runs pg_dump and pg_restore; the connection's password reaches them through
their environment, never their command line (which `ps` shows to every user of the machine)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, func, inspect, select, table, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from ledger.core import migrations
from ledger.core.db import is_sqlite, make_engine
from ledger.core.errors import Conflict, DomainError, Invalid
from ledger.core.progress import Report, silent

FORMAT = "shanzhi-backup"
VERSION = 1
MANIFEST = "shanzhi-backup.json"
SQLITE_MEMBER = "database.sqlite"
PG_MEMBER = "database.pgdump"
PHOTOS = "photos"
SQLITE_PAGES_PER_STEP = 1024  # pages copied between two progress reports (4 MB at SQLite's default page size)
_PHOTO = re.compile(r"([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")  # ledger/claims/evidence.py: path_of
_CHUNK = 1024 * 1024


class NotABackup(Invalid):
    code = "not_a_backup"


class WrongEngine(Invalid):
    code = "backup_of_another_engine"


class NewerSchema(Invalid):
    code = "backup_from_newer_schema"


class NoSchema(Invalid):
    code = "database_has_no_schema"


class TargetHoldsData(Conflict):
    code = "restore_target_holds_data"


class TargetInUse(Conflict):
    code = "restore_target_in_use"


class ToolMissing(DomainError):
    code = "postgres_tools_missing"


class ToolFailed(DomainError):
    code = "postgres_tool_failed"


class CountsDisagree(DomainError):
    code = "backup_counts_disagree"


class DatabaseProblem(DomainError):
    code = "database_unreadable"


@contextmanager
def _database_errors() -> Iterator[None]:
    """A database that cannot be reached or is not one, said in a sentence (the command line shows no trace)."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise DatabaseProblem(f"the SQLite database could not be read or written: {exc}") from exc
    except DBAPIError as exc:
        raise DatabaseProblem(f"the database could not be reached: {str(exc.orig).strip()}") from exc


@dataclass(frozen=True)
class Manifest:
    engine: str  # "sqlite" or "postgresql"
    revision: str  # the schema's Alembic revision
    counts: dict[str, int]  # rows per table (alembic_version included)
    photos: int  # listed after the snapshot (one the retention purge deletes meanwhile is left out of the file)
    created_at: str  # ISO 8601, UTC
    format: str = FORMAT
    version: int = VERSION

    @property
    def rows(self) -> int:
        return sum(n for name, n in self.counts.items() if name != "alembic_version")

    def dumps(self) -> bytes:
        return json.dumps(
            {
                "format": self.format,
                "version": self.version,
                "engine": self.engine,
                "revision": self.revision,
                "created_at": self.created_at,
                "photos": self.photos,
                "counts": self.counts,
            },
            ensure_ascii=False,
            indent=2,
            sort_keys=True,
        ).encode()

    @classmethod
    def loads(cls, raw: bytes, where: Path) -> Manifest:
        try:
            data = json.loads(raw)
            if data.get("format") != FORMAT:
                raise ValueError(data.get("format"))
            if data.get("version") != VERSION:
                raise NotABackup(
                    f"{where} is a backup of format version {data.get('version')}; this version reads {VERSION}",
                    file=str(where),
                )
            return cls(
                engine=str(data["engine"]),
                revision=str(data["revision"]),
                counts={str(k): int(v) for k, v in dict(data["counts"]).items()},
                photos=int(data["photos"]),
                created_at=str(data["created_at"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise NotABackup(
                f"{where} is not a Shanzhi backup (its description is unreadable)", file=str(where)
            ) from exc


@dataclass(frozen=True)
class Restored:
    manifest: Manifest
    head_revision: str | None  # this code's newest schema revision
    photos_written: int
    photos_there: int  # photos of the backup the upload folder held already
    counts: dict[str, int] = field(default_factory=dict)  # rows per table in the restored database

    @property
    def behind(self) -> bool:
        """The backup's schema is older than this code's: the operator runs `shanzhi db upgrade` next."""
        return self.manifest.revision != self.head_revision


# ---------------------------------------------------------------------------------------------------- backup


def backup(
    url: str,
    to: Path,
    *,
    upload_dir: Path,
    photos: bool = True,
    report: Report = silent,
    pg_bin_dir: Path | None = None,
) -> Manifest:
    """Write a backup of the database at `url` (and the evidence photos of `upload_dir`) to `to`."""
    with _database_errors():
        return _backup(url, Path(to), upload_dir=upload_dir, photos=photos, report=report, pg_bin_dir=pg_bin_dir)


def _backup(url: str, to: Path, *, upload_dir: Path, photos: bool, report: Report, pg_bin_dir: Path | None) -> Manifest:
    _refuse_overwriting(url, to)
    to.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=to.parent, prefix=f".{to.name}.") as work:
        if is_sqlite(url):
            member, dumped = SQLITE_MEMBER, Path(work) / SQLITE_MEMBER
            engine, revision, counts = "sqlite", *_sqlite_copy(_sqlite_path(url), dumped, report)
        else:
            member, dumped = PG_MEMBER, Path(work) / PG_MEMBER
            engine, revision, counts = "postgresql", *_pg_dump(url, dumped, report, pg_bin_dir)
        found = sorted(_photo_files(upload_dir)) if photos else []
        manifest = Manifest(
            engine=engine,
            revision=revision,
            counts=counts,
            photos=len(found),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        partial = Path(work) / "backup.tar"
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, MANIFEST, manifest.dumps())
            tar.add(dumped, arcname=member)
            for done, (name, path) in enumerate(found, 1):
                try:
                    tar.add(path, arcname=f"{PHOTOS}/{name}")  # opened before its header is written
                except FileNotFoundError:
                    # The retention purge deleted it since the database's snapshot. The restored database still
                    # names it unpurged, and its own purge marks it so again.
                    pass
                if done % 100 == 0 or done == len(found):
                    report("photos copied", done, len(found))
        os.chmod(partial, 0o600)  # it holds every name and phone number: readable by the service's user only
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, to)
    _sync_folder(to.parent)
    return manifest


def _refuse_overwriting(url: str, to: Path) -> None:
    """A backup never lands on the database itself, nor over a file that is not a backup (arguments swapped)."""
    if is_sqlite(url):
        database = _sqlite_path(url).resolve()
        if to.resolve() in {database, Path(f"{database}-wal"), Path(f"{database}-shm")}:
            raise Invalid(f"{to} is the database itself; write the backup to another file", file=str(to))
    if to.exists():
        try:
            read_manifest(to)
        except NotABackup as exc:
            raise Invalid(f"{to} exists and is not a Shanzhi backup; refusing to overwrite it", file=str(to)) from exc


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise Invalid("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def _sqlite_copy(source: Path, target: Path, report: Report) -> tuple[str, dict[str, int]]:
    """Copy a live SQLite database page by page as of one moment; return its revision and row counts."""
    if not source.exists():
        raise NoSchema(f"there is no database at {source}; nothing to back up")
    with closing(sqlite3.connect(source, isolation_level=None, timeout=30)) as live:
        live.execute("BEGIN")  # a read snapshot, held until the copy is done: writers go on, the copy stays still
        live.execute("SELECT count(*) FROM sqlite_master").fetchone()
        with closing(sqlite3.connect(target)) as copy:

            def step(_status: int, remaining: int, total: int) -> None:
                report("database pages copied", total - remaining, total)

            live.backup(copy, pages=SQLITE_PAGES_PER_STEP, progress=step)
        live.execute("ROLLBACK")
    with closing(sqlite3.connect(target)) as copy:
        checked = copy.execute("PRAGMA quick_check").fetchone()[0]
        if checked != "ok":
            raise ToolFailed(f"the copy of {source} is damaged: {checked}")
    revision, counts = _described(f"sqlite:///{target}")
    return revision, counts


def _described(url: str, conn: Connection | None = None) -> tuple[str, dict[str, int]]:
    """The schema's revision and the rows of every table of the database (in `conn`'s transaction if given)."""
    if conn is None:
        engine = make_engine(url)
        try:
            with engine.connect() as fresh:
                return _described(url, fresh)
        finally:
            engine.dispose()
    counts = _counts(conn)
    if "alembic_version" not in counts:
        raise NoSchema("the database has no schema yet (run `shanzhi db upgrade`); nothing to back up")
    revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if revision is None:
        raise NoSchema("the database has no schema yet (run `shanzhi db upgrade`); nothing to back up")
    return str(revision), counts


def _counts(conn: Connection) -> dict[str, int]:
    return {
        name: int(conn.execute(select(func.count()).select_from(table(name))).scalar_one())
        for name in sorted(inspect(conn).get_table_names())
    }


def _photo_files(upload_dir: Path) -> Iterator[tuple[str, Path]]:
    """The evidence photos of the upload folder, by their name under it (other files there are not photos)."""
    root = Path(upload_dir)
    if not root.is_dir():
        return
    for path in root.glob("??/??/*"):
        name = path.relative_to(root).as_posix()
        if _PHOTO.fullmatch(name) and path.is_file():
            yield name, path


def _add_bytes(tar: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    info.mtime = int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(content))


def _sync_folder(folder: Path) -> None:
    """The rename itself reaches the disk (a crash right after still finds the file)."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


# ---------------------------------------------------------------------------------------------------- restore


def read_manifest(path: Path) -> Manifest:
    """What a backup holds, read from its first member; NotABackup for any other file."""
    path = Path(path)
    if not path.is_file():
        raise NotABackup(f"there is no file {path}", file=str(path))
    try:
        with tarfile.open(path, "r:") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isfile():
                raise NotABackup(f"{path} is not a Shanzhi backup", file=str(path))
            handle = tar.extractfile(first)
            assert handle is not None  # a regular file
            return Manifest.loads(handle.read(), path)
    except tarfile.TarError as exc:
        raise NotABackup(f"{path} is not a Shanzhi backup", file=str(path)) from exc


def check_revision(manifest: Manifest) -> str | None:
    """Refuse a backup of a schema this code does not know (a newer version made it); return this code's head."""
    scripts = ScriptDirectory.from_config(migrations.config())
    try:
        known = scripts.get_revision(manifest.revision)
    except CommandError:
        known = None
    if known is None:
        raise NewerSchema(
            f"the backup's schema ({manifest.revision}) is newer than this version of Shanzhi knows; restore it "
            "with the version that made it",
            revision=manifest.revision,
        )
    return scripts.get_current_head()


def restore(
    url: str,
    source: Path,
    *,
    upload_dir: Path,
    replace: bool = False,
    report: Report = silent,
    pg_bin_dir: Path | None = None,
) -> Restored:
    """Restore the backup `source` into the database at `url` and its photos into `upload_dir`."""
    with _database_errors():
        return _restore(url, Path(source), upload_dir=upload_dir, replace=replace, report=report, pg_bin_dir=pg_bin_dir)


def _restore(
    url: str, source: Path, *, upload_dir: Path, replace: bool, report: Report, pg_bin_dir: Path | None
) -> Restored:
    manifest = read_manifest(source)
    engine = "sqlite" if is_sqlite(url) else "postgresql"
    if manifest.engine != engine:
        raise WrongEngine(
            f"{source} is a backup of a {manifest.engine} database; SHANZHI_DATABASE_URL names a {engine} one"
        )
    head = check_revision(manifest)
    with tarfile.open(source, "r:") as tar:
        _check_members(tar, SQLITE_MEMBER if engine == "sqlite" else PG_MEMBER)
        if engine == "sqlite":
            _sqlite_restore(url, tar, manifest, replace=replace, report=report)
        else:
            _pg_restore(url, tar, manifest, replace=replace, report=report, pg_bin_dir=pg_bin_dir)
        written, there = _restore_photos(tar, Path(upload_dir), manifest, report)
    _, counts = _described(url)
    if counts != manifest.counts:
        raise CountsDisagree(
            "the restored database does not hold what the backup says: "
            + ", ".join(
                f"{name} {counts.get(name, 0)} (backup {manifest.counts.get(name, 0)})"
                for name in sorted(set(counts) | set(manifest.counts))
                if counts.get(name, 0) != manifest.counts.get(name, 0)
            )
        )
    return Restored(manifest=manifest, head_revision=head, photos_written=written, photos_there=there, counts=counts)


def _check_members(tar: tarfile.TarFile, database: str) -> None:
    """Before anything is written: the backup holds its description, its database and photos, each a plain file
    under the name it must have (so a crafted member can never land outside the upload folder)."""
    for info in tar:
        name = info.name
        if not info.isfile() or not (
            name in (MANIFEST, database)
            or (name.startswith(f"{PHOTOS}/") and _PHOTO.fullmatch(name.removeprefix(f"{PHOTOS}/")))
        ):
            raise NotABackup(f"the backup holds {name!r}, which is not its database nor an evidence photo")


@contextmanager
def _extracted(tar: tarfile.TarFile, member: str, folder: Path) -> Iterator[Path]:
    """The backup's database member as a file in `folder` (removed afterwards)."""
    try:
        info = tar.getmember(member)
    except KeyError as exc:
        raise NotABackup(f"the backup holds no {member}") from exc
    handle = tar.extractfile(info)
    if handle is None:
        raise NotABackup(f"the backup's {member} is not a file")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".shanzhi-restore-") as work:
        path = Path(work) / member
        with open(path, "wb") as out:
            shutil.copyfileobj(handle, out, _CHUNK)
        yield path


def _sqlite_restore(url: str, tar: tarfile.TarFile, manifest: Manifest, *, replace: bool, report: Report) -> None:
    target = _sqlite_path(url)
    with _extracted(tar, SQLITE_MEMBER, target.parent) as copy:
        with closing(sqlite3.connect(copy)) as saved:
            checked = saved.execute("PRAGMA quick_check").fetchone()[0]
        _, counts = _described(f"sqlite:///{copy}")
        if checked != "ok" or counts != manifest.counts:
            raise NotABackup("the backup's database is damaged or does not hold what its description says")
        with closing(sqlite3.connect(target, isolation_level=None, timeout=0.2)) as live:
            # Exclusive locking mode: once taken, the lock stays with this connection until it closes, so nothing
            # gets in between the check and the copy. Another process with the file open (the service, the
            # worker) keeps it from being taken at all, even idle.
            live.execute("PRAGMA locking_mode = EXCLUSIVE")
            try:
                live.execute("BEGIN EXCLUSIVE")
            except sqlite3.OperationalError as exc:
                raise TargetInUse(
                    f"{target} is in use by another process: stop the service and the worker, then restore"
                ) from exc
            held = _rows_held(live)
            live.execute("COMMIT")
            if held and not replace:
                raise TargetHoldsData(
                    f"{target} holds {held} rows; restoring would replace them. Restore into a new file, or pass "
                    "--replace if replacing them is what you mean",
                    rows=held,
                )
            with closing(sqlite3.connect(copy)) as saved:

                def step(_status: int, remaining: int, total: int) -> None:
                    report("database pages restored", total - remaining, total)

                saved.backup(live, pages=SQLITE_PAGES_PER_STEP, progress=step)


def _rows_held(live: sqlite3.Connection) -> int:
    names = [
        row[0]
        for row in live.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND name <> 'alembic_version'"
        )
    ]
    return sum(int(live.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]) for name in names)


def _restore_photos(tar: tarfile.TarFile, upload_dir: Path, manifest: Manifest, report: Report) -> tuple[int, int]:
    """Write the backup's photos that the upload folder lacks. A photo's name is its SHA-256, so one already
    there is the same photo; a member whose name is not a photo's is never written anywhere."""
    written = done = 0
    for info in tar:
        if not info.name.startswith(f"{PHOTOS}/"):
            continue
        name = info.name.removeprefix(f"{PHOTOS}/")
        handle = tar.extractfile(info)
        assert handle is not None  # a plain file named like a photo: _check_members let nothing else through
        done += 1
        path = upload_dir / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, draft = tempfile.mkstemp(dir=path.parent, prefix=".restore-")
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(handle, out, _CHUNK)
            os.replace(draft, path)
            written += 1
        if done % 100 == 0 or done == manifest.photos:
            report("photos restored", done, manifest.photos)
    return written, done - written


# ---------------------------------------------------------------------------------------------------- PostgreSQL

_LIBPQ_QUERY = {  # URL query parameters that libpq also reads from its environment
    "options": "PGOPTIONS",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
}


def libpq_environment(url: str | URL) -> dict[str, str]:
    """The connection of `url` as libpq environment variables: the password travels here, not on a command line
    (the command lines of every process are visible to every user of the machine). Without a password in the URL
    libpq reads ~/.pgpass or PGPASSFILE as usual."""
    parsed = make_url(url)
    env = {
        "PGHOST": parsed.host or "",
        "PGPORT": str(parsed.port or ""),
        "PGUSER": parsed.username or "",
        "PGPASSWORD": parsed.password if isinstance(parsed.password, str) else "",
        "PGDATABASE": parsed.database or "",
    }
    for key, value in parsed.query.items():
        if key in _LIBPQ_QUERY:
            env[_LIBPQ_QUERY[key]] = value if isinstance(value, str) else value[-1]
    return {name: value for name, value in env.items() if value}


def find_tool(name: str, server_major: int, bin_dir: Path | None = None) -> Path:
    """pg_dump or pg_restore of the server's major version or newer: in `bin_dir` if given, else Debian's
    /usr/lib/postgresql/<version>/bin (newest first), else on PATH."""
    if bin_dir is not None:
        candidates = [Path(bin_dir) / name]
    else:
        versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=_folder_major, reverse=True)
        on_path = shutil.which(name)
        candidates = [*versions, *([Path(on_path)] if on_path else [])]
    found = []
    for candidate in candidates:
        major = _tool_major(candidate)
        if major is not None:
            found.append(f"{candidate} ({major})")
            if major >= server_major:
                return candidate
    where = f" in {bin_dir}" if bin_dir is not None else ""
    raise ToolMissing(
        f"{name} of PostgreSQL {server_major} or newer is not installed{where}"
        + (f" (found only {', '.join(found)})" if found else "")
        + f": install it (Debian: apt install postgresql-client-{server_major}) or set SHANZHI_PG_BIN_DIR",
        tool=name,
    )


def _folder_major(path: Path) -> int:
    try:
        return int(path.parent.parent.name)
    except ValueError:
        return 0


def _tool_major(path: Path) -> int | None:
    if not (path.is_file() and os.access(path, os.X_OK)):
        return None
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    except OSError:
        return None
    match = re.search(r"\)\s*(\d+)", out)
    return int(match.group(1)) if match else None


def _server_major(conn: Connection) -> int:
    return int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000


def _pg_dump(url: str, target: Path, report: Report, bin_dir: Path | None) -> tuple[str, dict[str, int]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                tool = find_tool("pg_dump", _server_major(conn), bin_dir)
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                revision, counts = _described(url, conn)
                # pg_dump reads the very snapshot counted above, while this transaction keeps it alive.
                _run(
                    [str(tool), "--format=custom", "--verbose", f"--snapshot={snapshot}", f"--file={target}"],
                    url,
                    progress=("dumping contents of table", "tables dumped", len(counts)),
                    report=report,
                )
    finally:
        engine.dispose()
    return revision, counts


def _pg_restore(
    url: str, tar: tarfile.TarFile, manifest: Manifest, *, replace: bool, report: Report, pg_bin_dir: Path | None
) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            server = _server_major(conn)
            tables = inspect(conn).get_table_names()
            held = sum(n for name, n in _counts(conn).items() if name != "alembic_version")
            others = conn.execute(
                text(
                    "SELECT coalesce(nullif(application_name, ''), host(client_addr), 'local') FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND backend_type = 'client backend'"
                )
            ).scalars()
            connected = sorted(set(others))
            conn.rollback()
    finally:
        engine.dispose()
    if connected:
        raise TargetInUse(
            f"the database {make_url(url).database} has other sessions connected ({', '.join(connected)}): stop the "
            "service and the worker, then restore"
        )
    extra = sorted(set(tables) - set(manifest.counts))
    if extra:
        # pg_restore --clean drops only what the backup holds: these would stay, next to an older schema.
        raise TargetHoldsData(
            f"the database {make_url(url).database} has tables the backup does not ({', '.join(extra[:5])}"
            f"{', …' if len(extra) > 5 else ''}): restore into a new database (createdb)",
            tables=extra,
        )
    if held and not replace:
        raise TargetHoldsData(
            f"the database {make_url(url).database} holds {held} rows; restoring would replace them. Restore into "
            "a new database (createdb), or pass --replace if replacing them is what you mean",
            rows=held,
        )
    tool = find_tool("pg_restore", server, pg_bin_dir)
    with _extracted(tar, PG_MEMBER, Path(tempfile.gettempdir())) as dump:
        # One transaction: a restore that fails half-way leaves the database as it was. Tables already there (an
        # empty migrated schema, or data the operator agreed to replace) are dropped first.
        clean = ["--clean", "--if-exists"] if tables else []
        _run(
            [
                str(tool),
                "--exit-on-error",
                "--single-transaction",
                "--no-owner",
                "--no-privileges",
                "--verbose",
                *clean,
                f"--dbname={make_url(url).database}",
                str(dump),
            ],
            url,
            progress=("processing data for table", "tables restored", len(manifest.counts)),
            report=report,
        )


def _run(args: list[str], url: str, *, progress: tuple[str, str, int], report: Report) -> None:
    """Run a PostgreSQL tool with the connection in its environment; count its verbose lines as progress."""
    marker, what, total = progress
    env = {**os.environ, **libpq_environment(url)}
    said: list[str] = []
    done = 0
    process = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True
    )
    assert process.stderr is not None  # piped above
    for line in process.stderr:
        if marker in line:
            done += 1
            report(what, min(done, total), total)
        elif "error" in line.lower() or "warning" in line.lower():
            said.append(line.rstrip())
    if process.wait() != 0:
        raise ToolFailed(
            f"{Path(args[0]).name} failed (exit {process.returncode})" + (": " + " | ".join(said[-10:]) if said else "")
        )
