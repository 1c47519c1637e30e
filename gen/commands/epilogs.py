"""The end of each command's --help: exit codes, environment variables and one example."""

from __future__ import annotations

from gen.commands.common import EXIT_CODES

SETTINGS_ENV = "  TRITON_OBS_SETTINGS  the settings file (instead of --settings)"
_RENDER = f"""{EXIT_CODES}

\b
Environment variables:
{SETTINGS_ENV}
  TRITON_OBS_WORKERS   processes that render a fleet's dashboards (default: one per core; 1: no others)

\b
Example:
  gen {{name}} --env dev --check
"""
VALIDATE = f"""{EXIT_CODES}

\b
Environment variables:
  PROMETHEUS_URL       the server for the live checks (instead of --prometheus-url)
  PROMETHEUS_TOKEN     bearer token (--bearer-token-file wins)
  PROMETHEUS_PASSWORD  basic-auth password for --basic-auth-user (--basic-auth-password-file wins)
{SETTINGS_ENV}
Credentials written into the URL (https://user:pass@host) are used as basic auth when no token
is given; a token wins, with a warning. Secrets are never printed.

\b
Example:
  gen validate --prometheus-url http://localhost:9090 --env dev
"""
PUSH = f"""{EXIT_CODES}

\b
Environment variables:
  GRAFANA_URL          Grafana's base URL (instead of --grafana-url)
  GRAFANA_TOKEN        service-account token (--token-file wins)
  GRAFANA_USER, GRAFANA_PASSWORD  basic auth, when no token is given
{SETTINGS_ENV}
Credentials: --token-file, then GRAFANA_TOKEN, then user:password in the URL, then
GRAFANA_USER/GRAFANA_PASSWORD; when more than one is given the first wins, with a warning.
Secrets are never printed.

\b
Example:
  GRAFANA_TOKEN=glsa_... gen push --grafana-url https://grafana.example.com --env dev --dry-run
"""
DIFF = f"""\b
Exit codes:
  0  nothing differs
  1  something differs
  2  bad usage or input, an unknown git ref, or a Grafana we cannot read
  3  internal error: a bug in gen (rerun with `gen --debug ...` and report it)
  130  interrupted (Ctrl-C, SIGTERM, SIGHUP)
  141  the reader of the output went away (gen ... | head)

\b
Environment variables:
  GRAFANA_URL          Grafana's base URL (when neither --grafana-url nor --against is given)
  GRAFANA_TOKEN, GRAFANA_USER, GRAFANA_PASSWORD  as for gen push
{SETTINGS_ENV}

\b
Examples:
  gen diff --grafana-url https://grafana.example.com --env prod
  gen diff --against origin/main --format json
"""
DOCTOR = f"""\b
Exit codes:
  0  nothing failed (warnings allowed)
  1  a check failed: the first failure is shown with what to do
  2  bad usage or input (flags, settings)
  3  internal error: a bug in gen (rerun with `gen --debug ...` and report it)
  130  interrupted (Ctrl-C, SIGTERM, SIGHUP)
  141  the reader of the output went away (gen ... | head)

\b
Environment variables:
  TRITON_URL           Triton's HTTP endpoint (instead of --triton-url)
  PROMETHEUS_URL       the environment's Prometheus (instead of --prometheus-url)
  PROMETHEUS_TOKEN, PROMETHEUS_PASSWORD  as for gen validate
  GRAFANA_URL          Grafana (instead of --grafana-url)
  GRAFANA_TOKEN, GRAFANA_USER, GRAFANA_PASSWORD  as for gen push
{SETTINGS_ENV}
Secrets are never printed.

\b
Example:
  gen doctor --env dev --triton-url http://localhost:8000 --prometheus-url http://localhost:9090 --infer
"""

_PROMETHEUS_ENV = f"""\b
Environment variables:
  PROMETHEUS_URL       the server to read (instead of --prometheus-url)
  PROMETHEUS_TOKEN     bearer token (--bearer-token-file wins)
  PROMETHEUS_PASSWORD  basic-auth password for --basic-auth-user (--basic-auth-password-file wins)
{SETTINGS_ENV}
Credentials in the URL are used as basic auth when no other is given. Secrets are never printed."""

PREVIEW = f"""{EXIT_CODES}

{_PROMETHEUS_ENV}

\b
Example:
  gen preview --prometheus-url http://localhost:9090 --env dev --range 6h --against origin/main
"""

BACKTEST = f"""{EXIT_CODES}

{_PROMETHEUS_ENV}

\b
Example:
  gen alerts backtest --prometheus-url http://localhost:9090 --env dev --range 7d --against origin/main
"""


def render(name: str) -> str:
    return _RENDER.format(name=name)

IMPORT = f"""{EXIT_CODES}

\b
Environment variables:
{SETTINGS_ENV}

\b
Example:
  gen import nvidia-triton.json --name triton_nvidia --env-variables
"""

PULL = f"""{EXIT_CODES}

\b
Environment variables:
  GRAFANA_URL          the Grafana to read (instead of --grafana-url)
  GRAFANA_TOKEN        service-account token (--token-file wins); a Viewer token suffices
{SETTINGS_ENV}

\b
Exit 0: nothing differs, or --write wrote every change; 1: changes shown (without --write) or some
only as code to paste. It never writes to Grafana.

\b
Example:
  gen pull --grafana-url https://grafana.example.com --env dev --write && git diff dashboards/
"""

REVIEW = f"""{EXIT_CODES}

{_PROMETHEUS_ENV}

\b
Exit 1: an error-level finding in the new tree, or a changed alert that would have fired more
than --max-new-firings times more (default: 0 for critical alerts). Without --prometheus-url,
what needs one is listed under "Not checked", with why.

\b
Example:
  gen review --against origin/main --prometheus-url http://localhost:9090 --env dev
"""
