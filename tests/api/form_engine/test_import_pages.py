"""The import wizard pages: upload, mapping and preview, run, progress and the error file link."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

import pytest

from tests.api.test_web_admin import csrf_of, sign_in, text_of
from tests.conftest import publish_entity

if TYPE_CHECKING:
    from flask.testing import FlaskClient

    from tests.conftest import Member

WIZARD = "/apps/crm/records/customer/import"
CUSTOMER: dict[str, Any] = {
    "key": "customer",
    "fields": [
        {"key": "name", "type": "text", "required": True, "label": {"zh": "姓名", "en": "Name"}},
        {"key": "phone", "type": "phone", "unique": True},
        {"key": "amount", "type": "number"},
    ],
}


@pytest.fixture
def signed_in(client: FlaskClient, admin: Member) -> FlaskClient:
    publish_entity(client, admin, CUSTOMER)
    sign_in(client, admin)
    return client


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, name
    return match.group(1)


def test_the_wizard_from_upload_to_error_file(signed_in: FlaskClient, admin: Member) -> None:
    client = signed_in
    page = client.get(WIZARD)
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in text_of(page)
    data = "Name,phone,amount\n<b>王五</b>,13812345678,1\nBad,13912345678,abc\n".encode("gbk")
    token = csrf_of(client, WIZARD)
    step = client.post(
        WIZARD,
        data={"csrf_token": token, "file": (io.BytesIO(data), "c.csv")},
        content_type="multipart/form-data",
    )
    html = text_of(step)
    assert step.status_code == 200, html
    assert "&lt;b&gt;王五&lt;/b&gt;" in html
    assert "<b>王五" not in html
    assert 'class="has-error"' in html  # the bad amount is highlighted
    assert '<option value="name" selected>' in html
    form = {
        "csrf_token": token,
        "token": _hidden(html, "token"),
        "file_name": "c.csv",
        "sheet": "",
        "map:Name": "name",
        "map:phone": "phone",
        "map:amount": "amount",
        "mode": "skip_invalid",
    }
    done = client.post(f"{WIZARD}/run", data=form)
    assert done.status_code == 302, text_of(done)
    run_page = client.get(done.headers["Location"])
    html = text_of(run_page)
    assert run_page.status_code == 200
    assert 'data-testid="import-error-file"' in html
    assert "hx-trigger" not in html  # finished: no more polling
    link = re.search(r'href="(/api/v1/apps/crm/imports/\d+/errors.csv)"', html)
    assert link
    assert client.get(link.group(1)).status_code == 200
    fragment = client.get(done.headers["Location"], headers={"HX-Request": "true"})
    assert "<html" not in text_of(fragment)
    assert 'id="import-progress"' in text_of(fragment)
    # the staged upload is gone once the run started
    assert client.post(f"{WIZARD}/run", data=form).status_code == 404


def test_a_refused_run_shows_the_mapping_again(signed_in: FlaskClient) -> None:
    client = signed_in
    token = csrf_of(client, WIZARD)
    step = client.post(
        WIZARD,
        data={"csrf_token": token, "file": (io.BytesIO(b"phone\n138\n"), "c.csv")},
        content_type="multipart/form-data",
    )
    html = text_of(step)
    form = {"csrf_token": token, "token": _hidden(html, "token"), "file_name": "c.csv", "map:phone": "phone"}
    refused = client.post(f"{WIZARD}/run", data=form)
    assert refused.status_code == 422
    assert "columns/name" in text_of(refused)


def test_a_bad_file_is_explained(signed_in: FlaskClient) -> None:
    token = csrf_of(signed_in, WIZARD)
    response = signed_in.post(
        WIZARD,
        data={"csrf_token": token, "file": (io.BytesIO(b"\xff\xfe\x00"), "c.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert 'data-testid="import-error"' in text_of(response)
