"""`gen preview`: dashboards drawn from live data into PNG images and an HTML page, without Grafana."""
