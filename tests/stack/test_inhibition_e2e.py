"""One incident, one notification: the rendered routing and inhibition on Debian's Alertmanager.

A backend outage of one model fires, in Prometheus, the fast burn (critical) and five warnings
about the same model: ErrorRatioHigh, LatencyHigh, QueueTimeHigh, BacklogHigh and
BacklogSecondsHigh, and the slow burn. They are posted to a real Alertmanager as Prometheus posts
them, with the configuration the operator builds from out/dev/alertmanagerconfig-triton.yaml;
the webhook receiver counts what each receiver is sent.
"""

from __future__ import annotations

import datetime
import json
import time
import urllib.request

import pytest
import yaml

from tests.conftest import copy_project, run_gen
from tests.stack import servers

pytestmark = pytest.mark.e2e

OUTAGE = [
    ("TritonModelErrorBudgetBurn", "critical", {"burn_rate": "fast", "slo": "availability"}),
    ("TritonModelErrorBudgetBurn", "warning", {"burn_rate": "slow", "slo": "availability"}),
    ("TritonModelErrorRatioHigh", "warning", {}),
    ("TritonModelLatencyHigh", "warning", {}),
    ("TritonModelQueueTimeHigh", "warning", {}),
    ("TritonModelBacklogHigh", "warning", {}),
    ("TritonModelBacklogSecondsHigh", "warning", {}),
]


def _settings(project, receiver_url: str) -> None:
    path = project / "environments.yaml"
    document = yaml.safe_load(path.read_text())
    document["environments"]["dev"]["max_severity"] = "critical"
    document["defaults"]["alertmanager"] = {
        "receivers": {severity: {"name": f"test-{severity}", "webhook_url": f"{receiver_url}/{severity}"}
                      for severity in ("critical", "warning", "info")},
        "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h",
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _post(alertmanager_url: str, alerts: list[dict]) -> None:
    request = urllib.request.Request(f"{alertmanager_url}/api/v2/alerts", data=json.dumps(alerts).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def _alert(name: str, severity: str, extra: dict, model: str = "flaky_model", **labels: str) -> dict:
    now = datetime.datetime.now(datetime.timezone.utc)
    return {
        "labels": {"alertname": name, "severity": severity, "environment": "dev", "namespace": "triton-dev",
                   "model": model, **extra, **labels},
        "annotations": {"summary": name},
        "startsAt": now.isoformat(), "endsAt": (now + datetime.timedelta(hours=1)).isoformat(),
    }


def test_one_backend_outage_is_one_notification_per_receiver(tmp_path):
    from gen.render.alertmanager import alertmanager_yaml

    project = copy_project(tmp_path / "project")
    with servers.WebhookReceiver() as receiver:
        _settings(project, receiver.url)
        built = run_gen("alerts", "--env", "dev", cwd=project)
        assert built.returncode == 0, built.stderr
        amc = yaml.safe_load((project / "out/dev/alertmanagerconfig-triton.yaml").read_text())
        with servers.alertmanager_server(tmp_path / "am", alertmanager_yaml(amc)) as am:
            # The critical alert first, as the fast burn fires before the tickets' `for` is over.
            _post(am.url, [_alert(*OUTAGE[0])])
            receiver.wait_for(alertname="TritonModelErrorBudgetBurn", severity="critical", timeout=30)
            _post(am.url, [_alert(*alert) for alert in OUTAGE])
            # Another model's warning is another object: it is not held back.
            _post(am.url, [_alert("TritonModelLatencyHigh", "warning", {}, model="other_model")])
            receiver.wait_for(alertname="TritonModelLatencyHigh", model="other_model", timeout=30)
            time.sleep(4)  # several group intervals: anything not held back has been sent by now

    paths = [path for path, _ in receiver.notifications]
    assert paths.count("/critical") == 1, receiver.notifications
    warnings = [alert["labels"] for path, alert in receiver.alerts() if path == "/warning"]
    assert [(a["alertname"], a["model"]) for a in warnings] == [("TritonModelLatencyHigh", "other_model")]
