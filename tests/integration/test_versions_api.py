"""``GET /api/models/<name>/versions`` and ``reghook compare``: the comparison from the ledger alone."""

from __future__ import annotations

import json

from click.testing import CliRunner

from handler.cli import main
from handler.records import AliasMove, AuditEntry
from tests.conftest import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _gate(name, passed, observed, expected, detail=""):
    return {"gate": name, "passed": passed, "observed": observed, "expected": expected,
            "detail": detail}


def governed_three(store) -> None:
    """v1 passed and approved, v2 failed recall, v3 passed, approved, then rolled back."""
    def validated(version, status, recall, event):
        return AuditEntry("validated", "churn", version, event, detail={
            "status": status, "gates": [_gate("recall", recall >= 0.7, recall, ">=0.7")],
            "run_id": f"run{version}", "author": "ana", "metrics": {"recall": recall, "f1": 0.5},
            "datasets": [{"name": "churn_train", "source": "s3://d/v1", "schema": "{}"}],
            "signature": {"tenure": "long", "plan": "string"}})

    store.record([validated("1", "passed", 0.8, "evt_1")])
    store.record([AuditEntry("promoted", "churn", "1", "evt_p1", actor="cli:bo", alias="champion")],
                 [AliasMove("churn", "champion", "1", None, "cli:bo", "evt_p1", "approved")])
    store.record([validated("2", "failed", 0.5, "evt_2")])
    store.record([validated("3", "passed", 0.9, "evt_3")])
    store.record([AuditEntry("promoted", "churn", "3", "evt_p3", actor="api:cy@x.io",
                             alias="champion")],
                 [AliasMove("churn", "champion", "3", "1", "api:cy@x.io", "evt_p3", "approved")])
    store.record([AuditEntry("rolled_back", "churn", "1", "evt_r", actor="cli:bo",
                             alias="champion", detail={"from_version": "3", "reason": "latency"})],
                 [AliasMove("churn", "champion", "1", "3", "cli:bo", "evt_r", "rollback: latency")])


def test_versions_answers_each_version_with_gates_facts_approver_and_tenure(client, store):
    governed_three(store)
    response = client.get("/api/models/churn/versions", headers=AUTH)
    assert response.status_code == 200
    body = response.json
    assert body["aliases"] == {"champion": "1"}
    by_version = {v["version"]: v for v in body["versions"]}
    assert list(by_version) == ["1", "2", "3"]
    assert [by_version[v]["status"] for v in "123"] == ["passed", "failed", "rolled_back"]
    assert by_version["2"]["gates"][0]["observed"] == 0.5
    assert by_version["3"]["approver"] == "api:cy@x.io" and by_version["2"]["approver"] is None
    assert by_version["1"]["metrics"] == {"recall": 0.8, "f1": 0.5}
    assert by_version["1"]["aliases"] == ["champion"]
    # v1 held champion twice: until v3 took it, and again since the rollback.
    spells = by_version["1"]["tenure"]
    assert [(s["event_id"], s["until"] is None) for s in spells] == [
        ("evt_p1", False), ("evt_r", True)]
    assert by_version["3"]["tenure"][0]["until"] == spells[1]["from"]


def test_versions_named_in_the_query_come_in_that_order(client, store):
    governed_three(store)
    response = client.get("/api/models/churn/versions?version=3&version=1&version=9",
                          headers=AUTH)
    assert [v["version"] for v in response.json["versions"]] == ["3", "1", "9"]
    assert response.json["versions"][2]["status"] is None  # never governed: said so, not hidden


def test_versions_needs_the_admin_token(client, store):
    assert client.get("/api/models/churn/versions").status_code == 401


def test_compare_prints_a_column_per_version_and_the_same_json(settings, store, monkeypatch):
    governed_three(store)
    monkeypatch.setenv("REGHOOK_DATABASE_URL", settings.database_url)
    runner = CliRunner()
    table = runner.invoke(main, ["compare", "churn", "1", "2"])
    assert table.exit_code == 0, table.output
    assert "v1" in table.output and "v2" in table.output and "v3" not in table.output
    assert "FAIL 0.5 (want >=0.7)" in table.output and "cli:bo" in table.output
    as_json = runner.invoke(main, ["compare", "churn", "--json"])
    assert as_json.exit_code == 0
    assert [v["version"] for v in json.loads(as_json.output)["versions"]] == ["1", "2", "3"]


def test_compare_of_an_unknown_model_exits_1(settings, store, monkeypatch):
    monkeypatch.setenv("REGHOOK_DATABASE_URL", settings.database_url)
    result = CliRunner().invoke(main, ["compare", "nobody"])
    assert result.exit_code == 1


def test_named_versions_read_by_index_match_the_whole_comparison(store):
    governed_three(store)
    moves = [("staging", "2", None), ("staging", "2", "2"), ("staging", "3", "2"),
             ("staging", "2", "3"), ("staging", None, "2"), ("canary", "3", None)]
    for alias, version, previous in moves:
        store.record([], [AliasMove("churn", alias, version, previous, "reghook", None, None)])
    whole = store.compare_versions("churn")
    by_version = {v["version"]: v for v in whole["versions"]}
    for named in (["2"], ["3", "1"], ["1", "2", "3"], ["9", "2"]):
        part = store.compare_versions("churn", named)
        assert part["aliases"] == whole["aliases"]
        assert part["versions"] == [by_version.get(v) or part["versions"][i]
                                    for i, v in enumerate(named)], named
        assert [v["version"] for v in part["versions"]] == named
