"""The test suite itself: every failure reported once (issue 10, item 16), and everything the tests
and docs need kept inside the repository (item 15), so a clone anywhere passes on its own."""
import os
import re

ROOT = os.path.realpath(os.environ.get("GWSYNC_SOURCE_DIR",
                                       os.path.join(os.path.dirname(__file__), "..", "..")))


def cmake_files():
    for dirpath, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith((".", "build"))]
        if "CMakeLists.txt" in names:
            yield os.path.join(dirpath, "CMakeLists.txt")


def pytest_dirs():
    """(test name, directory) of every gwsync_add_pytest call, directories resolved."""
    out = []
    for path in cmake_files():
        text = "\n".join(line for line in open(path, encoding="utf-8").read().splitlines()
                         if not line.lstrip().startswith("#"))
        here = os.path.dirname(path)
        for name, d in re.findall(r"gwsync_add_pytest\(NAME\s+(\S+)\s+DIR\s+(\S+)", text):
            d = d.replace("${CMAKE_CURRENT_SOURCE_DIR}", here).replace("${PROJECT_SOURCE_DIR}", ROOT)
            out.append((name, os.path.realpath(d)))
    return out


def test_pytest_runs_every_test_of_a_tier():
    """-x (or --maxfail) stops a tier at its first failure and hides the rest."""
    text = open(os.path.join(ROOT, "tests", "CMakeLists.txt"), encoding="utf-8").read()
    command = re.search(r"COMMAND \$\{GWSYNC_PYTHON\} -m pytest([^\n]*)", text)
    assert command, "the pytest command of gwsync_add_pytest"
    args = command.group(1).split()
    assert not {"-x", "--exitfirst"} & set(args), args
    assert not [a for a in args if a.startswith("--maxfail")], args


def test_no_test_file_is_collected_by_two_ctest_entries():
    dirs = pytest_dirs()
    assert len(dirs) >= 5, dirs
    owners = {}
    for name, d in dirs:
        assert os.path.isdir(d), (name, d)
        for dirpath, _, names in os.walk(d):
            for f in names:
                if re.match(r"test_.*\.py$|.*_test\.py$", f):
                    owners.setdefault(os.path.join(dirpath, f), []).append(name)
    twice = {os.path.relpath(f, ROOT): names for f, names in owners.items() if len(names) > 1}
    assert not twice, twice


OUTSIDE = re.compile(r"\.\./shared\b|\bshared/google\b|/work/")


def test_tests_and_docs_read_nothing_outside_the_repository():
    offenders = []
    for top in ("tests", "service", "api", "db", "deploy", "README.md", "openapi.yaml"):
        start = os.path.join(ROOT, top)
        paths = [start] if os.path.isfile(start) else [
            os.path.join(dp, n) for dp, dirs, names in os.walk(start) for n in names
            if "__pycache__" not in dp]
        for p in paths:
            if p.endswith((".json",)) or os.path.getsize(p) > 2_000_000:
                continue
            try:
                text = open(p, encoding="utf-8").read()
            except UnicodeDecodeError:
                continue
            if os.path.samefile(p, __file__):
                continue
            for i, line in enumerate(text.splitlines(), 1):
                if OUTSIDE.search(line):
                    offenders.append(f"{os.path.relpath(p, ROOT)}:{i}: {line.strip()[:120]}")
    assert not offenders, "\n".join(offenders)


def test_google_fixtures_are_in_the_repository_with_their_source():
    d = os.path.join(ROOT, "tests", "fixtures", "google")
    readme = open(os.path.join(d, "README.md"), encoding="utf-8").read()
    for name in ("admin.directory_v1.json", "groupssettings.v1.json", "API-NOTES.md"):
        assert os.path.getsize(os.path.join(d, name)) > 1000, name
        assert f"`{name}`" in readme, name
    assert re.search(r"\b20\d\d-\d\d-\d\d\b", readme), "the README dates the copies"
    assert "discovery-artifact-manager" in readme, "the README names the source"
