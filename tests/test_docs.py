"""The README and docs/ as written: links and anchors resolve, every module, file and command they
name exists, and the documented `nima`, `papermill`, `make` and benchmark commands parse."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Pages other branches are writing; a link to one of them may dangle until they are merged (then empty this).
PENDING: set[str] = set()

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
DOTTED = re.compile(r"\bnima_utils(?:\.\w+)+")
PATH = re.compile(r"(?<![\w/.-])((?:nima_utils|tests|benchmarks|notebooks|configs|docs)/[\w./-]*)")


def _prose(text: str) -> str:
    """The page without its fenced code blocks (a `# comment` in a shell block is not a heading)."""
    return FENCE.sub("", text)


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    for line in _prose(page.read_text()).splitlines():
        if match := re.match(r"#{1,6}\s+(.*)", line):
            text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1)).strip().lower()
            slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
            seen[slug] = seen.get(slug, -1) + 1
            if seen[slug]:
                seen[f"{slug}-{seen[slug]}"] = 0
    return set(seen)


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_links_and_anchors_resolve(page):
    broken = []
    for target in LINK.findall(_prose(page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        if not path.exists():
            if str(path.relative_to(ROOT)) not in PENDING or anchor:
                broken.append(f"{target}: no such file")
        elif anchor and anchor not in _anchors(path):
            broken.append(f"{target}: no heading with the anchor #{anchor} in {path.name}")
    assert not broken, f"{_name(page)}: " + "; ".join(broken)


def test_pending_pages_are_still_missing():
    merged = sorted(p for p in PENDING if (ROOT / p).exists())
    assert not merged, f"{merged} exist now: remove them from PENDING in tests/test_docs.py"


def _defined(module: Path) -> dict[str, ast.AST]:
    """Top-level names of a module, lazily exported names of a package's __init__ included."""
    names: dict[str, ast.AST] = {}
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update({t.id: node for t in targets if isinstance(t, ast.Name)})
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update({(a.asname or a.name).split(".")[0]: node for a in node.names})
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Dict) and module.name == "__init__.py":
            names.update({k.value: node for k in node.keys if isinstance(k, ast.Constant)})
    return names


def _module_problem(dotted: str) -> str | None:
    """Why `nima_utils.a.b[.name[.member]]` names nothing, or None."""
    parts, folder = dotted.split(".")[1:], ROOT / "nima_utils"
    while parts and (folder / parts[0] / "__init__.py").is_file():
        folder = folder / parts.pop(0)
    module = folder / "__init__.py"
    if parts and (folder / f"{parts[0]}.py").is_file():
        module = folder / f"{parts.pop(0)}.py"
    if not parts:
        return None
    node = _defined(module).get(parts[0])
    if node is None:
        return f"{module.relative_to(ROOT)} defines no {parts[0]}"
    members = _defined_in_class(node) if isinstance(node, ast.ClassDef) else set()
    if len(parts) > 2 or (len(parts) == 2 and parts[1] not in members):
        return f"{parts[0]} in {module.relative_to(ROOT)} has no {'.'.join(parts[1:])}"
    return None


def _defined_in_class(node: ast.ClassDef) -> set[str]:
    return {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))} | \
        {n.target.id for n in node.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_named_modules_and_files_exist(page):
    text = page.read_text()
    missing = [f"{name}: {why}" for name in sorted(set(DOTTED.findall(text))) if (why := _module_problem(name))]
    for path in sorted(set(PATH.findall(text))):
        path = path.rstrip(".")
        if not (ROOT / path).exists() and path not in PENDING:
            missing.append(f"{path}: no such file or folder")
    assert not missing, f"{_name(page)}: " + "; ".join(missing)


def _commands(page: Path) -> list[str]:
    """The shell commands of a page's bash code blocks, continuation lines joined, placeholders left out."""
    found = []
    for lang, body in FENCE.findall(page.read_text()):
        if lang not in ("bash", "sh"):
            continue
        for line in body.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words and re.match(r"[A-Z_]+=", words[0]):  # KERAS_BACKEND=jax nima ...
                words.pop(0)
            if words and "..." not in words:
                found.append(words)
    return found


def _make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))


def _papermill_problems(words: list[str]) -> list[str]:
    from nima_utils.pipeline.config import notebook_parameters

    notebooks = [w for w in words if w.endswith(".ipynb") and w.startswith("notebooks/")]
    if not notebooks or not (ROOT / notebooks[0]).is_file():
        return [f"no notebook of notebooks/ named in {words}"]
    known = set(notebook_parameters(Path(notebooks[0]).stem))
    given = [words[i + 1] for i, w in enumerate(words) if w == "-p"]
    given += [k for i, w in enumerate(words) if w == "-y" for k in yaml.safe_load(words[i + 1])]
    return [f"{notebooks[0]} has no parameter {name}" for name in given if name not in known]


def _command_problems(words: list[str]) -> list[str]:
    """What is wrong with one documented command line; commands of other tools are not judged."""
    if words[0] == "nima":
        from nima_utils.cli import build_parser

        try:
            build_parser().parse_args(words[1:])
        except SystemExit as exc:
            return [] if exc.code == 0 else [f"`{shlex.join(words)}` is refused by nima's parser"]
        return []
    if words[0] == "papermill":
        return _papermill_problems(words)
    if words[0] == "make":
        return [f"make has no target {w}" for w in words[1:] if "=" not in w and w not in _make_targets()]
    if words[0] == "python" and words[1:2] and words[1].startswith("benchmarks/"):
        script = ROOT / words[1]
        if not script.is_file():
            return [f"no benchmark {words[1]}"]
        source = script.read_text()
        return [f"{words[1]} has no option {w}" for w in words[2:] if w.startswith("--") and f'"{w}"' not in source]
    return []


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_documented_commands_parse(page, capsys):
    problems = [p for words in _commands(page) for p in _command_problems(words)]
    assert not problems, f"{_name(page)}: " + "; ".join(problems)
