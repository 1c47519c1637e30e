"""Real servers for end-to-end tests: Triton (pytriton), Prometheus and VictoriaMetrics."""
