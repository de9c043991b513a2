"""docs/compatibility.md names real tests: every `tests/...py::name` it cites exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_cited_test_exists():
    text = (ROOT / "docs" / "compatibility.md").read_text()
    missing = []
    for row in text.splitlines():
        if not row.startswith("|"):
            continue
        # A row cites a file, then names of tests in it: `tests/a.py::t1`, `t2`.
        current_file = None
        for cited in re.findall(r"`([^`]+)`", row):
            path, _, name = cited.partition("::")
            if path.startswith("tests/") and path.endswith(".py"):
                current_file = ROOT / path
                if not current_file.exists():
                    missing.append(path)
                    continue
            elif current_file is None or not re.fullmatch(r"test_\w+", cited):
                continue
            else:
                name = cited
            if name and f"def {name}(" not in current_file.read_text():
                missing.append(f"{current_file.relative_to(ROOT)}::{name}")
    assert not missing, missing
