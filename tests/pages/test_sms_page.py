"""The sign-in page when the text with the code cannot go: the villager reads why and what to do, in Chinese."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from tests.api.conftest import World, make_settings
from tests.fake_sms import FakeSms
from tests.pages.conftest import form_post


def test_a_code_the_provider_could_not_send_is_told_plainly_and_the_next_one_arrives(
    tmp_path: Path, database_url: str, engine: Engine, world: World
) -> None:
    with FakeSms() as fake:
        settings = make_settings(tmp_path, database_url, **fake.http_settings(), sms_timeout_seconds=1)
        app = create_app(settings, engine=engine)
        with TestClient(app, base_url="https://testserver", follow_redirects=False) as browser:
            fake.fail_next("platform_down", status=503)
            refused = form_post(browser, "/signin/phone", {"phone": world.villager_phone}, from_page="/signin")
            assert refused.status_code == 503
            assert "验证码短信暂时发不出去" in refused.text and "请找村干部" in refused.text
            sent = form_post(browser, "/signin/phone", {"phone": world.villager_phone}, from_page="/signin")
            assert sent.status_code == 200 and "验证码已发到" in sent.text
            assert fake.last_code(world.villager_phone) is not None
