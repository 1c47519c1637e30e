"""The CI templates of docs/ci that run `gen review` on a pull request. actionlint cannot be
installed here (its PyPI package downloads the binary from GitHub at build time), so each
workflow is checked against a schema of what its CI reads (keys, types, required parts; Draft 4,
written for these two files), every shell step is parsed by bash, and what makes the template
work is asserted: the review runs against the base branch, the comment is found by its marker and
updated, and the job fails when the review blocks."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml
from jsonschema import Draft4Validator

from tests.conftest import REPO

STEP = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"}, "id": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"},
        "if": {"type": "string"}, "uses": {"type": "string", "pattern": "^[\\w.-]+/[\\w.-]+@v\\d+$"},
        "run": {"type": "string"}, "with": {"type": "object"},
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "oneOf": [{"required": ["uses"]}, {"required": ["run"]}],
}
GITHUB_WORKFLOW = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "on", "jobs"],
    "properties": {
        "name": {"type": "string"},
        "on": {"type": "object", "properties": {"pull_request": {"type": "object"}}, "required": ["pull_request"]},
        "permissions": {"type": "object", "additionalProperties": {"enum": ["read", "write", "none"]}},
        "concurrency": {"type": "object", "required": ["group"]},
        "jobs": {"type": "object", "minProperties": 1, "additionalProperties": {
            "type": "object", "required": ["runs-on", "steps"], "additionalProperties": False,
            "properties": {"runs-on": {"type": "string"}, "steps": {"type": "array", "minItems": 1, "items": STEP},
                           "if": {"type": "string"}, "env": {"type": "object"}}}},
    },
}
GITLAB_JOB = {
    "type": "object",
    "additionalProperties": False,
    "required": ["stage", "script"],
    "properties": {
        "stage": {"type": "string"}, "image": {"type": "string"},
        "rules": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                             "properties": {"if": {"type": "string"},
                                                            "changes": {"type": "array", "items": {"type": "string"}}}}},
        "variables": {"type": "object", "additionalProperties": {"type": "string"}},
        "before_script": {"type": "array", "items": {"type": "string"}},
        "script": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "artifacts": {"type": "object", "additionalProperties": False,
                      "properties": {"when": {"enum": ["on_success", "on_failure", "always"]},
                                     "paths": {"type": "array", "items": {"type": "string"}},
                                     "expire_in": {"type": "string"}}},
    },
}


def _load(name: str) -> dict:
    text = (REPO / "docs/ci" / name).read_text()
    # YAML 1.1 reads a bare `on` key as True: as GitHub does not.
    return yaml.load(text.replace("\non:", '\n"on":'), Loader=yaml.SafeLoader)


def _bash_parses(script: str) -> None:
    bash = shutil.which("bash")
    assert bash
    done = subprocess.run([bash, "-n"], input=script, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr + script


def test_the_github_workflow():
    workflow = _load("github-review.yml")
    errors = sorted(e.message for e in Draft4Validator(GITHUB_WORKFLOW).iter_errors(workflow))
    assert errors == []
    (job,) = workflow["jobs"].values()
    runs = [step["run"] for step in job["steps"] if "run" in step]
    for run in runs:
        # ${{ ... }} is GitHub's, replaced before the shell sees it.
        _bash_parses(re.sub(r"\$\{\{[^}]*\}\}", "x", run))
    review = next(step for step in job["steps"] if step.get("id") == "review")
    assert 'gen review --against "origin/$BASE_REF"' in review["run"] and review["env"]["BASE_REF"] == \
        "${{ github.base_ref }}"
    assert job["steps"][0]["with"]["fetch-depth"] == 0
    comment = next(step for step in job["steps"] if "github-script" in step.get("uses", ""))
    script = comment["with"]["script"]
    assert "<!-- gen-review -->" in script and "updateComment" in script and "createComment" in script
    assert "src=\"images/" in script  # the images' links rewritten to where they are published
    last = job["steps"][-1]
    assert last["if"] == "steps.review.outputs.exit != '0'" and "exit 1" in last["run"]
    assert workflow["permissions"] == {"contents": "write", "pull-requests": "write"}


def test_the_gitlab_job():
    document = yaml.safe_load((REPO / "docs/ci/gitlab-review.yml").read_text())
    (job,) = document.values()
    errors = sorted(e.message for e in Draft4Validator(GITLAB_JOB).iter_errors(job))
    assert errors == []
    # GitLab runs before_script and script as one shell session: parsed as one.
    _bash_parses("\n".join(job["before_script"] + job["script"]))
    script = "\n".join(job["script"])
    assert 'gen review --against "origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"' in script
    assert "<!-- gen-review -->" in script and "-X PUT" in script and "-X POST" in script
    assert "/uploads" in script and job["script"][-1] == 'exit "$code"'
    assert job["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
    assert job["artifacts"]["when"] == "always"


@pytest.mark.parametrize("name", ["github-review.yml", "gitlab-review.yml"])
def test_the_templates_install_as_the_readme_says(name):
    text = (REPO / "docs/ci" / name).read_text()
    assert "pip install uv==0.13.9 && uv sync --locked" in text or "pip install -q uv==0.13.9 && uv sync --locked" in text
    assert "gen build --check" in text
