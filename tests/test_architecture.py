"""The apps are layers (README, "Architecture"): import-linter's contracts in `.importlinter` hold.

Imports inside functions count: grimp reads every import statement of a module.
"""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ("oneclick", "exchanges", "keys", "strategies", "portfolios", "alerts", "paperexchange")


def lint_imports(root):
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
        timeout=120,
    )


def lint_with_function(tmp_path, module, body):
    """lint-imports over a copy of the apps in which ``module`` (a path) gains a function with ``body``."""
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    for app in APPS:
        shutil.copytree(ROOT / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__", "static"))
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n\ndef _added():\n{body}\n")
    return lint_imports(tmp_path)


def test_every_layer_contract_is_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_inside_a_function_breaks_the_layers(tmp_path):
    result = lint_with_function(tmp_path, "exchanges/base.py", "    from portfolios.models import Bot\n\n    return Bot")
    assert result.returncode != 0
    assert "exchanges.base -> portfolios.models" in result.stdout


def test_a_circle_between_two_modules_of_an_app_is_refused(tmp_path):
    result = lint_with_function(tmp_path, "alerts/telegram.py", "    from alerts import channels\n\n    return channels")
    assert result.returncode != 0
    assert "No two modules of an app import each other round a circle BROKEN" in result.stdout
