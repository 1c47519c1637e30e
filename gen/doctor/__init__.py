"""`gen doctor`: the path from a Triton model to a Grafana panel, checked in order and explained.

Steps, each a list of small checks (registry in gen/doctor/steps.py), all returning StepResult:
kubernetes -> triton -> metrics -> prometheus -> grafana. A step whose source was not given is
skipped, with the reason; the report names the first failing check and what to do about it.
"""
