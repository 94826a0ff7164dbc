# pbundle's build-side Python helper, run by the TARGET interpreter (so bytecode
# matches its version). Standard library only. Usage:
#   python _python_tools.py compile DIR OPTIMIZE LEGACY(0|1) DROP_SOURCES(0|1)
#   python _python_tools.py compile-stdlib LIBDIR OPTIMIZE
#   python _python_tools.py archive ZIP OPTIMIZE REQUIRE_NO_EXT(0|1) CODE_DIR SITE_PACKAGES
# archive: compiles the app's code (CODE_DIR, minus site-packages/ and bin/) and the
# pure-Python distributions of SITE_PACKAGES into ZIP as sourceless bytecode (zipimport
# imports it in place), removes what it archived, and leaves packages holding
# extension modules on disk (compiled, sources removed). Prints a JSON summary.
import compileall
import json
import os
import py_compile
import shutil
import sys
import zipfile

UNCHECKED = py_compile.PycInvalidationMode.UNCHECKED_HASH
EXT_SUFFIXES = (".so", ".pyd")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def compile_dir(directory, optimize, legacy, drop_sources):
    ok = compileall.compile_dir(
        directory, quiet=1, legacy=legacy, optimize=optimize, invalidation_mode=UNCHECKED, workers=1
    )
    if not ok:
        raise SystemExit(f"Cannot compile {directory!r}: a file has a syntax error (see above)")
    if drop_sources:
        for root, dirs, files in os.walk(directory):
            for name in files:
                if name.endswith(".py") and os.path.exists(os.path.join(root, name + "c")):
                    os.remove(os.path.join(root, name))


def has_extension(path):
    if os.path.isfile(path):
        return path.endswith(EXT_SUFFIXES) or ".cpython-" in os.path.basename(path) and path.endswith(".so")
    for root, _dirs, files in os.walk(path):
        if any(f.endswith(EXT_SUFFIXES) for f in files):
            return True
    return False


def add_tree(zf, base, rel_top, optimize, seen):
    top = os.path.join(base, rel_top)
    items = []
    if os.path.isdir(top):
        for root, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                items.append(os.path.join(root, name))
    else:
        items.append(top)
    for path in items:
        rel = os.path.relpath(path, base).replace(os.sep, "/")
        if rel.endswith(".pyc"):
            continue
        if rel.endswith(".py"):
            arc = rel + "c"
            data = compile_bytes(path, rel, optimize)
        else:
            arc = rel
            with open(path, "rb") as f:
                data = f.read()
        if arc in seen:
            continue
        seen.add(arc)
        info = zipfile.ZipInfo(arc, FIXED_TIME)
        info.external_attr = 0o644 << 16
        zf.writestr(info, data, compress_type=zipfile.ZIP_STORED)


def compile_bytes(path, rel, optimize):
    import importlib._bootstrap_external as ext
    import importlib.util

    with open(path, "rb") as f:
        source = f.read()
    code = compile(source, rel, "exec", dont_inherit=True, optimize=optimize)
    source_hash = importlib.util.source_hash(source)
    return bytes(ext._code_to_hash_pyc(code, source_hash, False))


def archive(zip_path, optimize, require_no_ext, code_dir, site_packages):
    on_disk, archived = [], []
    seen = set()
    with zipfile.ZipFile(zip_path, "w") as zf:
        for name in sorted(os.listdir(code_dir)):
            path = os.path.join(code_dir, name)
            if os.path.abspath(path) in (os.path.abspath(site_packages), os.path.abspath(zip_path)):
                continue
            if name in ("bin", "__pycache__"):
                continue
            if has_extension(path):
                on_disk.append(name)
                continue
            add_tree(zf, code_dir, name, optimize, seen)
            archived.append(name)
        if os.path.isdir(site_packages):
            for name in sorted(os.listdir(site_packages)):
                path = os.path.join(site_packages, name)
                if name == "__pycache__" or name == "bin":
                    continue
                if has_extension(path):
                    on_disk.append("site-packages/" + name)
                    continue
                add_tree(zf, site_packages, name, optimize, seen)
                archived.append("site-packages/" + name)
    if require_no_ext and on_disk:
        raise SystemExit(
            "Cannot archive " + ", ".join(repr(n) for n in on_disk)
            + ": they hold extension modules, which cannot be imported from the archive;"
            + " set [python.process] filesystem_importer = true"
        )
    for name in archived:
        path = os.path.join(code_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    for name in on_disk:
        compile_dir(os.path.join(code_dir, name), optimize, True, True) if os.path.isdir(
            os.path.join(code_dir, name)
        ) else None
    print(json.dumps({"archived": archived, "on_disk": on_disk}))


def compile_stdlib(directory, optimize):
    """Compiles a runtime's standard library (Debian-built runtimes ship no bytecode)."""
    import re

    compileall.compile_dir(
        directory,
        quiet=1,
        optimize=optimize,
        workers=0,
        invalidation_mode=UNCHECKED,
        rx=re.compile(r"[/\\](test|tests|idlelib|lib2to3|tkinter|turtledemo|site-packages)[/\\]"),
    )


def main(argv):
    if argv[0] == "compile-stdlib":
        compile_stdlib(argv[1], int(argv[2]))
    elif argv[0] == "compile":
        compile_dir(argv[1], int(argv[2]), argv[3] == "1", argv[4] == "1")
    elif argv[0] == "archive":
        archive(argv[1], int(argv[2]), argv[3] == "1", argv[4], argv[5])
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
