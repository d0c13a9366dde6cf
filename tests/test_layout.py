"""The package layout: one subpackage per concern, imports in one direction only, short modules,
every subpackage saying what it holds, and every document the code cites present. MAY_IMPORT is
the one map of the package: the code's imports, docs/ARCHITECTURE.md's table and every
subpackage's "May import" / "Imported by" lines are checked against it."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vit_jax"
# Subpackage -> the subpackages it imports: exactly these (an unused entry fails too).
MAY_IMPORT = {
    "common": set(),
    "kernels": set(),
    "models": {"kernels"},
    "data": {"common"},
    "checkpoints": {"common", "models"},
    "reporting": {"common"},
    "inference": {"common", "models", "data", "checkpoints", "reporting"},
    "analysis": {"common", "models", "data", "checkpoints", "inference"},
    "training": {"common", "models", "data", "checkpoints", "reporting", "analysis"},
    "bench": {"common", "models", "data", "checkpoints", "training"},
}
IMPORTED_BY = {
    name: {s for s, allowed in MAY_IMPORT.items() if name in allowed} for name in MAY_IMPORT
}
# What configs/*.py may import from vit_jax.
CONFIGS_MAY_IMPORT = {"vit_jax.training", "vit_jax.training.config_defaults"}
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


def test_every_allowed_import_is_used():
    used = {name: set() for name in MAY_IMPORT}
    for subpackage in MAY_IMPORT:
        for path in (PACKAGE / subpackage).rglob("*.py"):
            used[subpackage] |= {_subpackage(m) for m in _vit_jax_imports(path)} - {subpackage}
    assert {name: targets - {None} for name, targets in used.items()} == MAY_IMPORT


def _subpackage_names(sentence: str) -> set[str]:
    return {word for word in re.findall(r"\b\w+\b", sentence) if word in MAY_IMPORT}


@pytest.mark.parametrize("subpackage", sorted(MAY_IMPORT))
def test_every_subpackage_docstring_states_the_map(subpackage):
    docstring = ast.get_docstring(ast.parse((PACKAGE / subpackage / "__init__.py").read_text()))
    may = re.search(r"^May import: (.*?)\.$", docstring, re.M)
    by = re.search(r"^Imported by: (.*?)\.$", docstring, re.M)
    assert may and by, f"{subpackage}: no 'May import: ...' and 'Imported by: ...' lines"
    assert _subpackage_names(may[1]) == MAY_IMPORT[subpackage]
    assert _subpackage_names(by[1]) == IMPORTED_BY[subpackage]


def test_the_architecture_table_states_the_map():
    rows = re.findall(
        r"^\| `(\w+)/` \| ([^|]*) \|", (ROOT / "docs/ARCHITECTURE.md").read_text(), re.M
    )
    assert {name: _subpackage_names(may) for name, may in rows} == MAY_IMPORT


def test_configs_import_only_the_config_defaults_and_nothing_imports_configs():
    for path in sorted((ROOT / "configs").glob("*.py")):
        assert _vit_jax_imports(path) <= CONFIGS_MAY_IMPORT, path.name
    for path in [ROOT / "main.py", *_modules()]:
        tree = ast.parse(path.read_text())
        modules = [
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        ] + [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
        assert not [m for m in modules if m.split(".")[0] == "configs"], path


def test_no_two_modules_share_a_name_unless_one_is_the_others_command():
    names: dict[str, list[Path]] = {}
    for path in _modules():
        if path.name != "__init__.py":
            names.setdefault(path.stem, []).append(path.parent)
    shared = {
        name: folders
        for name, folders in names.items()
        if len(folders) > 1 and not (len(folders) == 2 and PACKAGE in folders)
    }
    assert not shared


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_two_modules_import_each_other_even_inside_functions():
    modules = {_module_name(path): path for path in _modules()}
    graph = {
        name: {m for m in _vit_jax_imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }
    # Packages: importing vit_jax.x.y runs vit_jax.x, which imports nothing.
    graph = {
        name: {m for m in targets if not name.startswith(m + ".")}
        for name, targets in graph.items()
    }

    def cycle_from(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            name, trail = stack.pop()
            for target in graph[name]:
                if target == start:
                    return trail
                if target not in seen:
                    seen.add(target)
                    stack.append((target, [*trail, target]))
        return None

    cycles = {tuple(sorted(c)) for name in graph if (c := cycle_from(name))}
    assert not cycles


def test_the_direction_check_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from vit_jax.training import loop\n    import vit_jax.data\n")
    assert _vit_jax_imports(source) == {
        "vit_jax.training",
        "vit_jax.training.loop",
        "vit_jax.data",
    }


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
