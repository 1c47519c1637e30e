"""Semantic differences between dashboards: `gen diff` and the conflicts of `gen push`."""
