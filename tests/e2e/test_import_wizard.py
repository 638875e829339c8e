"""The import wizard in Chromium: a GBK CSV with bad rows, skip them, download the error file.

From the record list's Import link: upload a GBK-encoded CSV with Chinese names, see the
suggested mapping (a Chinese header matched by the field's label) and the preview with
the two bad rows marked, import the valid rows only, read the counts on the run page and
download the error file (the two bad rows plus an ``error`` column, UTF-8 with BOM). All
under the real Content-Security-Policy with no console error, CSP violation or failed
request; the API then holds exactly the three good records.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .conftest import LiveServer, PageProblems

pytestmark = [pytest.mark.browser, pytest.mark.slow]

APP = "crm"
CUSTOMER: dict[str, Any] = {
    "key": "customer",
    "label": {"en": "Customer", "zh": "客户"},
    "title_field": "name",
    "fields": [
        {"key": "name", "type": "text", "required": True, "label": {"en": "Name", "zh": "姓名"}},
        {"key": "phone", "type": "phone", "unique": True, "label": {"en": "Phone", "zh": "电话"}},
        {
            "key": "level",
            "type": "select",
            "options": ["gold", "silver"],
            "label": {"en": "Level", "zh": "等级"},
        },
    ],
}
HEADER = ["姓名", "电话", "等级"]
GOOD = [["张三", "13812345678", "gold"], ["李四", "13912345678", "silver"], ["王五", "13712345678", "gold"]]
BAD_LEVEL = ["赵六", "13612345678", "platinum"]
BAD_PHONE = ["钱七", "12345", "silver"]
# spreadsheet row numbers: the header is row 1, so the bad rows are rows 5 and 6
ROWS = [*GOOD, BAD_LEVEL, BAD_PHONE]


def _token(live_server: LiveServer) -> str:
    """An API token of the workspace admin in ``acme``."""
    from sqlalchemy import select

    from opsloom.platform.auth import service as identity
    from opsloom.platform.models import User, Workspace

    with live_server.app.extensions["opsloom.db"].session_scope() as session:
        user = session.scalars(select(User).where(User.username == live_server.admin_username)).one()
        workspace = session.scalars(select(Workspace).where(Workspace.key == "acme")).one()
        _row, token = identity.issue_token(session, user=user, workspace=workspace, name="e2e-import")
    return token


def _publish(live_server: LiveServer, headers: dict[str, str]) -> None:
    """Create app ``crm`` and publish ``customer`` through the API, as an administrator's script would."""
    client = live_server.app.test_client()
    for method, path, body in (
        ("post", "/api/v1/apps", {"key": APP, "label": "CRM"}),
        ("put", f"/api/v1/apps/{APP}/entities/customer", CUSTOMER),
        ("post", f"/api/v1/apps/{APP}/entities/customer/publish", {}),
    ):
        answer = getattr(client, method)(path, json=body, headers=headers)
        assert answer.status_code in (200, 201), answer.get_json()


def _gbk_csv(folder: Path) -> Path:
    """The file as Excel on a Chinese Windows saves "CSV": GBK, CRLF line ends."""
    text = io.StringIO(newline="")
    csv.writer(text).writerows([HEADER, *ROWS])
    path = folder / "客户.csv"
    path.write_bytes(text.getvalue().encode("gbk"))
    return path


def test_gbk_import_skips_the_bad_rows_and_offers_them_as_an_error_file(
    browser_page: tuple[Any, PageProblems], live_server: LiveServer, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {_token(live_server)}"}
    _publish(live_server, headers)
    upload = _gbk_csv(tmp_path)
    tab, problems = browser_page

    tab.goto("/login")
    tab.fill("#f-username", live_server.admin_username)
    tab.fill("#f-password", live_server.admin_password)
    with tab.expect_navigation():
        tab.click("form.stack button[type=submit]")

    # the record list's Import link opens the wizard's upload step
    tab.goto(f"/apps/{APP}/records/customer")
    with tab.expect_navigation():
        tab.get_by_test_id("import-records").click()
    assert tab.url.endswith(f"/apps/{APP}/records/customer/import")
    tab.set_input_files("#f-file", str(upload))
    with tab.expect_navigation() as uploaded:
        tab.click("[data-testid=import-upload]")
    assert uploaded.value is not None
    assert uploaded.value.status == 200
    assert tab.locator("[data-testid=import-error]").count() == 0

    # the suggested mapping: each Chinese header matched by its field's label
    mapping = tab.locator("[data-testid=import-mapping]")
    mapping.wait_for()
    assert "客户.csv: 5 rows" in tab.locator("main section.panel p.muted").first.inner_text()
    for index, key in enumerate(("name", "phone", "level"), start=1):
        assert mapping.locator(f"#map-{index}").input_value() == key, HEADER[index - 1]

    # the preview: GBK decoded, the two bad rows marked, their bad cells and messages shown
    preview = tab.locator("[data-testid=import-preview]")
    for name, *_rest in ROWS:
        assert name in preview.inner_text()
    bad_rows = preview.locator("tbody tr.row-error:has(td.has-error)")
    assert bad_rows.count() == 2
    assert bad_rows.nth(0).locator("td.has-error").inner_text().strip() == "platinum"
    assert bad_rows.nth(1).locator("td.has-error").inner_text().strip() == "12345"
    messages = preview.locator("ul.error-text li").all_inner_texts()
    assert len(messages) == 2
    assert messages[0].startswith("等级:")
    assert messages[1].startswith("电话:")
    for name, *_rest in GOOD:
        assert preview.locator("tbody tr:not(.row-error)", has_text=name).count() == 1

    # skip the invalid rows and run
    tab.check("input[name=mode][value=skip_invalid]")
    with tab.expect_navigation():
        tab.click("[data-testid=import-run]")
    assert f"/apps/{APP}/imports/" in tab.url
    progress = tab.locator("[data-testid=import-progress]")
    progress.locator(".badge", has_text="finished").wait_for()
    counts = progress.locator("ul").first.inner_text()
    assert "Created: 3" in counts
    assert "Failed rows: 2" in counts

    # the error file: the two bad rows as they were, plus an error column, UTF-8 with BOM
    with tab.expect_download() as downloading:
        tab.click("[data-testid=import-error-file]")
    download = downloading.value
    assert download.failure() is None
    assert download.suggested_filename.endswith("-errors.csv")
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == [*HEADER, "error"]
    assert [row[:3] for row in rows[1:]] == [BAD_LEVEL, BAD_PHONE]
    assert rows[1][3].startswith("等级:")
    assert rows[2][3].startswith("电话:")

    assert problems.all() == []

    # exactly the three good rows became records
    answer = live_server.app.test_client().get(f"/api/v1/apps/{APP}/records/customer", headers=headers)
    assert answer.status_code == 200, answer.get_json()
    items = answer.get_json()["items"]
    assert sorted((r["name"], r["level"]) for r in items) == sorted((n, lvl) for n, _phone, lvl in GOOD)
