"""`gen import` on dashboards someone else wrote: a round trip per dashboard, and what it cost.

    python bench/import_real_world.py PATH [PATH ...]

A PATH is a dashboard JSON file, a directory of them, or a YAML file of ConfigMaps whose `*.json`
keys hold dashboards (kube-prometheus' manifests/grafana-dashboardDefinitions.yaml). Each is
imported into a fresh copy of this project, then built by `gen build` and compared with the input
(after Grafana's migrations) by gen diff's semantic comparison; the table gives panels, warnings,
differences left, lines of the definition and the import's wall time. Nothing here is committed:
the dashboards stay where they are (their licences are their authors').
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def dashboards(paths: list[str]):
    import yaml

    for given in paths:
        path = Path(given)
        if path.is_dir():
            yield from ((p.name, p.read_text(encoding="utf-8")) for p in sorted(path.rglob("*.json")))
        elif path.suffix in (".yaml", ".yml"):
            for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                items = (document or {}).get("items") or [document]
                for item in items:
                    for key, text in ((item or {}).get("data") or {}).items():
                        if key.endswith(".json"):
                            yield key, text
        else:
            yield path.name, path.read_text(encoding="utf-8")


def main() -> int:
    from gen.render.grafana_json import iter_panels
    from tests.conftest import copy_project
    from tests.test_import import _differences, _expected

    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="import-") as tmp:
        base = copy_project(Path(tmp) / "base")
        for index, (name, text) in enumerate(dashboards(sys.argv[1:])):
            project = Path(tmp) / f"p{index}"
            shutil.copytree(base, project)
            source = Path(tmp) / f"in{index}.json"
            source.write_text(text, encoding="utf-8")
            started = time.monotonic()
            result = subprocess.run([sys.executable, "-m", "gen", "import", str(source), "--name", "imported"],
                                    cwd=project, capture_output=True, text=True)
            seconds = time.monotonic() - started
            model = json.loads(text)
            model = model.get("dashboard", model)
            panels = sum(1 for p in iter_panels(model) if p.get("type") != "row")
            if result.returncode != 0:
                rows.append((name, panels, "-", "-", "-", f"{seconds:.2f}", result.stderr.strip().splitlines()[-1][:90]))
                continue
            warnings = sum(1 for line in result.stderr.splitlines() if line.startswith("warning:"))
            built = subprocess.run([sys.executable, "-m", "gen", "build"], cwd=project, capture_output=True, text=True)
            left = "build failed: " + built.stderr.strip()[-80:] if built.returncode else ""
            if not left:
                uid = next((project / "out/grafana/dev").glob(f"{str(model.get('uid') or 'imported')[:30]}*-dev.json"), None)
                rendered = json.loads(uid.read_text()) if uid else None
                differences = _differences(_expected(source), rendered) if rendered else ["not rendered"]
                left = str(len(differences))
            lines = len((project / "dashboards/imported.py").read_text().splitlines())
            rows.append((name, panels, warnings, left, lines, f"{seconds:.2f}", ""))
    print("| dashboard | panels | warnings | differences left | lines | seconds | error |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    return 0 if all(r[3] == "0" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
