"""The built wheel carries everything smshook reads from its own package at run time: the SQL
migrations of both backends and the dashboard's files (an editable install hides a gap here; the
container image and `pip install smshook` do not)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_ships_migrations_and_dashboard(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check",
                    "-w", str(tmp_path), str(ROOT)], check=True, timeout=240)
    (wheel,) = tmp_path.glob("smshook-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    source = ROOT / "src"
    wanted = [p.relative_to(source).as_posix() for pattern in
              ("smshook/storage/migrations/*/*.sql", "smshook/web/dashboard/static/*")
              for p in source.glob(pattern)]
    assert len(wanted) >= 10
    missing = sorted(set(wanted) - names)
    assert not missing, f"not in the wheel: {missing}"
    assert "smshook/py.typed" in names
