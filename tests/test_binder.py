"""Binder's files: `binder/start` brings the stack up in the background and hands over to the command.

Runs against a stack of its own (free ports, LAB_HOME in a temp folder), never the shared one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from labutils import stack

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"

# The trivial "Jupyter" that binder/start hands over to: wait for the stack, print what it serves.
WAIT_AND_LIST = """
import time
from labutils import stack
s = stack.Settings()
deadline = time.monotonic() + 240
while not stack.is_up(s) and time.monotonic() < deadline:
    time.sleep(0.5)
print("models:", stack.listed_models(s.url))
"""


@pytest.fixture
def own_stack_env(private_settings):
    """The environment that points binder/start at a stack of the test's own, and its Settings."""
    s = private_settings
    env = {**os.environ, "LAB_STACK_PORT": str(s.stack_port), "LAB_LLAMA_PORT": str(s.llama_port),
           "LAB_HOME": str(s.state.parent), "LAB_MODELS": "none"}  # one model, like private_settings
    env.pop("LAB_GGUF", None)
    return env, s


def _wait_for(path: Path, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    content = ""
    while time.monotonic() < deadline:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.2)
    return content


def test_binder_files_are_in_place():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.12"
    for script in ("start", "postBuild"):
        assert os.access(BINDER / script, os.X_OK), f"binder/{script} must be executable"
    post = (BINDER / "postBuild").read_text()
    assert "tools/setup.sh" in post, "postBuild reuses tools/setup.sh rather than duplicating it"
    assert "llama-cpp-python" not in post and "CMAKE" not in post, "postBuild describes a build the lab no longer does"
    assert (BINDER / "start").read_text().rstrip().endswith('exec "$@"')


def test_start_hands_over_at_once_even_if_the_stack_cannot_start(own_stack_env):
    env, settings = own_stack_env
    env = {**env, "LAB_GGUF": "/nonexistent/model.gguf"}  # the background start fails fast
    t0 = time.monotonic()
    done = subprocess.run([str(BINDER / "start"), "sh", "-c", 'echo "args: $0 $1"; exit 7', "a b", "c"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - t0 < 10, "start must not wait for the stack"
    assert done.returncode == 7 and done.stdout.strip() == "args: a b c"
    log = _wait_for(settings.state.parent / "binder-start.log", "model file not found")
    assert "model file not found: /nonexistent/model.gguf" in log


@pytest.mark.integration
def test_start_brings_up_its_own_stack(own_stack_env):
    env, settings = own_stack_env
    shared = stack.Settings()  # the shared stack on the default ports must be left as it is
    shared_was_up = stack.is_up(shared)
    done = subprocess.run([str(BINDER / "start"), sys.executable, "-c", WAIT_AND_LIST], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"models: ['{settings.model_id}']" in done.stdout
    assert stack.is_up(settings)
    assert all(row["running"] for row in stack.status(settings))
    log = _wait_for(settings.state.parent / "binder-start.log", "Llama Stack is up")
    assert f"Llama Stack is up at {settings.url}" in log
    assert stack.is_up(shared) == shared_was_up


@pytest.mark.integration
def test_two_starts_at_once_share_one_stack(own_stack_env):
    """binder/start and a lesson's connect() may both call `up`; they take turns and reuse one stack."""
    _env, settings = own_stack_env
    errors: list[BaseException] = []

    def up() -> None:
        try:
            stack.up(settings, quiet=True)
        except BaseException as e:  # collected and re-raised in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=up) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert stack.is_up(settings) and all(row["running"] for row in stack.status(settings))
    for server in stack.servers(settings):  # each server was spawned once (a header line per spawn)
        assert server.log.read_text().count("\n--- ") == 1, server.log.read_text()[-2000:]


# --- the image's build, replayed without Docker: postBuild as an unprivileged user into a fresh prefix ----------
# repo2docker (its Dockerfile: `repo2docker --no-build --debug`) runs `./binder/postBuild` as $NB_USER in
# $REPO_DIR (= $HOME = /home/jovyan) with runtime.txt's Python in $NB_PYTHON_PREFIX (= $KERNEL_PYTHON_PREFIX,
# first on PATH), on Ubuntu's buildpack-deps base (a compiler, no cmake: the engine is the prebuilt wheel); the
# image then starts `binder/start <jupyter command>`. Here: `nobody` (when the suite runs as root), a copy of the
# work tree as $HOME, a copy of this venv's base Python as the prefix, and a PATH without cmake. The packages are
# the same pinned files as on Binder, from a local folder (--find-links, no index): the wheels of the pinned
# requirements, downloaded once per requirements (`_wheelhouse`), so a test run does not download them again.
CA_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")
NO_CMAKE = ("cmake", "ctest", "cpack", "ccmake")
LESSON = "00_setup_and_first_request"


def _unprivileged() -> dict:
    """subprocess arguments that run a command as `nobody` when the suite runs as root (else as its user)."""
    if os.geteuid() != 0:
        return {}
    import pwd

    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def _fresh_prefix(dest: Path) -> None:
    """A fresh Python installation with pip, like repo2docker's conda environment: this venv's base Python
    copied, its site-packages emptied but for pip (and without the stdlib's tests); or, where the base is a
    system's Python without pip of its own (Debian's /usr: no site-packages, pip refused by EXTERNALLY-MANAGED;
    tools/fresh_machine.sh runs the suite there), a venv of it, which brings pip."""
    base = Path(sys.base_prefix)
    lib = base / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    if not list((lib / "site-packages").glob("pip")):
        subprocess.run([str(base / "bin" / lib.name), "-m", "venv", str(dest)], check=True)
        return

    def ignore(folder: str, names: list[str]) -> set[str]:
        if Path(folder) == lib:
            return {"test", "idlelib", "tkinter", "turtledemo"} & set(names)
        if Path(folder) == lib / "site-packages":
            return {n for n in names if not n.startswith("pip")}
        return set()

    shutil.copytree(base, dest, symlinks=True, ignore=ignore)


def _path_without_cmake(folder: Path) -> str:
    """A PATH like the system's, minus cmake (repo2docker's base image has none): links to every other program."""
    folder.mkdir()
    for d in ("/usr/local/bin", "/usr/bin", "/bin"):
        for program in Path(d).iterdir() if Path(d).is_dir() else ():
            link = folder / program.name
            if program.name not in NO_CMAKE and not link.exists() and not link.is_symlink():
                link.symlink_to(program)
    return str(folder)


def _wheelhouse() -> Path:
    """A folder with every wheel postBuild's install needs (the pinned requirements and their dependencies,
    the model's wheel, pip and setuptools), made once per version of the requirement files (`pip wheel`: a
    package published only as an sdist is built once) in ~/.cache/inference-lab/wheelhouse/ and reused by every
    later run and clone."""
    import hashlib

    files = [ROOT / "requirements.txt", ROOT / "requirements-nodeps.txt", ROOT / "pyproject.toml"]
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "inference-lab" / "wheelhouse"
    house = cache / digest
    if house.is_dir():
        return house
    cache.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=cache))
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "-w", str(partial)]
    for args in (["-r", str(files[0])], ["--no-deps", "-r", str(files[1])], ["pip", "setuptools>=69", "wheel"]):
        subprocess.run([*pip, *args], check=True, timeout=900)
    partial.chmod(0o755)
    try:
        partial.rename(house)  # complete or absent: a run killed mid-download leaves only a dot-folder
    except OSError:  # another run made it first
        shutil.rmtree(partial, ignore_errors=True)
    return house


def _link_wheels(house: Path, dest: Path) -> None:
    """The wheelhouse's files in `dest`, hard-linked where the file system allows (readable by everyone)."""
    dest.mkdir()
    for wheel in house.iterdir():
        try:
            os.link(wheel, dest / wheel.name)
        except OSError:
            shutil.copy2(wheel, dest / wheel.name)
        (dest / wheel.name).chmod(0o644)


def _copy_work_tree(dest: Path) -> None:
    """The repository as repo2docker copies it: tracked and untracked-but-not-ignored files of this work tree."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


@pytest.mark.integration
@pytest.mark.binder
@pytest.mark.timeout(1800)
def test_postbuild_as_unprivileged_user_then_start_serves_a_lesson():
    """binder/postBuild into a fresh prefix as a user who owns nothing else, then binder/start + lesson 00."""
    work = Path(tempfile.mkdtemp(prefix="lab-binder-", dir="/var/tmp"))
    home, prefix = work / "home" / "jovyan", work / "srv" / "notebook"
    log = work / "postBuild.log"
    user = _unprivileged()
    env = {}
    try:
        home.mkdir(parents=True)
        _copy_work_tree(home)
        _fresh_prefix(prefix)
        programs = _path_without_cmake(work / "bin")
        stale_pip_cache = home / ".cache" / "pip" / "http-v2" / "stale"  # what pip's downloads leave behind
        stale_pip_cache.parent.mkdir(parents=True)
        stale_pip_cache.write_text("x")
        if user:
            subprocess.run(["chown", "-R", f"{user['user']}:{user['group']}", str(work)], check=True)
        work.chmod(0o755)
        _link_wheels(_wheelhouse(), work / "wheels")  # after chown: the cached files keep their owner
        env = {"HOME": str(home), "USER": "jovyan", "NB_USER": "jovyan", "REPO_DIR": str(home), "LANG": "C.UTF-8",
               "NB_PYTHON_PREFIX": str(prefix), "KERNEL_PYTHON_PREFIX": str(prefix), "PYTHONUNBUFFERED": "1",
               "PATH": f"{home}/.local/bin:{prefix}/bin:{programs}",
               "LD_LIBRARY_PATH": str(prefix / "lib"),  # a shared libpython found by RUNPATH in the original
               **{k: v for k, v in os.environ.items() if k.startswith("PIP_") or k in CA_VARS},
               # pip (which installs uv) and uv take every package from the wheelhouse, none from an index
               "PIP_FIND_LINKS": str(work / "wheels"), "PIP_NO_INDEX": "1",
               "UV_FIND_LINKS": str(work / "wheels"), "UV_NO_INDEX": "1"}
        t0 = time.monotonic()
        with log.open("w") as out:
            built = subprocess.run([str(home / "binder" / "postBuild")], cwd=home, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, timeout=1500, **user)
        build_s = time.monotonic() - t0
        assert built.returncode == 0, log.read_text()[-4000:]
        assert list(prefix.glob("lib/python3*/site-packages/xllamacpp")), "no prebuilt engine in the image's Python"
        assert not (home / ".venv").exists(), "postBuild must install into $NB_PYTHON_PREFIX, not a .venv"
        dev = [p.name for p in prefix.glob("lib/python3*/site-packages/*") if p.name in ("pytest", "playwright")]
        assert not dev, f"the image has test tools ({dev}): they belong in requirements-dev.txt"
        for cache in ("pip", "uv"):
            assert not (home / ".cache" / cache).exists(), f"postBuild leaves {cache}'s cache in the image"

        stack_port, llama_port = stack.free_ports(2)
        env.update(LAB_STACK_PORT=str(stack_port), LAB_LLAMA_PORT=str(llama_port), LAB_MODELS="none")
        out_nb = home / f"{LESSON}.out.ipynb"
        t0 = time.monotonic()
        ran = subprocess.run([str(home / "binder" / "start"), "python3", "-m", "papermill", "--no-progress-bar",
                              f"notebooks/{LESSON}.ipynb", str(out_nb), "-k", "python3", "-p", "MAX_TOKENS", "16"],
                             cwd=home, env=env, capture_output=True, text=True, timeout=600, **user)
        lesson_s = time.monotonic() - t0
        start_log = (home / ".lab" / "binder-start.log").read_text()
        assert ran.returncode == 0, ran.stderr[-4000:] + start_log[-2000:]
        # binder/start's background `up` and the lesson's connect() take turns: whichever comes second reuses it
        assert re.search(rf"Llama Stack (is up|already running) at http://127\.0\.0\.1:{stack_port}\b", start_log)
        executed = json.loads(out_nb.read_text())
        kinds = [o.get("output_type") for c in executed["cells"] for o in c.get("outputs", [])]
        assert "error" not in kinds and kinds.count("stream") + kinds.count("execute_result") > 3
        print(f"postBuild {build_s:.0f} s into a fresh prefix; binder/start + lesson {LESSON} {lesson_s:.0f} s")
    finally:
        if (prefix / "bin" / "python3").exists() and "LAB_STACK_PORT" in env:
            subprocess.run(["python3", "-m", "labutils.stack", "down"], cwd=home, env=env, capture_output=True,
                           timeout=120, **user)
        shutil.rmtree(work, ignore_errors=True)
