"""`gen push`: publish out/grafana/<env>/*.json through Grafana's HTTP API without ever
overwriting an edit made in Grafana by accident."""
