"""The normalised form gen push compares and hashes in, and the decision table, without a server."""

from __future__ import annotations

import json

from gen.push.discovery import Target
from gen.push.legacy import LegacyApi
from gen.push.model import (
    ANNO_ALLOWS_EDITS,
    ANNO_MANAGED_BY,
    ANNO_MANAGER_ID,
    LocalDashboard,
    Remote,
    content_hash,
    normal_form,
)
from gen.push.push import decide
from gen.push.resource import ResourceApi, desired_annotations
from gen.settings import load_settings
from tests.conftest import REPO

SETTINGS = load_settings(REPO / "environments.yaml")
DEV = SETTINGS.environments["dev"]
MODEL = json.loads((REPO / "out/grafana/dev/triton-dev.json").read_text())


def test_hash_ignores_what_a_read_back_cannot_keep():
    read_back = json.loads(json.dumps(MODEL, indent=4))  # other formatting, other key order
    read_back = dict(reversed(list(read_back.items())))
    read_back.update(id=12, version=9, tritonObs={"contentHash": "x"})
    assert content_hash(read_back) == content_hash(MODEL)
    with_float = json.loads(json.dumps(MODEL))
    with_float["graphTooltip"] = float(MODEL["graphTooltip"])  # 1.0 where Go writes 1
    assert content_hash(with_float) == content_hash(MODEL)
    assert normal_form(with_float) == normal_form(MODEL)
    changed = json.loads(json.dumps(MODEL))
    changed["refresh"] = "5s"
    assert content_hash(changed) != content_hash(MODEL)


def _resource_remote(model, annotations):
    return Remote(uid=model["uid"], model=model, folder_uid=DEV.grafana.folder_uid, raw={}, version=1,
                  resource_version="7", annotations=annotations)


def test_decision_table_on_the_resource_api():
    local = LocalDashboard(DEV, "grafana/dev/triton-dev.json", MODEL, "dashboards/triton.py")
    api = ResourceApi(client=None, target=Target("resource", "", "v1", "v1", "default"))
    ours = desired_annotations(local)
    assert decide(local, None, api).action == "create"
    assert decide(local, _resource_remote(MODEL, ours), api).action == "unchanged"
    edited = {**MODEL, "refresh": "5s"}
    outcome = decide(local, _resource_remote(edited, ours), api)
    assert outcome.action == "conflict" and outcome.diff[0]["field"] == "refresh"
    # What we pushed last time is intact and the code changed: an update.
    older = LocalDashboard(DEV, local.path, edited, local.source)
    assert decide(local, _resource_remote(edited, desired_annotations(older)), api).action == "update"
    foreign = {ANNO_MANAGED_BY: "terraform", ANNO_MANAGER_ID: "stack-a"}
    outcome = decide(local, _resource_remote(MODEL, foreign), api)
    assert outcome.action == "owned" and outcome.detail.startswith("owned by terraform:stack-a")
    flipped = {**ours, ANNO_ALLOWS_EDITS: "false"}
    assert decide(local, _resource_remote(MODEL, flipped), api).action == "conflict"
    v2 = _resource_remote(MODEL, ours)
    v2.stored_version = "v2beta1"
    assert decide(local, v2, api).action == "conflict"


def test_decision_table_on_the_legacy_api():
    local = LocalDashboard(DEV, "grafana/dev/triton-dev.json", MODEL)
    api = LegacyApi(client=None)

    def remote(model):
        return Remote(uid=model["uid"], model=model, folder_uid=DEV.grafana.folder_uid, raw={}, version=3)

    marker = {"contentHash": content_hash(MODEL)}
    assert decide(local, remote({**MODEL, "id": 4, "version": 3, "tritonObs": marker}), api).action == "unchanged"
    edited = {**MODEL, "refresh": "5s", "tritonObs": marker}
    assert decide(local, remote(edited), api).action == "conflict"
    older = {**MODEL, "refresh": "5s"}
    pushed_older = {**older, "tritonObs": {"contentHash": content_hash(older)}}
    assert decide(local, remote(pushed_older), api).action == "update"
    assert decide(local, remote({**MODEL}), api).action == "unchanged"  # same content, no marker


def test_parent_folders_are_checked_when_settings_load(tmp_path):
    import pytest
    import yaml

    from gen.errors import UserError
    from gen.settings import parse_settings

    document = yaml.safe_load((REPO / "environments.yaml").read_text())
    document["environments"]["prod"]["grafana"]["parent_folders"] = [{"uid": "triton-dev", "title": "T"}]
    with pytest.raises(UserError, match=r"environments.prod.grafana.parent_folders\[0\].uid: 'triton-dev' is the "
                                        r"folder of environment 'dev'"):
        parse_settings(document, tmp_path / "environments.yaml")
    document["environments"]["dev"]["grafana"]["parent_folders"] = [{"uid": "triton", "title": "Triton"}]
    document["environments"]["prod"]["grafana"]["parent_folders"] = [{"uid": "triton", "title": "Other"}]
    with pytest.raises(UserError, match="has title 'Other' here and 'Triton' in environment 'dev'"):
        parse_settings(document, tmp_path / "environments.yaml")
    document["environments"]["prod"]["grafana"]["parent_folders"] = [{"uid": "triton", "title": "Triton"}]
    settings = parse_settings(document, tmp_path / "environments.yaml")
    assert settings.environments["prod"].grafana.parent_folders[0].title == "Triton"
    assert settings.environments["dev"].grafana.allow_ui_edits is True
    assert settings.environments["prod"].grafana.allow_ui_edits is False


def test_a_dashboard_pushed_through_the_legacy_api_is_adopted_by_the_resource_api():
    """After an upgrade to Grafana 12: the marker is in the spec, no manager annotations yet."""
    local = LocalDashboard(DEV, "grafana/dev/triton-dev.json", MODEL, "dashboards/triton.py")
    api = ResourceApi(client=None, target=Target("resource", "", "v1", "v1", "default"))
    older = {**MODEL, "refresh": "5s"}
    pushed = {**older, "tritonObs": {"contentHash": content_hash(older)}}
    assert decide(local, _resource_remote(pushed, {}), api).action == "update"
    edited_since = {**pushed, "title": "Edited"}
    assert decide(local, _resource_remote(edited_since, {}), api).action == "conflict"


def test_plan_one_reads_and_decides_one_dashboard():
    """gen doctor's entry point: one dashboard, one read."""
    from gen.push.client import Credentials, GrafanaClient
    from gen.push.push import plan_one
    from tests.grafana_api_emulator import GrafanaEmulator

    local = LocalDashboard(DEV, "grafana/dev/triton-dev.json", MODEL)
    with GrafanaEmulator(tokens={"t0ken": "Viewer"}) as grafana:
        client = GrafanaClient(grafana.url, Credentials(token="t0ken"))
        assert plan_one(client, local)[0].action == "create"
        grafana.put_dashboard({**MODEL, "tritonObs": {"contentHash": content_hash(MODEL)}}, folder_uid=None)
        grafana.create_folder("triton-dev", "Triton (dev)")
        grafana.dashboards["triton-dev"].folder_uid = "triton-dev"
        outcome, remote = plan_one(client, local)
        assert outcome.action == "unchanged" and remote.uid == "triton-dev"


def test_client_reads_proxies_and_ca_bundle_from_the_environment_once(monkeypatch):
    from gen.push.client import Credentials, GrafanaClient

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/bundle.pem")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = GrafanaClient("https://grafana.example", Credentials(token="t0ken"))
    assert client.session.proxies["https"] == "http://proxy.example:3128"
    assert client.session.verify == "/etc/ssl/bundle.pem"
    assert GrafanaClient("https://grafana.example", Credentials(token="t0ken"), ca_cert="/x.pem").session.verify == "/x.pem"
    assert GrafanaClient("https://grafana.example", Credentials(token="t0ken"), insecure=True).session.verify is False
    monkeypatch.setenv("NO_PROXY", "grafana.example")
    assert "https" not in GrafanaClient("https://grafana.example", Credentials(token="t0ken")).session.proxies
