"""environments.yaml: defaults merged, validated with jsonschema, one-line errors with exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gen.errors import UserError
from gen.settings import load_settings
from tests.conftest import REPO, run_gen, snapshot


def test_default_environments():
    settings = load_settings(REPO / "environments.yaml")
    assert list(settings.environments) == ["dev", "prod"]
    dev, prod = settings.environments["dev"], settings.environments["prod"]
    assert (dev.namespace, dev.prometheus_release) == ("triton-dev", "monitoring-dev")
    assert (prod.namespace, prod.prometheus_release) == ("triton-prod", "monitoring-prod")
    assert dev.grafana.folder_uid != prod.grafana.folder_uid
    assert dev.grafana.folder_title and prod.grafana.folder_title
    # defaults are merged under each environment, and an environment overrides them
    assert dev.thresholds["error_ratio"].threshold == 0.05
    assert prod.thresholds["error_ratio"].threshold == 0.01
    assert prod.thresholds["error_ratio"].for_ == "5m"
    assert prod.thresholds["cpu_utilization"].threshold == 0.9


def _write(tmp_path: Path, mutate) -> Path:
    document = yaml.safe_load((REPO / "environments.yaml").read_text())
    mutate(document)
    path = tmp_path / "environments.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (
            lambda d: d["environments"]["dev"].update(thresholds={"error_ratio": {"threshold": "high"}}),
            "environments.yaml: environments.dev.thresholds.error_ratio.threshold: 'high' is not of type 'number'",
        ),
        (
            lambda d: d["defaults"]["thresholds"]["cpu_utilization"].update({"for": "10 minutes"}),
            "environments.yaml: defaults.thresholds.cpu_utilization.for: '10 minutes' must be a Prometheus duration such as 30s",
        ),
        (
            lambda d: d["environments"]["prod"].pop("namespace"),
            "environments.yaml: environments.prod: 'namespace' is a required property",
        ),
        (
            lambda d: d["environments"]["dev"].update(namespce="x"),
            "environments.yaml: environments.dev: 'namespce' is not allowed",
        ),
        (
            lambda d: d["environments"]["dev"].update(namespace="Triton_Dev"),
            "environments.yaml: environments.dev.namespace: 'Triton_Dev' must be a lowercase DNS label",
        ),
        (
            lambda d: d["environments"].update(argocd=d["environments"]["dev"]),
            "environments.yaml: environments: key 'argocd' is a reserved name",
        ),
        (
            lambda d: d["environments"]["prod"]["grafana"].update(folder_uid="triton-dev"),
            "environments.yaml: environments.prod.grafana.folder_uid: 'triton-dev' is already used by environment 'dev'",
        ),
        (
            lambda d: d["environments"]["dev"].update(thresholds={"error_ratio": {"severity": "page"}}),
            "environments.yaml: environments.dev.thresholds.error_ratio.severity: 'page' is not one of critical, warning, info",
        ),
        # YAML's .nan and .inf are floats: Grafana's JSON cannot hold them and `> nan` never fires.
        (
            lambda d: d["environments"]["dev"].update(thresholds={"error_ratio": {"threshold": float("nan")}}),
            "environments.yaml: environments.dev.thresholds.error_ratio.threshold: nan is not a finite number",
        ),
        (
            lambda d: d["environments"]["dev"].update(thresholds={"request_latency_us": {"threshold": float("inf")}}),
            "environments.yaml: environments.dev.thresholds.request_latency_us.threshold: inf is not a finite number",
        ),
        (
            lambda d: d["environments"]["dev"].update(thresholds={"error_ratio": {"threshold": 5}}),
            "environments.yaml: environments.dev.thresholds.error_ratio.threshold: 5 must be at most 1",
        ),
        (
            lambda d: d["environments"]["dev"].update(scrape_interval="0s"),
            "environments.yaml: environments.dev.scrape_interval: '0s' must be a Prometheus duration greater than zero",
        ),
        (
            lambda d: d["environments"].update({"Dev-1": d["environments"]["dev"]}),
            "environments.yaml: environments: key 'Dev-1' must be a lowercase DNS label",
        ),
        (
            lambda d: d["environments"]["dev"].update(
                alertmanager={"receivers": {"critical": {"name": "pager", "webhook_url": "https://pager.example/x",
                                                         "webhook_url_secret": {"name": "s", "key": "url"}}}}),
            "environments.yaml: environments.dev.alertmanager.receivers.critical: give only one of 'webhook_url', "
            "'webhook_url_secret', not both",
        ),
        # One from `defaults`, one from the environment: the merged receiver has both.
        (
            lambda d: d["environments"]["dev"].update(
                alertmanager={"receivers": {"critical": {"name": "pager", "webhook_url": "https://pager.example/x"}}}),
            "environments.yaml: environments.dev.alertmanager.receivers.critical: give only one of 'webhook_url', "
            "'webhook_url_secret', not both",
        ),
        (
            lambda d: d["environments"].update({"a" * 31: d["environments"]["dev"]}),
            "environments.yaml: environments: key '" + "a" * 31 + "' may have at most 30 characters",
        ),
    ],
)
def test_bad_settings_name_file_and_key_path(tmp_path, mutate, expected):
    path = _write(tmp_path, mutate)
    with pytest.raises(UserError) as excinfo:
        load_settings(path)
    assert str(excinfo.value).startswith(expected)
    assert "\n" not in str(excinfo.value)
    # In words: never a raw regular expression or a piece of JSON Schema.
    for raw in ("^[", "does not match", "should not be valid", "{'enum'", "Additional properties"):
        assert raw not in str(excinfo.value)


@pytest.mark.parametrize("text, line, key", [
    ("environments:\n  dev:\n    namespace: a\n  dev:\n    namespace: b\n", 4, "dev"),
    ("defaults:\n  scrape_interval: 15s\n  scrape_interval: 30s\nenvironments:\n  dev: {}\n", 3, "scrape_interval"),
    ("environments:\n  dev:\n    thresholds:\n      error_ratio: {threshold: 0.1, threshold: 0.2}\n", 4, "threshold"),
])
def test_duplicate_keys_are_refused_at_every_level_naming_the_line(tmp_path, text, line, key):
    path = tmp_path / "environments.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as excinfo:
        load_settings(path)
    assert str(excinfo.value).startswith(f"environments.yaml:{line}: duplicate key '{key}'")


def test_invalid_yaml_names_line(tmp_path):
    path = tmp_path / "environments.yaml"
    path.write_text("environments:\n  dev: [\n")
    with pytest.raises(UserError, match=r"^environments\.yaml:3:1: invalid YAML"):
        load_settings(path)


def test_bad_settings_cli_exit_2_nothing_written(project):
    settings = project / "environments.yaml"
    document = yaml.safe_load(settings.read_text())
    document["environments"]["dev"]["thresholds"] = {"request_latency_us": {"threshold": [1]}}
    settings.write_text(yaml.safe_dump(document))
    before = snapshot(project / "out")
    (project / "out" / "dev" / "dashboard-triton.yaml").unlink()  # out/ is stale: still nothing may be written

    result = run_gen("dashboards", cwd=project)

    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "error: environments.yaml: environments.dev.thresholds.request_latency_us.threshold: "
        "list is not of type 'number'"
    ]
    after = snapshot(project / "out")
    before.pop("dev/dashboard-triton.yaml")
    assert after == before


def test_unknown_environment(project):
    result = run_gen("dashboards", "--env", "staging", cwd=project)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: environments.yaml: unknown environment 'staging' (known: dev, prod, all)"


def test_unknown_environment_in_a_fleet_names_the_closest_and_cuts_the_list(project):
    settings = project / "environments.yaml"
    document = yaml.safe_load(settings.read_text())
    document["environments"] = {
        f"cluster-{i:03d}": {"namespace": f"triton-{i:03d}", "prometheus_release": f"monitoring-{i:03d}",
                             "grafana": {"folder_uid": f"f-{i:03d}", "folder_title": f"T {i:03d}"}}
        for i in range(200)
    }
    settings.write_text(yaml.safe_dump(document))
    result = run_gen("dashboards", "--env", "clustr-117", cwd=project)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: environments.yaml: unknown environment 'clustr-117' (did you mean 'cluster-117'? "
        "known: cluster-000, cluster-001, cluster-002, cluster-003, cluster-004, cluster-005, "
        "cluster-006, cluster-007, ... 192 more, all)"
    )


def test_missing_settings_file(tmp_path):
    (tmp_path / ".git").mkdir()  # the search upward stops at a repository's top
    result = run_gen("dashboards", cwd=tmp_path)
    assert result.returncode == 2
    assert "settings file not found or in any folder above it" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_settings_are_found_from_a_folder_inside_the_project(project):
    for folder in (project / "dashboards", project / "out" / "dev"):
        result = run_gen("build", "--check", cwd=folder)
        assert result.returncode == 0, (folder, result.stderr)
        validated = run_gen("validate", "--env", "dev", cwd=folder)
        assert validated.returncode == 0, (folder, validated.stdout + validated.stderr)


def test_the_search_upward_stops_at_the_top_of_a_git_repository(project):
    inner = project / "vendor" / "other"
    (inner / ".git").mkdir(parents=True)
    result = run_gen("dashboards", cwd=inner)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {inner.resolve() / 'environments.yaml'}: settings file not found "
                                     "or in any folder above it (pass --settings FILE)")
    # A path with a folder in it is taken as given, never searched for.
    result = run_gen("dashboards", "--settings", "sub/environments.yaml", cwd=project)
    assert result.returncode == 2 and "or in any folder above" not in result.stderr


def test_every_pattern_in_the_settings_schema_is_explained_in_words():
    from gen.settings import schema as settings_schema

    patterns: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                patterns.add(node["pattern"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(settings_schema.DOCUMENT)
    walk(settings_schema.ENVIRONMENT)
    assert patterns and sorted(p for p in patterns if p not in settings_schema.PATTERN_WORDS) == []


# --- gen.schema_check: valid settings never wait for jsonschema, and it agrees with jsonschema -------

PROBES = [None, True, False, 0, 1, -1, 3, 0.5, 3.0, 1e300, 2**1100, float("nan"), float("inf"), "", "x", "0s",
          "15s", "1h30m", "Has Space", "triton-dev", "https://example.org/x", "/metrics", "critical", [], ["a"],
          [{"name": "a", "destination_server": "https://k"}], {}, {"a": "b"}, {"name": "x"}]


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))


def _replaced(document, path, value):
    import copy

    document = copy.deepcopy(document)
    *parents, last = path
    holder = document
    for key in parents:
        holder = holder[key]
    if value is _DELETE:
        del holder[last]
    else:
        holder[last] = value
    return document


_DELETE = object()


def test_the_fast_check_says_what_jsonschema_says():
    """Every key of a merged environment replaced by each probe (or deleted), and keys added at
    every level: where gen.schema_check decides, it decides as jsonschema does."""
    from gen.settings import schema as settings_schema
    from gen.settings.schema_check import Checker, Unsure
    from gen.settings import _validator_class, deep_merge

    document = yaml.safe_load((REPO / "environments.yaml").read_text())
    environment = deep_merge(document["defaults"], document["environments"]["dev"])
    validator = _validator_class()(settings_schema.ENVIRONMENT)
    cases = [environment]
    for path in _paths(environment):
        if path:
            cases += [_replaced(environment, path, probe) for probe in [*PROBES, _DELETE]]
        if isinstance(_get(environment, path), dict):
            cases.append(_replaced(environment, (*path, "unknown_key"), 1))
    decided = {True: 0, False: 0}
    for case in cases:
        try:
            answer = Checker().check(settings_schema.ENVIRONMENT, case)
        except Unsure:
            continue
        assert answer == validator.is_valid(case), case
        decided[answer] += 1
    print(decided)
    assert decided[True] > 100 and decided[False] > 1000, decided  # it decides nearly everything


def _get(document, path):
    for key in path:
        document = document[key]
    return document


def test_valid_settings_do_not_import_jsonschema(tmp_path):
    """It costs more than the rest of `gen dashboards` for two environments."""
    import subprocess
    import sys

    code = ("import sys; from gen.settings import load_settings; "
            f"load_settings({str(REPO / 'environments.yaml')!r}); print('jsonschema' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.stdout.strip() == "False", result.stderr


def test_a_new_environment_gets_every_problem_named_in_one_run(tmp_path):
    """Adding `staging` by hand: a typo and a forgotten key are both named, the typo with the key
    it is close to, and so is another environment's problem, in one line."""
    def mutate(d):
        d["environments"]["staging"] = {"namepsace": "triton-staging",
                                        "grafana": {"folder_uid": "triton-staging", "folder_title": "Triton (staging)"}}
        d["environments"]["dev"]["scrape_interval"] = "0s"

    path = _write(tmp_path, mutate)
    with pytest.raises(UserError) as excinfo:
        load_settings(path)
    message = str(excinfo.value)
    assert "\n" not in message
    assert "environments.staging: 'namespace' is a required property" in message
    assert "environments.staging: 'prometheus_release' is a required property" in message
    assert "'namepsace' is not allowed (did you mean 'namespace'?)" in message
    assert "environments.dev.scrape_interval: '0s' must be a Prometheus duration greater than zero" in message
