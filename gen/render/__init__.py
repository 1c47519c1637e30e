"""The render stage: settings and the Python definitions in, files for out/ (as Artifacts) out.

  dashboards  Grafana dashboard JSON and the sidecar ConfigMaps
  rules       PrometheusRules (recording rules and alerts)
  monitors    the ServiceMonitor that makes Prometheus scrape Triton
  argocd      Applications and the ApplicationSet
  kustomize   each environment's kustomization.yaml
  generate    renders the chosen targets, then hands the result to gen.outdir to write
"""
