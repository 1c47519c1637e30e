"""triton-obs: Grafana dashboards and Prometheus rules for Triton, as code."""

__version__ = "0.1.0"
