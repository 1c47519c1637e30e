"""JSON Schema of environments.yaml.

`ENVIRONMENT` describes one environment after the `defaults` block has been merged into it;
`DEFAULTS` is the same shape with nothing required, so a typo in `defaults` is caught too.
"""

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# Prometheus' duration syntax (model.ParseDuration): units in decreasing order, no fractions.
PROM_DURATION = r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$"
# Kubernetes label value: 63 characters of [A-Za-z0-9._-], alphanumeric at both ends, or empty.
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
LABEL_KEY = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"

# At least one non-zero figure: a scrape interval of 0s would make every rate window empty.
POSITIVE_DURATION = r"^(?=.*[1-9])" + PROM_DURATION[1:]


SEVERITIES = ["critical", "warning", "info"]
# A YAML file's path relative to the settings file, without spaces.
YAML_FILE = r"^[^\s]+\.ya?ml$"

# Directories of out/ that are not environments.
RESERVED_ENV_NAMES = ["grafana", "argocd", "all"]

# An objective: the fraction of requests that must succeed.
OBJECTIVE = {"type": "number", "exclusiveMinimum": 0, "maximum": 0.99999}
# A Prometheus label name (no leading __, reserved for internal labels).
LABEL_NAME = r"^(?!__)[a-zA-Z_][a-zA-Z0-9_]*$"


# Alerts whose condition compares a value with `threshold`, with the threshold's bounds; the
# others only have `for` and `severity`.
ALERTS_WITH_THRESHOLD = {
    "error_ratio": {"exclusiveMinimum": 0, "maximum": 1},  # server failures / requests
    "request_latency_us": {"exclusiveMinimum": 0, "maximum": 3.6e9},  # microseconds, default objective
    "queue_time_us": {"exclusiveMinimum": 0, "maximum": 3.6e9},
    "pending_requests": {"exclusiveMinimum": 0, "maximum": 1e9},  # requests pending per model
    "backlog_seconds": {"exclusiveMinimum": 0, "maximum": 86400},  # pending / successes per second
    "queue_full": {"exclusiveMinimum": 0, "maximum": 1},  # pending / the model's max_queue_size
    "cpu_utilization": {"exclusiveMinimum": 0, "maximum": 1},  # the node's CPU, as Triton reads it
    "pod_cpu_throttling": {"exclusiveMinimum": 0, "maximum": 1},  # throttled / all CFS periods
    "pod_memory": {"exclusiveMinimum": 0, "maximum": 1},  # working set / memory limit
    "pod_restarts": {"minimum": 1, "maximum": 1000},  # container restarts in an hour
}
ALERTS_WITHOUT_THRESHOLD = [
    "target_down",
    "replicas_missing",
    "no_successful_inference",
    "model_unavailable",
    "pod_oom_killed",
    "kube_state_metrics_absent",
    "slo_page",
    "slo_ticket",
]
# Extra numbers of one alert besides its threshold.
ALERT_EXTRAS = {
    # A ratio over a few requests is noise: at least this many server failures in the window.
    "error_ratio": {"min_failures": {"type": "integer", "minimum": 1, "maximum": 1000000}},
    # Likewise for "no request succeeds": two failures on a rarely used model are no outage.
    "no_successful_inference": {"min_failures": {"type": "integer", "minimum": 1, "maximum": 1000000}},
    # The page's burn rates: at least this many server failures in the short window, and data
    # over at least this part of the long window (a model that started 20 minutes ago has no 6 h
    # ratio worth paging on). 0 turns the history guard off.
    "slo_page": {"min_failures": {"type": "integer", "minimum": 1, "maximum": 1000000},
                 "min_history": {"type": "number", "minimum": 0, "maximum": 1}},
    "slo_ticket": {"min_failures": {"type": "integer", "minimum": 1, "maximum": 1000000}},
    # Pods missing right after spec.replicas changed are a scale-up (or -down) in progress: big
    # models take many minutes to load, and a ticket at every scale-up teaches people to ignore it.
    "replicas_missing": {"scale_up_grace": {"type": "string", "pattern": PROM_DURATION, "minLength": 2}},
}


def _alert(name: str, bounds: dict | None, required: bool) -> dict:
    properties = {
        "for": {"type": "string", "pattern": PROM_DURATION, "minLength": 2},
        "severity": {"enum": SEVERITIES},
    }
    if bounds is not None:
        properties["threshold"] = {"type": "number", **bounds}
    properties.update(ALERT_EXTRAS.get(name, {}))
    schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = sorted(properties)
    return schema


def _model(required: bool) -> dict:
    """Per-model overrides of the environment's objectives, and what only the user knows."""
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "availability": OBJECTIVE,
            "request_latency_us": {"type": "number", "exclusiveMinimum": 0, "maximum": 3.6e9},
            # The model's dynamic_batching.default_queue_policy.max_queue_size: a request that finds
            # the queue full gets HTTP 503 and Triton counts it in no metric.
            "max_queue_size": {"type": "integer", "minimum": 1, "maximum": 1000000000},
        },
    }


def _receiver() -> dict:
    secret_ref = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "key"],
        "properties": {
            "name": {"type": "string", "pattern": DNS_LABEL, "maxLength": 253},
            "key": {"type": "string", "pattern": r"^[-._a-zA-Z0-9]+$", "maxLength": 253},
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "pattern": r"^[a-zA-Z0-9][-_.a-zA-Z0-9]*$", "maxLength": 100},
            # A URL without credentials in it; one that holds a token belongs in a Secret.
            "webhook_url": {"type": "string", "pattern": r"^https?://[^/@\s]+(/\S*)?$"},
            "webhook_url_secret": secret_ref,
        },
        "not": {"required": ["webhook_url", "webhook_url_secret"]},
    }


def _environment(required: bool) -> dict:
    def obj(properties: dict, req: list[str]) -> dict:
        schema = {"type": "object", "additionalProperties": False, "properties": properties}
        if required and req:
            schema["required"] = req
        return schema

    alerts = {name: _alert(name, bounds, required) for name, bounds in ALERTS_WITH_THRESHOLD.items()}
    alerts.update({name: _alert(name, None, required) for name in ALERTS_WITHOUT_THRESHOLD})
    durations = {"type": "string", "pattern": PROM_DURATION, "minLength": 2}
    return obj(
        {
            "namespace": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63},
            "monitoring_namespace": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63},
            "prometheus_release": {"type": "string", "pattern": LABEL_VALUE, "minLength": 1, "maxLength": 63},
            "scrape_interval": {"type": "string", "pattern": POSITIVE_DURATION, "minLength": 2},
            "triton": obj(
                {
                    "service_labels": {
                        "type": "object",
                        "minProperties": 1,
                        "propertyNames": {"pattern": LABEL_KEY, "maxLength": 316},
                        "additionalProperties": {"type": "string", "pattern": LABEL_VALUE, "maxLength": 63},
                    },
                    "metrics_port": {"type": "string", "pattern": DNS_LABEL, "maxLength": 15},
                    "metrics_path": {"type": "string", "pattern": r"^/"},
                    "job": {"type": "string", "pattern": LABEL_VALUE, "minLength": 1, "maxLength": 63},
                    # The Deployment running Triton (kube-state-metrics reports its replicas).
                    "deployment": {"type": "string", "pattern": DNS_LABEL, "maxLength": 253},
                    # Pods expected to serve; without it, the Deployment's spec.replicas.
                    "expected_replicas": {"type": ["integer", "null"], "minimum": 1, "maximum": 10000},
                    # Triton runs with --metrics-config summary_latencies=true: latency objectives
                    # use the summary's quantile instead of the average.
                    "summary_latencies": {"type": "boolean"},
                },
                ["service_labels", "metrics_port", "metrics_path", "job"],
            ),
            "grafana": obj(
                {
                    "folder_uid": {"type": "string", "pattern": r"^[A-Za-z0-9_-]+$", "maxLength": 40},
                    "folder_title": {"type": "string", "minLength": 1, "maxLength": 255},
                    "folder_annotation": {"type": "string", "pattern": LABEL_KEY},
                    # Folders above the environment's folder, outermost first (Triton/prod:
                    # [{uid: triton, title: Triton}]); nested folders need Grafana 11+.
                    "parent_folders": {
                        "type": "array",
                        "maxItems": 3,
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["uid", "title"],
                            "properties": {
                                "uid": {"type": "string", "pattern": r"^[A-Za-z0-9_-]+$", "maxLength": 40},
                                "title": {"type": "string", "minLength": 1, "maxLength": 255},
                            },
                        },
                    },
                    # Whether people may save UI edits of the dashboards gen push owns
                    # (grafana.app/managerAllowsEdits on Grafana 12+).
                    "allow_ui_edits": {"type": "boolean"},
                },
                ["folder_uid", "folder_title", "folder_annotation"],
            ),
            "argocd": obj(
                {
                    "destination_server": {"type": "string", "pattern": r"^https?://"},
                },
                ["destination_server"],
            ),
            "thresholds": obj(alerts, sorted(alerts)),
            # Every alert's severity is at most this: dev sets `warning` so that nothing pages.
            "max_severity": {"enum": SEVERITIES},
            # The label that tells clusters apart on a Prometheus holding a fleet; every rule
            # aggregates by it too. Absent: one cluster per Prometheus.
            "cluster_label": {"type": "string", "pattern": LABEL_NAME, "maxLength": 100},
            # The clusters the environment runs in: Argo CD deploys out/<env> to each; `name` is the
            # value of cluster_label on that cluster's series. Absent: argocd.destination_server.
            "clusters": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "destination_server"],
                    "properties": {
                        # The cluster label's value, and part of Argo CD Application names.
                        "name": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63},
                        "destination_server": {"type": "string", "pattern": r"^https?://"},
                        "monitoring_namespace": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63},
                        "prometheus_release": {"type": "string", "pattern": LABEL_VALUE, "minLength": 1,
                                               "maxLength": 63},
                    },
                },
            },
            "slo": obj(
                {
                    # The period the objectives hold over (the error budget's window).
                    "window": {**durations, "enum": ["7d", "14d", "28d", "30d"]},
                    # Fraction of requests that succeed (failures without CANCELED count against it).
                    "availability": OBJECTIVE,
                },
                ["window", "availability"],
            ),
            "models": {
                "type": "object",
                "propertyNames": {"pattern": r"^[^\s|\\\"]+$", "maxLength": 253},
                "additionalProperties": _model(required),
            },
            "alertmanager": obj(
                {
                    # The receiver each severity is routed to.
                    "receivers": obj({severity: _receiver() for severity in SEVERITIES}, SEVERITIES),
                    "group_wait": durations,
                    "group_interval": durations,
                    "repeat_interval": durations,
                },
                ["receivers", "group_wait", "group_interval", "repeat_interval"],
            ),
            "runbooks_url": {"type": "string", "pattern": r"^https?://[^#\s]+$"},
            # kube-prometheus-stack's default rules (kubernetes-mixin: KubePodCrashLooping,
            # CPUThrottlingHigh, KubeDeploymentReplicasMismatch) run on the same Prometheus: the Triton
            # alerts that would say the same thing are left out (docs/runbooks.md, "Beside
            # kube-prometheus-stack").
            "kubernetes_mixin_alerts": {"type": "boolean"},
            # Each model's max_queue_size, as `gen doctor --write-queue-caps` reads it from Triton
            # (GET /v2/models/<m>/config), in a YAML file beside the settings: {env: {model: cap}}.
            "queue_caps_file": {"type": "string", "pattern": YAML_FILE, "maxLength": 255},
        },
        [
            "namespace",
            "monitoring_namespace",
            "prometheus_release",
            "scrape_interval",
            "triton",
            "grafana",
            "argocd",
            "thresholds",
            "runbooks_url",
            "slo",
            "alertmanager",
        ],
    )


ENVIRONMENT = _environment(required=True)
DEFAULTS = _environment(required=False)

DOCUMENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["environments"],
    "properties": {
        "argocd": {
            "type": "object",
            "additionalProperties": False,
            "required": ["repo_url", "target_revision"],
            "properties": {
                "repo_url": {"type": "string", "minLength": 1},
                "target_revision": {"type": "string", "minLength": 1},
                "project": {"type": "string", "pattern": DNS_LABEL},
                "namespace": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63},
                "path": {"type": "string", "pattern": r"^[^/\s][^\s]*[^/\s]$|^[^/\s]$"},
            },
        },
        "defaults": DEFAULTS,
        # The environment `gen push` writes when --env is not given (without it, --env is required).
        "default_env": {"type": "string", "pattern": DNS_LABEL},
        "environments": {
            "type": "object",
            "minProperties": 1,
            # Environment names become directory names, uids and Kubernetes names.
            "propertyNames": {"pattern": DNS_LABEL, "maxLength": 30, "not": {"enum": RESERVED_ENV_NAMES}},
            # Checked in full after `defaults` is merged in; here only the shape.
            "additionalProperties": {"type": "object"},
        },
    },
}


# What each pattern means, in words: messages never show a raw regular expression.
PATTERN_WORDS = {
    YAML_FILE: "must be the path of a .yaml file beside the settings, without spaces (queue-caps.yaml)",
    DNS_LABEL: "must be a lowercase DNS label (a-z, 0-9 and '-', starting and ending with a letter or digit)",
    PROM_DURATION: "must be a Prometheus duration such as 30s, 5m, 1h30m (units y w d h m s ms, largest first)",
    POSITIVE_DURATION: "must be a Prometheus duration greater than zero, such as 15s or 1m",
    LABEL_VALUE: "must be a Kubernetes label value: letters, digits, '-', '_' and '.', "
                 "starting and ending with a letter or digit",
    LABEL_KEY: "must be a Kubernetes label key: an optional DNS prefix and '/', then letters, digits, '-', '_' "
               "and '.'",
    r"^[A-Za-z0-9_-]+$": "may only contain letters, digits, '-' and '_'",
    r"^/": "must start with '/'",
    r"^https?://": "must be an http:// or https:// URL",
    r"^https?://[^#\s]+$": "must be an http:// or https:// URL without spaces or a '#' fragment",
    LABEL_NAME: "must be a Prometheus label name (letters, digits and '_', not starting with a digit or '__')",
    r"^[-._a-zA-Z0-9]+$": "may only contain letters, digits, '-', '_' and '.'",
    r"^[a-zA-Z0-9][-_.a-zA-Z0-9]*$": "must start with a letter or digit and hold only letters, digits, '-', '_' "
                                     "and '.'",
    r"^https?://[^/@\s]+(/\S*)?$": "must be an http:// or https:// URL without spaces or credentials",
    r"^[^\s|\\\"]+$": "may not contain white space, '|', '\\' or '\"'",
    r"^[^/\s][^\s]*[^/\s]$|^[^/\s]$": "must be a relative path without spaces, not starting or ending with '/'",
}
