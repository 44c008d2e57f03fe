"""`shanzhi backup` and `shanzhi restore` as an operator runs them: a backup taken while officials keep awarding
points restores into a database that `verify` passes, whose chain still holds a head pinned before the backup, and
that holds a prefix of the awards (everything committed before the backup's moment, nothing after). On SQLite the
copy runs page by page while the writes go on; on PostgreSQL into databases of their own, created and dropped
here. Then what a restore refuses: files that are not backups, newer schemas, data it would replace, a database in
use, photos with names that are not photos'."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from ledger.catalogue import service as catalogue
from ledger.claims import service as claims
from ledger.core import backup as backups
from ledger.core import migrations
from ledger.core.db import make_engine, unit_of_work
from ledger.core.errors import DomainError
from ledger.tenancy import County
from tests import factories
from tests.conftest import ON_POSTGRES, TEST_DATABASE_URL
from tests.demo_server import DEMO_SECRET, SHANZHI

# Awards an official may give each household once (the matters' caps), without evidence
AWARDS = ["garbage_sorting", "volunteering", "dispute_mediation", "dispute_mediation", *["neighbourly_help"] * 3]


def cli(*args: str, cwd: Path, url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SHANZHI, *args],
        cwd=cwd,
        env={
            **os.environ,
            "SHANZHI_ENV": "dev",
            "SHANZHI_JWT_SECRET": DEMO_SECRET,
            "SHANZHI_DATABASE_URL": url,
            "SHANZHI_UPLOAD_DIR": str(cwd / "uploads"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


class Village:
    """A village with households and an official who awards them points."""

    def __init__(self, url: str, households: int) -> None:
        engine = make_engine(url)
        with unit_of_work(engine) as session:
            village = factories.create_village(session)
            catalogue.load_default(session, county_id=village.county_id)
            self.homes = [factories.create_household(session, village.village_id)[0] for _ in range(households)]
            self.official = factories.create_official(session, village.county_id, [village.village_id])
            county = session.get(County, village.county_id)
            self.county = factories.not_none(county).code
        engine.dispose()
        self.awards = iter([(home, matter) for matter in AWARDS for home in self.homes])


class Awarding(threading.Thread):
    """Awards one household after another, each in its own transaction, until stopped; `committed` lists the
    claims in the order their transactions committed."""

    def __init__(self, url: str, village: Village) -> None:
        super().__init__(daemon=True)
        self.url, self.village = url, village
        self.committed: list[int] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        engine = make_engine(self.url)
        try:
            for home, matter in self.village.awards:
                if self.stop.is_set():
                    return
                with unit_of_work(engine) as session:
                    made = claims.submit_award(
                        session,
                        factories.principal_of(session, self.village.official),
                        household_id=home,
                        matter_code=matter,
                        reason="Helped the village.",
                        person_id=None,
                        details=claims.Details(),
                        idempotency_key=None,
                    )
                    claim_id = factories.id_of(made.value)
                self.committed.append(claim_id)
                time.sleep(0.005)  # an office's pace, not a benchmark's
        except BaseException as exc:  # the test reports it
            self.error = exc
        finally:
            engine.dispose()

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 60
        while len(self.committed) < count:
            assert self.error is None, self.error
            assert self.is_alive() and time.monotonic() < deadline, "the awards stopped"
            time.sleep(0.01)

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=60)
        assert self.error is None, self.error


def claims_in(url: str) -> list[int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        found = [int(i) for i in conn.execute(text("SELECT id FROM claim ORDER BY id")).scalars()]
    engine.dispose()
    return found


def assert_prefix(restored: list[int], committed: list[int], *, before: int) -> None:
    """The restored database holds the first awards and none after them: it is the ledger as of one moment."""
    assert restored == committed[: len(restored)]
    assert before <= len(restored) < len(committed), (before, len(restored), len(committed))


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("migrated") / "migrated.db"
    engine = make_engine(f"sqlite:///{path}")
    migrations.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def sqlite_url(migrated: Path, tmp_path: Path) -> str:
    """A SQLite file of its own, migrated and empty (whichever database the other tests run on)."""
    target = tmp_path / "live.db"
    shutil.copyfile(migrated, target)
    return f"sqlite:///{target}"


# ---------------------------------------------------------------------------------------------------- SQLite


def test_a_sqlite_backup_taken_while_awards_go_on_restores_to_a_verified_prefix(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    village = Village(sqlite_url, 100)
    awarding = Awarding(sqlite_url, village)
    awarding.start()
    awarding.wait_for(5)
    pinned = tmp_path / "pinned.jws"
    ok(cli("head", "--county", village.county, "--out", str(pinned), cwd=tmp_path, url=sqlite_url))
    before = len(awarding.committed)

    # One page per step, a little wait between steps: the copy takes long enough for many awards to commit.
    monkeypatch.setattr(backups, "SQLITE_PAGES_PER_STEP", 1)
    during: list[int] = []

    def report(what: str, done: int, total: int | None) -> None:
        if what == "database pages copied":
            during.append(len(awarding.committed))
            time.sleep(0.01)

    manifest = backups.backup(sqlite_url, tmp_path / "ledger.backup", upload_dir=tmp_path / "uploads", report=report)
    awarding.wait_for(len(awarding.committed) + 3)
    awarding.finish()
    assert during[-1] > during[0], "no award committed while the pages were copied"
    assert manifest.engine == "sqlite" and manifest.revision == migrations.head_revision()
    assert manifest.counts["claim"] >= before

    restored = f"sqlite:///{tmp_path / 'restored.db'}"
    said = ok(cli("restore", "--from", str(tmp_path / "ledger.backup"), cwd=tmp_path, url=restored))
    assert "every table as the backup counted it" in said
    assert "db upgrade" not in said  # same schema as this code
    assert "ledger verified" in ok(cli("verify", cwd=tmp_path, url=restored))
    assert "pinned head intact" in ok(
        cli("head", "--county", village.county, "--check", str(pinned), cwd=tmp_path, url=restored)
    )
    assert_prefix(claims_in(restored), awarding.committed, before=before)
    assert len(claims_in(restored)) == manifest.counts["claim"]


def test_restore_refuses_to_replace_data_or_a_database_in_use_without_changing_it(
    sqlite_url: str, tmp_path: Path
) -> None:
    village = Village(sqlite_url, 3)
    awarding = Awarding(sqlite_url, village)
    awarding.start()
    awarding.wait_for(3)
    awarding.finish()
    ok(cli("backup", "--to", str(tmp_path / "b.tar"), "--quiet", cwd=tmp_path, url=sqlite_url))
    backed_up = claims_in(sqlite_url)
    live = make_url(sqlite_url).database or ""

    # The operator swaps the arguments or points the wrong way: nothing happens to the database.
    swapped = cli("restore", "--from", live, cwd=tmp_path, url=sqlite_url)
    assert swapped.returncode == 2 and "not_a_backup" in swapped.stderr
    onto_itself = cli("backup", "--to", live, cwd=tmp_path, url=sqlite_url)
    assert onto_itself.returncode == 2 and "is the database itself" in onto_itself.stderr
    (tmp_path / "notes.txt").write_text("not a backup")
    over_other = cli("backup", "--to", str(tmp_path / "notes.txt"), cwd=tmp_path, url=sqlite_url)
    assert over_other.returncode == 2 and "not a Shanzhi backup" in over_other.stderr
    assert (tmp_path / "notes.txt").read_text() == "not a backup"

    # A database with data: refused without --replace.
    awarding = Awarding(sqlite_url, village)
    awarding.start()
    awarding.wait_for(2)
    awarding.finish()
    with_later = claims_in(sqlite_url)
    held = cli("restore", "--from", str(tmp_path / "b.tar"), cwd=tmp_path, url=sqlite_url)
    assert held.returncode == 2 and "restore_target_holds_data" in held.stderr and "--replace" in held.stderr
    assert claims_in(sqlite_url) == with_later

    # In use by another process (the service): refused even with --replace.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('SELECT 1 FROM claim').fetchall();"
            " print('open', flush=True); sys.stdin.read()",
            live,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        in_use = cli("restore", "--from", str(tmp_path / "b.tar"), "--replace", cwd=tmp_path, url=sqlite_url)
        assert in_use.returncode == 2 and "restore_target_in_use" in in_use.stderr
        assert claims_in(sqlite_url) == with_later
    finally:
        holder.communicate("", timeout=30)

    # Stopped, and asked to replace: the database is the backup's again, and verified.
    ok(cli("restore", "--from", str(tmp_path / "b.tar"), "--replace", cwd=tmp_path, url=sqlite_url))
    assert claims_in(sqlite_url) == backed_up and len(with_later) > len(backed_up)
    assert "ledger verified" in ok(cli("verify", cwd=tmp_path, url=sqlite_url))


def _rewritten(source: Path, target: Path, **manifest_changes: object) -> Path:
    """A copy of a backup with its description changed (what a backup made by another version would say)."""
    with tarfile.open(source) as old, tarfile.open(target, "w") as new:
        for info in old:
            handle = old.extractfile(info)
            content = handle.read() if handle else b""
            if info.name == backups.MANIFEST:
                content = json.dumps({**json.loads(content), **manifest_changes}).encode()
            info.size = len(content)
            new.addfile(info, io.BytesIO(content))
    return target


def test_a_backup_of_a_newer_schema_is_refused_and_an_older_one_asks_for_an_upgrade(
    sqlite_url: str, tmp_path: Path
) -> None:
    ok(cli("backup", "--to", str(tmp_path / "b.tar"), cwd=tmp_path, url=sqlite_url))
    newer = _rewritten(tmp_path / "b.tar", tmp_path / "newer.tar", revision="f00dfeedbeef")
    target = f"sqlite:///{tmp_path / 'restored.db'}"
    refused = cli("restore", "--from", str(newer), cwd=tmp_path, url=target)
    assert refused.returncode == 2 and "backup_from_newer_schema" in refused.stderr
    assert not (tmp_path / "restored.db").exists()

    old = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{old}")
    migrations.upgrade(engine)
    migrations.downgrade(engine, "-1")
    older_revision = migrations.current_revision(engine)
    engine.dispose()
    ok(cli("backup", "--to", str(tmp_path / "older.tar"), cwd=tmp_path, url=f"sqlite:///{old}"))
    said = ok(cli("restore", "--from", str(tmp_path / "older.tar"), cwd=tmp_path, url=target))
    assert f"({older_revision}) is older than this version's" in said and "shanzhi db upgrade" in said
    ok(cli("db", "upgrade", cwd=tmp_path, url=target))
    assert "ledger verified" in ok(cli("verify", cwd=tmp_path, url=target))

    other_engine = _rewritten(tmp_path / "b.tar", tmp_path / "pg.tar", engine="postgresql")
    crossed = cli("restore", "--from", str(other_engine), cwd=tmp_path, url=f"sqlite:///{tmp_path / 'x.db'}")
    assert crossed.returncode == 2 and "backup_of_another_engine" in crossed.stderr


def test_the_evidence_photos_travel_with_the_backup_and_nothing_else_of_the_upload_folder(
    sqlite_url: str, tmp_path: Path
) -> None:
    uploads = tmp_path / "uploads"
    sha = "ab" + "cd" + "e" * 60
    photo = uploads / "ab" / "cd" / sha
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"\xff\xd8 a photo")
    (uploads / "roster").mkdir()
    (uploads / "roster" / "draft.xlsx").write_bytes(b"a roster between preview and confirmation")
    said = ok(cli("backup", "--to", str(tmp_path / "b.tar"), cwd=tmp_path, url=sqlite_url))
    assert "1 photos" in said
    with tarfile.open(tmp_path / "b.tar") as tar:
        names = tar.getnames()
    assert names[0] == backups.MANIFEST and f"photos/ab/cd/{sha}" in names
    assert (tmp_path / "b.tar").stat().st_mode & 0o777 == 0o600  # names and phones: the service's user only
    assert not any("roster" in name for name in names)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    said = ok(cli("restore", "--from", str(tmp_path / "b.tar"), cwd=elsewhere, url=f"sqlite:///{elsewhere / 'r.db'}"))
    assert "1 photos written" in said
    assert (elsewhere / "uploads" / "ab" / "cd" / sha).read_bytes() == b"\xff\xd8 a photo"

    without = ok(cli("backup", "--to", str(tmp_path / "np.tar"), "--no-photos", cwd=tmp_path, url=sqlite_url))
    assert "0 photos (photos left out)" in without

    # A crafted archive whose member would land outside the upload folder is refused, and writes nothing there.
    with tarfile.open(tmp_path / "b.tar") as old, tarfile.open(tmp_path / "evil.tar", "w") as new:
        for info in old:
            new.addfile(info, old.extractfile(info))
        sneaky = tarfile.TarInfo("photos/../../escaped")
        sneaky.size = 4
        new.addfile(sneaky, io.BytesIO(b"evil"))
    third = tmp_path / "third"
    third.mkdir()
    refused = cli("restore", "--from", str(tmp_path / "evil.tar"), cwd=third, url=f"sqlite:///{third / 'r.db'}")
    assert refused.returncode == 2 and "not its database nor an evidence photo" in refused.stderr
    assert not (tmp_path / "escaped").exists() and not (third / "escaped").exists()
    assert not (third / "r.db").exists() and not (third / "uploads").exists()  # refused before anything was written


def test_a_photo_the_purge_deletes_during_the_backup_is_left_out_and_the_backup_still_succeeds(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept, purged = "ab" + "cd" + "1" * 60, "ab" + "cd" + "2" * 60
    photo = tmp_path / "uploads" / "ab" / "cd" / kept
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"kept")
    listed = [(f"ab/cd/{kept}", photo), (f"ab/cd/{purged}", photo.parent / purged)]  # the second one just deleted
    monkeypatch.setattr(backups, "_photo_files", lambda _root: iter(listed))
    backups.backup(sqlite_url, tmp_path / "b.tar", upload_dir=tmp_path / "uploads")
    with tarfile.open(tmp_path / "b.tar") as tar:
        assert [n for n in tar.getnames() if n.startswith("photos/")] == [f"photos/ab/cd/{kept}"]
    restored = backups.restore(f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "b.tar", upload_dir=tmp_path / "again")
    assert (restored.photos_written, restored.photos_there) == (1, 0)


def test_backup_shows_its_progress_unless_quiet_and_names_a_database_it_cannot_read(
    sqlite_url: str, tmp_path: Path
) -> None:
    shown = cli("backup", "--to", str(tmp_path / "b.tar"), cwd=tmp_path, url=sqlite_url)
    assert "database pages copied" in ok(shown) + shown.stderr and "wrote" in shown.stdout
    quiet = cli("backup", "--to", str(tmp_path / "b.tar"), "--quiet", cwd=tmp_path, url=sqlite_url)
    assert quiet.stderr == "" and ok(quiet).startswith("wrote")

    (tmp_path / "notes.db").write_text("a page of notes, not a database")
    for args in (["backup", "--to", str(tmp_path / "n.tar")], ["restore", "--from", str(tmp_path / "b.tar")]):
        refused = cli(*args, cwd=tmp_path, url=f"sqlite:///{tmp_path / 'notes.db'}")
        assert refused.returncode == 2 and "database_unreadable" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    assert (tmp_path / "notes.db").read_text() == "a page of notes, not a database"
    unreachable = cli(
        "backup", "--to", str(tmp_path / "pg.tar"), cwd=tmp_path, url="postgresql+psycopg://shanzhi@127.0.0.1:1/x"
    )
    assert (
        unreachable.returncode == 2 and "database_unreadable: the database could not be reached" in unreachable.stderr
    )


def test_missing_postgres_tools_are_named_with_how_to_install_them(tmp_path: Path) -> None:
    with pytest.raises(DomainError) as missing:
        backups.find_tool("pg_dump", 15, tmp_path)
    assert missing.value.code == "postgres_tools_missing"
    assert "apt install postgresql-client-15" in missing.value.message and "SHANZHI_PG_BIN_DIR" in missing.value.message
    old = tmp_path / "pg_dump"
    old.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 13.4'\n")
    old.chmod(0o755)
    with pytest.raises(DomainError, match=r"found only .*\(13\)"):
        backups.find_tool("pg_dump", 15, tmp_path)


def test_the_connection_reaches_the_postgres_tools_through_their_environment() -> None:
    env = backups.libpq_environment(
        "postgresql+psycopg://shanzhi:s3cret@db.example:6543/county?sslmode=require&options=-csearch_path%3Dledger"
    )
    assert env == {
        "PGHOST": "db.example",
        "PGPORT": "6543",
        "PGUSER": "shanzhi",
        "PGPASSWORD": "s3cret",
        "PGDATABASE": "county",
        "PGSSLMODE": "require",
        "PGOPTIONS": "-csearch_path=ledger",
    }


# ---------------------------------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg_databases() -> Iterator[tuple[str, str]]:
    """Two new databases (a source and a restore target) of unique names, dropped afterwards: a dump holds a whole
    database, so the test schemas the other database tests use will not do."""
    if not ON_POSTGRES:
        pytest.skip("needs SHANZHI_TEST_DATABASE_URL on PostgreSQL")
    tag = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
    names = [f"shanzhi_backup_source_{tag}", f"shanzhi_backup_target_{tag}"]
    admin: Engine = make_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = make_url(TEST_DATABASE_URL).difference_update_query(["options"])
    # A password in the URL (the test server trusts any): it must reach pg_dump by its environment only.
    urls = [base.set(database=name, password="pw-in-url-only").render_as_string(hide_password=False) for name in names]
    try:
        yield urls[0], urls[1]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.db
def test_a_postgres_backup_taken_while_awards_go_on_restores_to_a_verified_prefix(
    pg_databases: tuple[str, str], tmp_path: Path
) -> None:
    source, target = pg_databases
    engine = make_engine(source)
    migrations.upgrade(engine)
    engine.dispose()
    village = Village(source, 100)

    # The tools as found on this machine, wrapped to write down what `ps` would show of them.
    real = {name: backups.find_tool(name, 15) for name in ("pg_dump", "pg_restore")}
    tools, seen = tmp_path / "bin", tmp_path / "seen.log"
    tools.mkdir()
    for name, path in real.items():
        wrapper = tools / name
        wrapper.write_text(
            f'#!/bin/sh\necho "argv: $*" >> {seen}\necho "env: $PGPASSWORD" >> {seen}\nexec {path} "$@"\n'
        )
        wrapper.chmod(0o755)

    awarding = Awarding(source, village)
    awarding.start()
    awarding.wait_for(5)
    pinned = tmp_path / "pinned.jws"
    ok(cli("head", "--county", village.county, "--out", str(pinned), cwd=tmp_path, url=source))
    before = len(awarding.committed)
    said = ok(
        cli("backup", "--to", str(tmp_path / "pg.backup"), cwd=tmp_path, url=source, SHANZHI_PG_BIN_DIR=str(tools))
    )
    awarding.wait_for(len(awarding.committed) + 3)
    awarding.finish()
    assert "postgresql database at revision" in said

    restored = ok(
        cli("restore", "--from", str(tmp_path / "pg.backup"), cwd=tmp_path, url=target, SHANZHI_PG_BIN_DIR=str(tools))
    )
    assert "every table as the backup counted it" in restored
    assert "ledger verified" in ok(cli("verify", cwd=tmp_path, url=target))
    assert "pinned head intact" in ok(
        cli("head", "--county", village.county, "--check", str(pinned), cwd=tmp_path, url=target)
    )
    assert_prefix(claims_in(target), awarding.committed, before=before)

    lines = seen.read_text().splitlines()
    assert any(line.startswith("argv: --format=custom") for line in lines)
    assert all("pw-in-url-only" not in line for line in lines if line.startswith("argv:"))
    assert "env: pw-in-url-only" in lines

    # The target now holds data: a second restore is refused and changes nothing; with --replace it goes through.
    held = claims_in(target)
    again = cli("restore", "--from", str(tmp_path / "pg.backup"), cwd=tmp_path, url=target)
    assert again.returncode == 2 and "restore_target_holds_data" in again.stderr
    assert claims_in(target) == held
    service = make_engine(target)
    with service.begin() as conn:  # a table of a newer schema the backup does not know: it would stay behind
        conn.execute(text("CREATE TABLE newer_feature (id integer)"))
    service.dispose()
    stray = cli("restore", "--from", str(tmp_path / "pg.backup"), "--replace", cwd=tmp_path, url=target)
    assert stray.returncode == 2 and "has tables the backup does not (newer_feature)" in stray.stderr
    with service.begin() as conn:
        conn.execute(text("DROP TABLE newer_feature"))
    service.dispose()
    # the service still running on the target: even --replace is refused
    with service.connect() as still_serving:
        still_serving.execute(text("SELECT 1"))
        in_use = cli("restore", "--from", str(tmp_path / "pg.backup"), "--replace", cwd=tmp_path, url=target)
        assert in_use.returncode == 2 and "restore_target_in_use" in in_use.stderr
    service.dispose()
    ok(cli("restore", "--from", str(tmp_path / "pg.backup"), "--replace", "--quiet", cwd=tmp_path, url=target))
    assert claims_in(target) == held
    assert "ledger verified" in ok(cli("verify", cwd=tmp_path, url=target))


@pytest.mark.db
def test_postgres_backup_says_plainly_when_pg_dump_is_missing(pg_databases: tuple[str, str], tmp_path: Path) -> None:
    source, _ = pg_databases
    engine = make_engine(source)
    migrations.upgrade(engine)
    engine.dispose()
    missing = cli(
        "backup", "--to", str(tmp_path / "pg.backup"), cwd=tmp_path, url=source, SHANZHI_PG_BIN_DIR=str(tmp_path)
    )
    assert missing.returncode == 2
    assert "postgres_tools_missing: pg_dump of PostgreSQL" in missing.stderr and "apt install" in missing.stderr
    assert not (tmp_path / "pg.backup").exists()
    assert list(tmp_path.glob(".pg.backup.*")) == []  # no half-written file left behind


def test_sqlite_copy_is_consistent_even_when_every_page_is_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the held snapshot SQLite would restart the copy on each write; with it the copy ends, and it is the
    database as of its start."""
    path = tmp_path / "busy.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE alembic_version (version_num TEXT)")
        conn.execute("INSERT INTO alembic_version VALUES (?)", (migrations.head_revision(),))
        conn.execute("CREATE TABLE t (i INTEGER PRIMARY KEY, s TEXT)")
        conn.executemany("INSERT INTO t (s) VALUES (?)", [("x" * 400,) for _ in range(5000)])
    stop = threading.Event()

    def rewrite() -> None:
        with sqlite3.connect(path, isolation_level=None, timeout=30) as writer:
            while not stop.is_set():
                writer.execute("UPDATE t SET s = s WHERE i % 7 = 0")
                writer.execute("INSERT INTO t (s) VALUES ('y')")

    monkeypatch.setattr(backups, "SQLITE_PAGES_PER_STEP", 8)
    thread = threading.Thread(target=rewrite, daemon=True)
    thread.start()
    time.sleep(0.05)
    try:
        manifest = backups.backup(f"sqlite:///{path}", tmp_path / "b.tar", upload_dir=tmp_path / "none")
    finally:
        stop.set()
        thread.join(timeout=30)
    with tarfile.open(tmp_path / "b.tar") as tar:
        tar.extract(backups.SQLITE_MEMBER, tmp_path / "out", filter="data")
    with sqlite3.connect(tmp_path / "out" / backups.SQLITE_MEMBER) as copy:
        assert copy.execute("SELECT count(*) FROM t").fetchone()[0] == manifest.counts["t"]
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] > manifest.counts["t"]
