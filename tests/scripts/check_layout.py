#!/usr/bin/env python3
"""Checks that core/src/ reads as the architecture: every #include of the engine points to its own folder or to a
folder below it in LAYERS, never above. A public header (core/include/attnscope/X.h) belongs to the folder where
X.cpp lives (or to the folder named in HEADER_HOME for headers without a .cpp of their own).

Usage: check_layout.py REPO_ROOT   (exit 0 when the layout holds, 1 with one line per violation otherwise)
"""
import pathlib
import re
import sys

# Lowest first. A folder may include its own files and those of any folder before it.
LAYERS = ["base", "io", "tokenizers", "attention", "engine", "variants", "graphs", "families", "analysis"]
# Public headers with no .cpp of the same name.
HEADER_HOME = {"Model.h": "engine", "PruneSweepResult.h": "analysis"}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def folder_of(path: pathlib.Path, src: pathlib.Path) -> str:
    rel = path.parent.relative_to(src).as_posix()
    if rel not in LAYERS:
        raise SystemExit(f"check_layout: {path} is in core/src/{rel}, which is not one of the layers {LAYERS}")
    return rel


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    src = root / "core" / "src"
    public = root / "core" / "include" / "attnscope"
    files = sorted(p for p in src.rglob("*") if p.suffix in (".cpp", ".h"))
    if not files:
        print(f"check_layout: no sources under {src}")
        return 1
    loose = [p for p in files if p.parent == src]
    if loose:
        print("check_layout: files directly in core/src/ belong in a folder: " + ", ".join(p.name for p in loose))
        return 1

    home = {}  # public header name -> folder
    for p in files:
        if p.suffix == ".cpp" and (public / (p.stem + ".h")).exists():
            home.setdefault(p.stem + ".h", folder_of(p, src))
    home.update(HEADER_HOME)
    missing = sorted(h.name for h in public.glob("*.h") if h.name not in home)
    if missing:
        print("check_layout: public headers with no folder (add a .cpp or a HEADER_HOME entry): " + ", ".join(missing))
        return 1

    rank = {name: i for i, name in enumerate(LAYERS)}
    problems = []

    def target_folder(include: str, own: str):
        if include.startswith("attnscope/"):
            return home.get(include[len("attnscope/"):])
        parts = include.rsplit("/", 1)
        return parts[0] if len(parts) == 2 else own

    def check(path: pathlib.Path, own: str):
        for inc in INCLUDE.findall(path.read_text(encoding="utf-8")):
            target = target_folder(inc, own)
            if target is None or target not in rank:
                continue  # a header of another library (media, tests)
            if rank[target] > rank[own]:
                problems.append(f"{path.relative_to(root)} ({own}) includes \"{inc}\" ({target}): "
                                f"{own} must not depend on {target}, which is above it")

    for p in files:
        check(p, folder_of(p, src))
    for h in sorted(public.glob("*.h")):
        check(h, home[h.name])

    for line in problems:
        print(line)
    print(f"check_layout: {len(files)} engine files and {len(home)} public headers in {len(LAYERS)} layers; "
          f"{len(problems)} upward include(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
