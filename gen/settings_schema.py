"""JSON Schema of environments.yaml.

`ENVIRONMENT` describes one environment after the `defaults` block has been merged into it;
`DEFAULTS` is the same shape with nothing required, so a typo in `defaults` is caught too.
"""

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# Prometheus' duration syntax (model.ParseDuration): units in decreasing order, no fractions.
PROM_DURATION = r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$"
# Kubernetes label value: 63 characters of [A-Za-z0-9._-], alphanumeric at both ends, or empty.
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
# A Prometheus label name (model.LabelNameRE).
PROM_LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
LABEL_KEY = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"

# At least one non-zero figure: a scrape interval of 0s would make every rate window empty.
POSITIVE_DURATION = r"^(?=.*[1-9])" + PROM_DURATION[1:]

# What each pattern means, in words: messages never show a raw regular expression.
PATTERN_WORDS = {
    DNS_LABEL: "must be a lowercase DNS label (a-z, 0-9 and '-', starting and ending with a letter or digit)",
    PROM_DURATION: "must be a Prometheus duration such as 30s, 5m, 1h30m (units y w d h m s ms, largest first)",
    POSITIVE_DURATION: "must be a Prometheus duration greater than zero, such as 15s or 1m",
    LABEL_VALUE: "must be a Kubernetes label value: letters, digits, '-', '_' and '.', "
                 "starting and ending with a letter or digit",
    LABEL_KEY: "must be a Kubernetes label key: an optional DNS prefix and '/', then letters, digits, '-', '_' "
               "and '.'",
    PROM_LABEL_NAME: "must be a Prometheus label name: letters, digits and '_', not starting with a digit",
    r"^[A-Za-z0-9_-]+$": "may only contain letters, digits, '-' and '_'",
    r"^/": "must start with '/'",
    r"^https?://": "must be an http:// or https:// URL",
    r"^https?://[^#\s]+$": "must be an http:// or https:// URL without spaces or a '#' fragment",
    r"^[^/\s][^\s]*[^/\s]$|^[^/\s]$": "must be a relative path without spaces, not starting or ending with '/'",
}

SEVERITIES = ["critical", "warning", "info"]

# Directories of out/ that are not environments.
RESERVED_ENV_NAMES = ["grafana", "argocd", "all"]

# Alerts whose condition compares a value with `threshold`; the others only have `for`.
ALERTS_WITH_THRESHOLD = [
    "error_ratio",
    "request_latency_us",
    "queue_time_us",
    "pending_requests",
    "cpu_utilization",
]
ALERTS_WITHOUT_THRESHOLD = ["target_down", "no_successful_inference"]


# The largest threshold that still means something; a larger one is a typo (or .inf).
THRESHOLD_MAXIMUM = {
    "error_ratio": 1,  # a ratio
    "cpu_utilization": 1,  # a ratio
    "request_latency_us": 3_600_000_000,  # one hour
    "queue_time_us": 3_600_000_000,
    "pending_requests": 10_000_000,
}


def _alert(name: str, with_threshold: bool, required: bool) -> dict:
    properties = {
        "for": {"type": "string", "pattern": PROM_DURATION, "minLength": 2},
        "severity": {"enum": SEVERITIES},
    }
    if with_threshold:
        properties["threshold"] = {"type": "number", "exclusiveMinimum": 0, "maximum": THRESHOLD_MAXIMUM[name]}
    schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = sorted(properties)
    return schema


def _environment(required: bool) -> dict:
    def obj(properties: dict, req: list[str]) -> dict:
        schema = {"type": "object", "additionalProperties": False, "properties": properties}
        if required and req:
            schema["required"] = req
        return schema

    alerts = {name: _alert(name, True, required) for name in ALERTS_WITH_THRESHOLD}
    alerts.update({name: _alert(name, False, required) for name in ALERTS_WITHOUT_THRESHOLD})
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
                },
                ["service_labels", "metrics_port", "metrics_path", "job"],
            ),
            "grafana": obj(
                {
                    "folder_uid": {"type": "string", "pattern": r"^[A-Za-z0-9_-]+$", "maxLength": 40},
                    "folder_title": {"type": "string", "minLength": 1, "maxLength": 255},
                    "folder_annotation": {"type": "string", "pattern": LABEL_KEY},
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
            "runbooks_url": {"type": "string", "pattern": r"^https?://[^#\s]+$"},
            "cluster_label": {"type": "string", "pattern": PROM_LABEL_NAME},
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
