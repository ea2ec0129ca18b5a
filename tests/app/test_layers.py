"""The import layers of DESIGN.md, enforced: the core imports no stage and no wiring module; the two stages
import the core only, never each other; only the wiring modules (and app.py) compose the stages.

Every import statement counts, including those inside functions (the CLI imports lazily).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("audio2lmk", "lmk2video")
# The pipeline layer: the only parts of the `talkface` package allowed to import a stage. Whole packages of the
# product (every module in them is wiring) and the single wiring modules at the package's top.
WIRING_PACKAGES = {"talkface.evaluation", "talkface.batch"}
WIRING_MODULES = {"talkface.pipeline", "talkface.stages", "talkface.cli", "talkface.dub", "talkface.bench",
                  "talkface.edit"}
WIRING = WIRING_PACKAGES | WIRING_MODULES


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, root: Path = ROOT) -> set[str]:
    """Absolute names of every module this file imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _violations(paths: list[Path], forbidden: set[str], root: Path = ROOT) -> list[str]:
    found = []
    for path in paths:
        for name in sorted(_imports(path, root)):
            if any(_within(name, f) for f in forbidden):
                found.append(f"{path.relative_to(root)} imports {name}")
    return found


def test_wiring_entries_exist():
    """A stale entry would silently widen the wiring layer."""
    for module in WIRING_MODULES:
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), module
    for package in WIRING_PACKAGES:
        assert (ROOT / package.replace(".", "/") / "__init__.py").is_file(), package


def test_core_imports_no_stage_and_no_wiring():
    core = [p for p in _sources("talkface") if not any(_within(_module_name(p), w) for w in WIRING)]
    assert core, "no core modules found"
    assert _violations(core, set(STAGES) | WIRING) == []


@pytest.mark.parametrize("stage", STAGES)
def test_stage_imports_only_the_core(stage):
    other = tuple(s for s in STAGES if s != stage)
    assert _violations(_sources(stage), set(other) | WIRING) == []


def test_app_goes_through_the_pipeline_layer():
    assert _violations([ROOT / "app.py"], set(STAGES)) == []


def test_checker_sees_function_level_and_relative_imports(tmp_path):
    pkg = tmp_path / "talkface"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "thing.py").write_text("def f():\n    from audio2lmk.learned import x\n    from .pipeline import y\n")
    found = _violations([pkg / "thing.py"], set(STAGES) | WIRING, root=tmp_path)
    assert found == ["talkface/thing.py imports audio2lmk.learned", "talkface/thing.py imports audio2lmk.learned.x",
                     "talkface/thing.py imports talkface.pipeline", "talkface/thing.py imports talkface.pipeline.y"]
