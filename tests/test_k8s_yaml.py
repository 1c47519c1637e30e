"""The ConfigMap head written without PyYAML (gen.render.k8s._configmap_head) is PyYAML's, byte for
byte, for every metadata; what it cannot write simply goes to PyYAML."""

from __future__ import annotations

import random
import string

import pytest

from gen.render import k8s

# Strings YAML reads as something other than a string, and near misses that stay strings.
RESOLVING = [
    "1", "0", "007", "1.5", "1e3", "1E3", ".5", "1_000", "0x1F", "0o17", "0b101", "1.0e+3", ".inf", ".nan",
    "true", "True", "TRUE", "false", "yes", "Yes", "no", "NO", "on", "On", "off", "y", "n", "Y", "N",
    "null", "Null", "NULL", "2026-11-28", "2026-1-2", "2026-11-28 12", "1.2.3", "1-2", "123abc", "0.0.0.0",
    "e3", "inf", "nan", "a", "Z", "0x", "1 2", "1.", "1_0.5", "1 (2)", "v1.2", "8.0", "(1)",
    "a: b", "a:b", "a:", "a #b", "a#b", "-a", "a -", "- a", "? a", "a, b", "a [b]", "a{b}", "a'b", 'a"b',
    "a  b", "a\tb", "café", "a ", " a", "a.", "a/", "a)", "a(", ".a", "/a", "(a", "_a", "a_", "a-",
]
SIMPLE_CHARS = string.ascii_letters + string.digits + "._/() -"
SPECIAL_CHARS = "'\":#,[]{}&*!|>%@`?+=~\\é\t\n<;$^"


def _random_strings(seed: int, count: int) -> list[str]:
    """Mostly simple strings; a third of them with one special character somewhere."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        chars = [rng.choice(SIMPLE_CHARS) for _ in range(rng.choice([1, 2, 3, 5, 8, 20]))]
        if rng.random() < 0.35:
            chars.insert(rng.randrange(len(chars) + 1), rng.choice(SPECIAL_CHARS))
        out.append("".join(chars))
    return out


def _meta(name, namespace, labels, annotations):
    return k8s.metadata(name, namespace, labels, annotations)


def _pyyaml(meta) -> str:
    return k8s.dump_yaml({"apiVersion": "v1", "kind": "ConfigMap", "metadata": dict(meta)})


@pytest.mark.parametrize("seed", range(4))
def test_the_head_is_pyyamls_for_any_strings(seed):
    values = RESOLVING + _random_strings(seed, 3000)
    rng = random.Random(seed)
    simple = 0
    for value in values:
        other = rng.choice(values)
        for meta in (
            _meta(value, "monitoring", {"grafana_dashboard": "1"}, {"grafana_folder": other}),
            _meta("n", value, {value: other}, None),
            _meta("n", "ns", {"k": value}, {other: value}),
        ):
            assert k8s._configmap_head(meta) == _pyyaml(meta), meta
        try:
            k8s._simple_scalar(value)
            simple += 1
        except k8s._NotSimple:
            pass
    assert simple > 1500  # most of them took the fast path: the comparison is not all fallbacks


def test_empty_or_odd_metadata_goes_to_pyyaml():
    for meta in ({"name": "x", "labels": {}}, {"name": ""}, {"name": "x", "labels": {"a": 1}}, {"name": None}):
        assert k8s._configmap_head(meta) == _pyyaml(meta)
