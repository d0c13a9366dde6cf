"""The package layout: one subpackage per concern, imports in one direction only, short modules,
every subpackage saying what it holds, and every document the code cites present."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vit_jax"
# Subpackage -> the subpackages it may import (vit_jax/__init__.py draws the same picture).
MAY_IMPORT = {
    "common": set(),
    "kernels": set(),
    "models": {"kernels"},
    "data": {"common"},
    "checkpoints": {"common", "models"},
    "reporting": {"common", "data"},
    "training": {"common", "models", "kernels", "data", "checkpoints", "reporting", "analysis"},
    "inference": {"common", "models", "data", "checkpoints", "reporting"},
    "analysis": {"common", "models", "data", "checkpoints", "reporting", "inference"},
    "bench": {"common", "models", "kernels", "data", "checkpoints", "training"},
}
MAX_MODULE_LINES = 300


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _vit_jax_imports(path: Path) -> set[str]:
    """Every `vit_jax...` module that `path` imports, at any depth of the code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name.split(".")[0] == "vit_jax"}


def _subpackage(module: str) -> str | None:
    """'vit_jax.models.vit' -> 'models'; None for vit_jax itself and its top-level commands."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in MAY_IMPORT else None


def test_the_package_has_exactly_the_documented_subpackages():
    found = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert found == set(MAY_IMPORT)


@pytest.mark.parametrize("subpackage", sorted(MAY_IMPORT))
def test_subpackages_import_only_in_the_allowed_direction(subpackage):
    wrong = []
    for path in sorted((PACKAGE / subpackage).rglob("*.py")):
        for module in _vit_jax_imports(path) - {"vit_jax"}:
            target = _subpackage(module)
            if target is None:
                wrong.append(f"{path.relative_to(ROOT)} imports the command module {module}")
            elif target != subpackage and target not in MAY_IMPORT[subpackage]:
                wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_the_direction_check_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from vit_jax.training import loop\n    import vit_jax.data\n")
    assert _vit_jax_imports(source) == {
        "vit_jax.training",
        "vit_jax.training.loop",
        "vit_jax.data",
    }


@pytest.mark.parametrize("subpackage", sorted(MAY_IMPORT))
def test_every_subpackage_says_what_it_holds_imports_and_serves(subpackage):
    docstring = ast.get_docstring(ast.parse((PACKAGE / subpackage / "__init__.py").read_text()))
    assert docstring and "May import" in docstring and "Imported by" in docstring


def test_top_level_modules_are_thin_commands():
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name == "__init__.py":
            continue
        text = path.read_text()
        assert "def main(" in text and 'if __name__ == "__main__":' in text, path.name
        assert len(text.splitlines()) <= 150, path.name


def test_no_module_is_over_the_line_limit():
    long = {
        str(path.relative_to(ROOT)): n
        for path in _modules()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long


def test_every_cited_document_is_in_the_repository():
    """Documents are the upper-case .md files (README.md, docs/ARCHITECTURE.md); lower-case
    ones such as results.md are outputs of a run."""
    sources = [ROOT / "main.py", *_modules(), *ROOT.glob("configs/*.py"), *ROOT.glob("tests/*.py")]
    cited = set()
    for path in sources:
        cited |= set(re.findall(r"(?:[\w-]+/)*[A-Z][A-Z_]+\.md\b", path.read_text()))
    missing = sorted(doc for doc in cited if not (ROOT / doc).is_file())
    assert not missing
