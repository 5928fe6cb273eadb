"""dpostudio/core must never import Qt: the CLI and the GUI run the same Qt-free core."""

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "dpostudio" / "core"
FORBIDDEN = ("PySide6", "pyqtgraph", "superqt", "qtpy", "dpostudio.ui")


def test_core_sources_do_not_import_qt():
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(FORBIDDEN)]
    assert not offenders


def loaded_after(imports: list[str]) -> str:
    code = (
        "import sys, importlib\n"
        f"for m in {imports!r}: importlib.import_module(m)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'PySide6', 'pyqtgraph', 'torch', 'transformers'}))\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_importing_core_loads_no_qt():
    modules = [".".join(("dpostudio", "core", *p.relative_to(CORE).with_suffix("").parts)).removesuffix(".__init__")
               for p in CORE.rglob("*.py")]
    loaded = loaded_after(modules)
    assert "PySide6" not in loaded and "pyqtgraph" not in loaded


def test_cli_start_up_does_not_import_torch():
    """Heavy libraries load only inside the commands that need them (fast `--help`, fast app start)."""
    loaded = loaded_after(["dpostudio.cli", "dpostudio.core.training.run_config", "dpostudio.core.training.runs"])
    assert "torch" not in loaded and "transformers" not in loaded
