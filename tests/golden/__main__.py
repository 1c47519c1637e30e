import sys

from tests.golden import HERE, expected_files

if sys.argv[1:] != ["update"]:
    raise SystemExit("usage: python -m tests.golden update")
for name, text in expected_files().items():
    (HERE / name).write_text(text, encoding="utf-8")
    print(f"wrote tests/golden/{name}")
