"""Golden files: a compact, reviewable summary of what each dashboard shows and queries.

out/ holds the full JSON; these summaries make a change of a query, unit, title, runbook link or
annotation stand out in review. Besides the project's environments, `fleet_settings()` renders the
dashboard with a cluster label (a fleet behind one global view). Regenerate them only on purpose,
and read the diff:

    python -m tests.golden update
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
SETTINGS = HERE.parents[1] / "environments.yaml"


def fleet_settings():
    """The project's settings (its defaults, thresholds included) with one more environment: prod's
    namespace in two clusters behind a global view, with the cluster label."""
    import yaml

    from gen.settings import parse_settings

    document = yaml.safe_load(SETTINGS.read_text(encoding="utf-8"))
    document["defaults"]["cluster_label"] = "cluster"
    document["environments"] = {"fleet": {
        "namespace": "triton-prod",
        "prometheus_release": "monitoring-prod",
        "grafana": {"folder_uid": "triton-fleet", "folder_title": "Triton (fleet)"},
        "clusters": [
            {"name": "eu-west", "destination_server": "https://eu-west.example.com:6443"},
            {"name": "us-east", "destination_server": "https://us-east.example.com:6443",
             "monitoring_namespace": "observability", "prometheus_release": "kube-prometheus-stack"},
        ],
    }}
    return parse_settings(document, SETTINGS)


def summary(model: dict) -> str:
    from gen.render.grafana_json import iter_panels

    lines = [f"dashboard {model['uid']}: {model['title']} (schemaVersion {model['schemaVersion']})"]
    for variable in model["templating"]["list"]:
        extra = f" all={variable['allValue']}" if variable.get("includeAll") else ""
        lines.append(f"  variable {variable['name']} ({variable['type']}): {variable.get('query')}{extra}")
    for annotation in model["annotations"]["list"]:
        if not annotation.get("builtIn"):
            lines.append(f"  annotation '{annotation['name']}': {annotation['expr']}")
    for panel in iter_panels(model):
        if panel["type"] == "row":
            lines.append(f"row {panel['title']}" + (" (collapsed)" if panel.get("collapsed") else ""))
            continue
        unit = panel["fieldConfig"]["defaults"].get("unit")
        grid = panel["gridPos"]
        lines.append(f"  {panel['type']} '{panel['title']}' unit={unit} at x={grid['x']} y={grid['y']} w={grid['w']} h={grid['h']}")
        for link in panel.get("links") or []:
            lines.append(f"    link {link['title']}: #{link['url'].rsplit('#', 1)[-1]}")
        for target in panel["targets"]:
            expr = " ".join(target["expr"].split())
            lines.append(f"    {target['refId']} [{target.get('legendFormat', '')}] {expr}")
    return "\n".join(lines) + "\n"


def expected_files() -> dict[str, str]:
    from gen.render.dashboards import build_dashboards
    from gen.settings import load_settings

    built = build_dashboards(load_settings(SETTINGS)) + build_dashboards(fleet_settings())
    return {f"{b.uid}.txt": summary(b.model) for b in built}
