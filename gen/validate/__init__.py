"""`gen validate`: static checks of out/ (always) and live checks against a Prometheus (with a URL)."""
