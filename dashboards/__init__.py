"""Dashboard definitions: one module per dashboard, each exposing `dashboard(env)`.

Modules whose name starts with an underscore are helpers, not dashboards.
"""
