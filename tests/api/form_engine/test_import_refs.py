"""Import: user, department and relation cells given as names, keys, paths, titles or unique values."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import assert_problem, publish_entity

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

    from tests.conftest import Member

IMPORT = "/api/v1/apps/crm/records/order/import"
ORDERS = "/api/v1/apps/crm/records/order"
CUSTOMERS = "/api/v1/apps/crm/records/customer"

CUSTOMER: dict[str, Any] = {
    "key": "customer",
    "title_field": "name",
    "fields": [
        {"key": "name", "type": "text", "required": True},
        {"key": "phone", "type": "phone", "unique": True},
        {"key": "secret_code", "type": "text", "unique": True},
    ],
}
ORDER: dict[str, Any] = {
    "key": "order",
    "fields": [
        {"key": "title", "type": "text", "required": True},
        {"key": "owner", "type": "user"},
        {"key": "team", "type": "department"},
        {"key": "customer", "type": "relation", "target": "customer"},
        {"key": "also_for", "type": "relation", "target": "customer", "many": True},
    ],
}


@pytest.fixture
def crm(client: FlaskClient, admin: Member) -> Member:
    publish_entity(client, admin, CUSTOMER)
    publish_entity(client, admin, ORDER)
    return admin


def _post(
    client: FlaskClient, member: Member, text: str, options: dict[str, Any] | None = None
) -> TestResponse:
    body: dict[str, Any] = {"file": (io.BytesIO(text.encode()), "orders.csv")}
    if options is not None:
        body["options"] = json.dumps(options)
    return client.post(IMPORT, data=body, headers=member.headers, content_type="multipart/form-data")


def _report(client: FlaskClient, member: Member, text: str, options: dict[str, Any] | None = None) -> Any:
    response = _post(client, member, text, options)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _orders(client: FlaskClient, member: Member) -> dict[str, dict[str, Any]]:
    items = client.get(f"{ORDERS}?limit=500&sort=id", headers=member.headers).get_json()["items"]
    return {item["title"]: item for item in items}


def _user(client: FlaskClient, admin: Member, username: str, display_name: str) -> int:
    made = client.post(
        "/api/v1/users",
        json={"username": username, "password": "long-enough-1", "display_name": display_name},
        headers=admin.headers,
    )
    assert made.status_code == 201, made.get_json()
    return made.get_json()["id"]


def _department(client: FlaskClient, admin: Member, key: str, name: str, parent: int | None = None) -> int:
    made = client.post(
        "/api/v1/departments", json={"key": key, "name": name, "parent": parent}, headers=admin.headers
    )
    assert made.status_code == 201, made.get_json()
    return made.get_json()["id"]


def _customer(client: FlaskClient, member: Member, **values: Any) -> int:
    made = client.post(CUSTOMERS, json=values, headers=member.headers)
    assert made.status_code == 201, made.get_json()
    return made.get_json()["id"]


def _without_log(state: dict[str, Any]) -> dict[str, Any]:
    return {name: table for name, table in state.items() if name != "import_runs"}


# ---------------------------------------------------------------- users and departments


def test_users_by_username_and_display_name(client: FlaskClient, crm: Member) -> None:
    wang = _user(client, crm, "wangfang", "Wang Fang")
    li = _user(client, crm, "lisi", "李四")
    gone = _user(client, crm, "gone", "Gone Person")
    assert (
        client.patch(f"/api/v1/users/{gone}", json={"is_active": False}, headers=crm.headers).status_code
        == 200
    )
    report = _report(
        client,
        crm,
        f"title,owner\nA,Wang Fang\nB,WANGFANG\nC, wang  fang \nD,李四\nE,{li}\nF,alice\n",
    )
    assert (report["created"], report["failed"]) == (6, 0), report
    owners = {title: item["owner"] for title, item in _orders(client, crm).items()}
    assert owners == {"A": wang, "B": wang, "C": wang, "D": li, "E": li, "F": crm.user_id}
    by = {(r["text"], r["by"], r["id"]) for r in report["resolved"]["owner"]}
    assert ("Wang Fang", "display_name", wang) in by
    assert ("WANGFANG", "username", wang) in by
    # a member who left is no longer found by name (as by id)
    failed = _report(client, crm, f"title,owner\nG,Gone Person\nH,{gone}\nI,999\n")
    assert [e["message"] for e in failed["errors"]] == [
        "no user named 'Gone Person' in this workspace",
        f"no user with the id or name '{gone}' in this workspace",
        "no user with the id or name '999' in this workspace",
    ]


def test_departments_by_name_key_and_path(client: FlaskClient, crm: Member) -> None:
    sales = _department(client, crm, "sales", "Sales")
    support = _department(client, crm, "support", "Support")
    sales_east = _department(client, crm, "sales_east", "East", sales)
    support_east = _department(client, crm, "support_east", "East", support)
    report = _report(
        client, crm, f"title,team\nA,Sales\nB,sales / east\nC,Support/East\nD,support_east\nE,{sales_east}\n"
    )
    assert (report["created"], report["failed"]) == (5, 0), report
    teams = {title: item["team"] for title, item in _orders(client, crm).items()}
    assert teams == {"A": sales, "B": sales_east, "C": support_east, "D": support_east, "E": sales_east}
    ambiguous = _report(client, crm, "title,team\nF,East\n", {"mode": "skip_invalid"})
    message = ambiguous["errors"][0]["message"]
    assert message.startswith("'East' matches 2 departments;")
    assert "path" in message


# ---------------------------------------------------------------- relations


def test_relations_by_title_and_by_unique_value(client: FlaskClient, crm: Member) -> None:
    acme = _customer(client, crm, name="Acme, Inc.", phone="13812345678")
    beta = _customer(client, crm, name="Beta", phone="13912345678", secret_code="B-1")
    text = (
        "title,customer,also_for\n"
        'A,"Acme, Inc.",\n'
        "B,+86 139-1234-5678,\n"
        f'C,B-1,"Beta, {acme}"\n'
        'D,Beta,"Acme, Inc.; 139 1234 5678"\n'
    )
    report = _report(client, crm, text)
    assert (report["created"], report["failed"]) == (4, 0), report
    orders = _orders(client, crm)
    assert {t: o["customer"] for t, o in orders.items()} == {"A": acme, "B": beta, "C": beta, "D": beta}
    assert sorted(orders["C"]["also_for"]) == sorted(orders["D"]["also_for"]) == [acme, beta]


def test_preview_and_dry_run_show_the_resolved_names(client: FlaskClient, crm: Member, snapshot: Any) -> None:
    wang = _user(client, crm, "wangfang", "Wang Fang")
    acme = _customer(client, crm, name="Acme", phone="13812345678")
    before = snapshot()
    preview = _post(
        client, crm, f"title,owner,customer\nA,Wang Fang,Acme\nB,alice,{acme}\n", {"preview": True}
    )
    assert preview.status_code == 200, preview.get_json()
    first, second = preview.get_json()["sample"]
    assert first["values"] == {"title": "A", "owner": wang, "customer": acme}
    assert first["resolved"] == {
        "owner": [{"text": "Wang Fang", "id": wang, "by": "display_name", "target": "user"}],
        "customer": [{"text": "Acme", "id": acme, "by": "name", "target": "customer"}],
    }
    assert second["resolved"] == {
        "owner": [{"text": "alice", "id": crm.user_id, "by": "username", "target": "user"}]
    }
    assert snapshot() == before
    dry = _report(client, crm, "title,owner\nA,Wang Fang\n", {"dry_run": True})
    assert (dry["written"], dry["created"]) == (False, 1)
    assert dry["resolved"]["owner"] == [
        {"text": "Wang Fang", "id": wang, "by": "display_name", "target": "user"}
    ]


def test_preview_page_shows_the_resolution(client: FlaskClient, crm: Member) -> None:
    from tests.api.test_web_admin import csrf_of, sign_in, text_of

    wang = _user(client, crm, "wangfang", "Wang Fang")
    sign_in(client, crm)
    wizard = "/apps/crm/records/order/import"
    page = client.post(
        wizard,
        data={
            "csrf_token": csrf_of(client, wizard),
            "file": (io.BytesIO(b"title,owner\nA,Wang Fang\n"), "o.csv"),
        },
        content_type="multipart/form-data",
    )
    html = text_of(page)
    assert page.status_code == 200, html
    assert f"Wang Fang → user {wang}" in html


# ---------------------------------------------------------------- unknown, ambiguous, out of scope


def test_unknown_and_ambiguous_names_fail_the_rows_and_nothing_is_written(
    client: FlaskClient, crm: Member, snapshot: Any
) -> None:
    _user(client, crm, "wang1", "Wang Fang")
    _user(client, crm, "wang2", "Wang Fang")
    _customer(client, crm, name="Twin", phone="13812345678")
    _customer(client, crm, name="Twin", phone="13912345678")
    before = snapshot()
    text = 'title,owner,customer,also_for\nA,Wang X,,\nB,Wang Fang,,\nC,,Twin,\nD,,Nobody,\nE,,,"Twin; Nobody"\nF,alice,,\n'
    report = _report(client, crm, text)
    assert (report["written"], report["created"], report["failed"]) == (False, 0, 5), report
    assert _without_log(snapshot()) == _without_log(before)
    messages = {(e["row"], e["column"]): e["message"] for e in report["errors"]}
    assert messages[(2, "owner")] == "no user named 'Wang X' in this workspace"
    assert messages[(3, "owner")] == (
        "'Wang Fang' matches 2 users in this workspace; use the user's id or username instead"
    )
    assert messages[(4, "customer")] == (
        "'Twin' matches 2 customer records; use the id or a unique value (phone, secret_code) instead"
    )
    assert messages[(5, "customer")].startswith("no customer 'Nobody' among the records you can read")
    assert "'Twin' matches 2" in messages[(6, "also_for")]
    assert "'Nobody'" in messages[(6, "also_for")]
    errors = client.get(report["error_file"], headers=crm.headers).data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(errors)))
    assert rows[0] == ["title", "owner", "customer", "also_for", "error"]
    assert [r[0] for r in rows[1:]] == ["A", "B", "C", "D", "E"]
    assert rows[1][4] == "owner: no user named 'Wang X' in this workspace"
    # skip_invalid keeps the good row
    kept = _report(client, crm, text, {"mode": "skip_invalid"})
    assert (kept["written"], kept["created"], kept["failed"]) == (True, 1, 5)
    assert list(_orders(client, crm)) == ["F"]


@pytest.fixture
def scoped(client: FlaskClient, crm: Member, staff: Member) -> Member:
    """Staff reads only their own customers, sees phones masked and the secret code not at all."""
    client.put(
        "/api/v1/apps/crm/permissions/staff/customer",
        json={"read": "own", "create": "all", "fields": {"phone": "masked", "secret_code": "hidden"}},
        headers=crm.headers,
    )
    client.put(
        "/api/v1/apps/crm/permissions/staff/order",
        json={"read": "all", "create": "all", "import": "all"},
        headers=crm.headers,
    )
    return staff


def test_a_record_outside_the_read_scope_is_unknown(client: FlaskClient, crm: Member, scoped: Member) -> None:
    theirs = _customer(client, crm, name="Hidden Corp", phone="13812345678", secret_code="S-1")
    mine = _customer(client, scoped, name="Mine", phone="13912345678")
    _customer(client, crm, name="Mine", phone="13712345678")  # the same title, outside staff's scope
    report = _report(
        client,
        scoped,
        "title,customer\nA,Hidden Corp\nB,13812345678\nC,S-1\nD,Mine\nE,13912345678\n",
        {"mode": "skip_invalid"},
    )
    assert (report["created"], report["failed"]) == (1, 4), report
    messages = {e["row"]: e["message"] for e in report["errors"]}
    # "looked up by id, name": neither the masked phone nor the hidden code is a match key for staff
    assert messages[2] == "no customer 'Hidden Corp' among the records you can read (looked up by id, name)"
    assert messages[3].startswith("no customer '13812345678' among")
    assert messages[4].startswith("no customer 'S-1' among")
    assert messages[6].startswith("no customer '13912345678' among")
    # the messages echo the typed text and nothing of the records that were not found
    assert not any("Hidden Corp" in m or "S-1" in m for row, m in messages.items() if row not in (2, 4))
    assert all("138****" not in m for m in messages.values())
    assert theirs not in [o["customer"] for o in _orders(client, crm).values()]
    # the one in scope is found although another record outside it has the same title
    assert _orders(client, crm)["D"]["customer"] == mine


def test_no_read_right_means_ids_only(client: FlaskClient, crm: Member, staff: Member) -> None:
    acme = _customer(client, crm, name="Acme")
    client.put(
        "/api/v1/apps/crm/permissions/staff/order",
        json={"read": "all", "create": "all", "import": "all"},
        headers=crm.headers,
    )
    report = _report(client, staff, f"title,customer\nA,Acme\nB,{acme}\n", {"mode": "skip_invalid"})
    assert (report["created"], report["failed"]) == (1, 1)
    assert report["errors"][0]["message"] == (
        "your role may not read customer records, so 'Acme' cannot be looked up; give the customer id"
    )


# ---------------------------------------------------------------- batched look-ups


def test_queries_per_batch_do_not_grow_with_the_rows(
    client: FlaskClient, crm: Member, statements: list[str]
) -> None:
    sales = _department(client, crm, "sales", "Sales")
    people = [_user(client, crm, f"user{i}", f"Person {i}") for i in range(30)]
    customers = [_customer(client, crm, name=f"Customer {i}", phone=f"1380000{i:04d}") for i in range(30)]

    def run(count: int, offset: int) -> int:
        lines = ["title,owner,team,customer,also_for"]
        for i in range(count):
            lines.append(
                f'O{offset + i},Person {i},Sales,Customer {i},"1380000{i:04d}; Customer {(i + 1) % 30}"'
            )
        statements.clear()
        report = _report(client, crm, "\n".join(lines) + "\n")
        assert (report["created"], report["failed"]) == (count, 0), report
        return len(statements)

    few, many = run(3, 0), run(30, 100)
    assert many == few, (few, many)
    orders = _orders(client, crm)
    assert orders["O105"]["owner"] == people[5]
    assert orders["O105"]["team"] == sales
    assert orders["O105"]["customer"] == customers[5]
    assert sorted(orders["O105"]["also_for"]) == [customers[5], customers[6]]


@pytest.fixture
def small_batches(app_config: dict[str, Any]) -> None:
    app_config.update(IMPORT_BATCH_SIZE=4)


@pytest.mark.usefixtures("small_batches")
def test_names_are_looked_up_once_per_run(client: FlaskClient, crm: Member, statements: list[str]) -> None:
    wang = _user(client, crm, "wangfang", "Wang Fang")
    acme = _customer(client, crm, name="Acme")
    lines = ["title,owner,customer"] + [f"O{i},Wang Fang,Acme" for i in range(12)]  # three batches
    statements.clear()
    report = _report(client, crm, "\n".join(lines) + "\n")
    assert (report["created"], report["failed"]) == (12, 0), report
    by_name = [s for s in statements if "lower(users.username)" in s]
    by_title = [s for s in statements if "e1_customer.name" in s and s.lstrip().startswith("SELECT")]
    assert (len(by_name), len(by_title)) == (1, 1)
    assert {o["owner"] for o in _orders(client, crm).values()} == {wang}
    assert {o["customer"] for o in _orders(client, crm).values()} == {acme}


# ---------------------------------------------------------------- background runs keep the resolutions


@pytest.fixture
def small_sync(app_config: dict[str, Any]) -> None:
    """Files of more than 5 rows run as a job, 4 rows a batch."""
    app_config.update(IMPORT_SYNC_MAX_ROWS=5, IMPORT_BATCH_SIZE=4)


def _queued(client: FlaskClient, member: Member, text: str, options: dict[str, Any] | None = None) -> str:
    """Post a big file; the URL of its run, which must be queued with nothing resolved yet."""
    response = _post(client, member, text, options)
    assert response.status_code == 202, response.get_json()
    run = response.get_json()
    assert (run["status"], run["resolved"]) == ("queued", {}), run
    return f"/api/v1/apps/crm/imports/{run['id']}"


@pytest.mark.usefixtures("small_sync")
@pytest.mark.parametrize("options", [{}, {"mode": "skip_invalid"}, {"dry_run": True}])
def test_a_background_run_keeps_the_resolved_names(
    app: Flask, client: FlaskClient, crm: Member, options: dict[str, Any]
) -> None:
    from opsloom.platform.jobs import run_jobs

    wang = _user(client, crm, "wangfang", "Wang Fang")
    acme = _customer(client, crm, name="Acme", phone="13812345678")
    beta = _customer(client, crm, name="Beta", phone="13912345678")
    lines = ["title,owner,customer,also_for"]
    lines += [f"O{i},Wang Fang,Acme,{acme}" for i in range(4)]  # the first batch
    lines += ["O4,alice,139 1234 5678,Acme; Beta", f"O5,{crm.user_id},{beta},", "O6,WANGFANG,Acme,"]
    url = _queued(client, crm, "\n".join(lines) + "\n", options)
    assert run_jobs(app) >= 1
    done = client.get(url, headers=crm.headers).get_json()
    assert (done["status"], done["processed"], done["failed"]) == ("done", 7, 0), done
    assert done["written"] is not bool(options.get("dry_run"))
    # the same shape as a run done in the request: ids typed as ids are left out, each text listed once
    assert done["resolved"] == {
        "owner": [
            {"text": "Wang Fang", "id": wang, "by": "display_name", "target": "user"},
            {"text": "alice", "id": crm.user_id, "by": "username", "target": "user"},
            {"text": "WANGFANG", "id": wang, "by": "username", "target": "user"},
        ],
        "customer": [
            {"text": "Acme", "id": acme, "by": "name", "target": "customer"},
            {"text": "139 1234 5678", "id": beta, "by": "phone", "target": "customer"},
        ],
        "also_for": [
            {"text": "Acme", "id": acme, "by": "name", "target": "customer"},
            {"text": "Beta", "id": beta, "by": "name", "target": "customer"},
        ],
    }
    small = _report(client, crm, "\n".join(lines[:2]) + "\n", {"dry_run": True})
    assert small["resolved"] == {key: done["resolved"][key][:1] for key in ("owner", "customer")}
    assert set(small) == set(done)


@pytest.mark.usefixtures("small_sync")
def test_the_run_page_shows_the_resolved_names(app: Flask, client: FlaskClient, crm: Member) -> None:
    from opsloom.platform.jobs import run_jobs
    from tests.api.test_web_admin import sign_in, text_of

    wang = _user(client, crm, "wangfang", "Wang Fang")
    acme = _customer(client, crm, name="Acme")
    url = _queued(client, crm, "title,owner,customer\n" + "".join(f"O{i},Wang Fang,Acme\n" for i in range(6)))
    run_jobs(app)
    sign_in(client, crm)
    html = text_of(client.get(url.removeprefix("/api/v1")))
    assert 'data-testid="import-resolved"' in html
    assert f"Wang Fang → user {wang}" in html
    assert f"Acme → customer {acme}" in html
    # the panel htmx polls shows them too
    panel = text_of(client.get(url.removeprefix("/api/v1"), headers={"HX-Request": "true"}))
    assert f"Wang Fang → user {wang}" in panel


@pytest.mark.usefixtures("small_sync")
def test_a_failed_run_keeps_the_names_of_the_rows_it_counted(
    app: Flask, client: FlaskClient, crm: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opsloom.form_engine.import_service import ImportService
    from opsloom.platform.jobs import run_jobs

    wang = _user(client, crm, "wangfang", "Wang Fang")
    _user(client, crm, "lisi", "Li Si")
    original = ImportService._batch
    calls: list[int] = []

    def crash_on_the_second_batch(self: ImportService, *args: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        original(self, *args)

    monkeypatch.setattr(ImportService, "_batch", crash_on_the_second_batch)
    lines = ["title,owner"] + [f"O{i},Wang Fang" for i in range(4)] + [f"O{i},Li Si" for i in range(4, 8)]
    url = _queued(client, crm, "\n".join(lines) + "\n", {"mode": "skip_invalid"})
    run_jobs(app)
    failed = client.get(url, headers=crm.headers).get_json()
    assert (failed["status"], failed["processed"], failed["created"]) == ("failed", 4, 4), failed
    assert "disk on fire" in failed["message"]
    # the first batch was committed with its names; the second never resolved anything that was kept
    assert failed["resolved"] == {
        "owner": [{"text": "Wang Fang", "id": wang, "by": "display_name", "target": "user"}]
    }


@pytest.mark.usefixtures("small_sync")
def test_a_background_run_resolves_and_shows_only_what_its_importer_may_see(
    app: Flask, client: FlaskClient, crm: Member, scoped: Member
) -> None:
    """The job resolves as the importer (read scope, clear fields only) and only the importer reads the run:
    another member, even a workspace admin, gets a 404 from the API and the run page alike."""
    from opsloom.platform.jobs import run_jobs
    from tests.api.test_web_admin import sign_in, text_of

    hidden = _customer(client, crm, name="Hidden Corp", phone="13812345678", secret_code="S-1")
    mine = _customer(client, scoped, name="Mine", phone="13912345678")
    text = "title,customer\nA,Hidden Corp\nB,13812345678\nC,S-1\nD,Mine\nE,Mine\nF,Hidden Corp\n"
    url = _queued(client, scoped, text, {"mode": "skip_invalid"})
    run_jobs(app)
    done = client.get(url, headers=scoped.headers).get_json()
    assert (done["status"], done["created"], done["failed"]) == ("done", 2, 4), done
    assert done["resolved"] == {
        "customer": [{"text": "Mine", "id": mine, "by": "name", "target": "customer"}]
    }
    assert all(e["message"].startswith("no customer '") for e in done["errors"])
    assert hidden not in {item["id"] for items in done["resolved"].values() for item in items}
    # nobody else reads the run, its resolutions or its error file: not even the admin
    assert_problem(client.get(url, headers=crm.headers), 404)
    assert_problem(client.get(done["error_file"], headers=crm.headers), 404)
    admin_page = app.test_client()
    sign_in(admin_page, crm)
    page = admin_page.get(url.removeprefix("/api/v1"))
    assert page.status_code == 404
    assert "Mine →" not in text_of(page)
    own_page = app.test_client()
    sign_in(own_page, scoped)
    assert f"Mine → customer {mine}" in text_of(own_page.get(url.removeprefix("/api/v1")))
