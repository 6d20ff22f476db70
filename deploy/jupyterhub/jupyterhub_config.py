"""JupyterHub for a class on one machine: one shared Llama Stack for every learner, all on loopback.

    .venv/bin/jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

- The lab's stack (llama-server + Llama Stack) runs once, as the hub-managed service `llama-stack`
  (deploy/jupyterhub/shared_stack.py), bound to 127.0.0.1; the hub starts it, restarts it when it exits
  and stops it with the hub.
- Every learner's server gets `LLAMA_STACK_URL` (the shared stack), `LAB_SHARED=1` (never start a private
  stack), `LAB_CONCURRENCY` (a per-learner cap on a sweep's parallel requests, so one learner's big grid
  cannot take every slot) and `LAB_CACHE_DIR` (the class-wide response cache on this machine's disk:
  30 learners running the same seeded lesson grid ask the server once).
- The lab is installed once, in the checkout's .venv, and every learner's server runs from it
  (`jupyterhub-singleuser` of that venv); each learner gets a copy of the lessons on first start.
- The hub, its proxy (configurable-http-proxy from npm, in .lab/node, run by the node wheel) and the
  learners' servers listen on 127.0.0.1 only: put TLS and a public address in front with a reverse proxy
  (or The Littlest JupyterHub).

Settings come from the environment (deploy/README.md lists them); secrets too, never from this file:
LAB_HUB_PASSWORD (the dummy authenticator's shared password, test and workshop mode only),
LAB_HUB_INSTRUCTOR_TOKEN (an API token for the instructor's scripts), CONFIGPROXY_AUTH_TOKEN.
LAB_HUB_MODE=test uses the dummy authenticator and SimpleLocalProcessSpawner (no system accounts; every
learner's server runs as the hub's user), which tests/test_hub.py runs; the default, `class`, uses
system accounts (PAM login, LocalProcessSpawner), as The Littlest JupyterHub does.
"""

import os
import shutil
import sys
from pathlib import Path

c = get_config()  # noqa: F821 - JupyterHub's config loader defines it

LAB = Path(__file__).resolve().parents[2]                      # the lab's checkout
VENV_BIN = Path(sys.executable).parent                         # the hub runs from the lab's venv
STATE = Path(os.environ.get("LAB_HUB_STATE", LAB / ".lab" / "hub")).resolve()
MODE = os.environ.get("LAB_HUB_MODE", "class")
HUB_PORT = int(os.environ.get("LAB_HUB_PORT", "8000"))        # what learners open (behind TLS in a class)
HUB_API_PORT = int(os.environ.get("LAB_HUB_API_PORT", "8081"))
PROXY_API_PORT = int(os.environ.get("LAB_HUB_PROXY_API_PORT", "8001"))
STACK_PORT = int(os.environ.get("LAB_HUB_STACK_PORT", "8321"))
LLAMA_PORT = int(os.environ.get("LAB_HUB_LLAMA_PORT", "8322"))
# Slots of each engine (requests one engine answers at once): the lab's LAB_SLOTS default (1) unless set.
# Beyond 2 a seeded answer batched with others can differ (bench/determinism.py), which lesson 05's "same seed,
# same answer" exercise and the class cache rely on.
SLOTS = os.environ.get("LAB_HUB_SLOTS", "")
PER_LEARNER = os.environ.get("LAB_HUB_PER_LEARNER", "1")       # a sweep's parallel requests, per learner
N_CTX = int(os.environ.get("LAB_HUB_N_CTX", "2048"))           # context per slot
# The shared stack's engines: one single-thread engine per core of the hub (the lab's LAB_ENGINES default,
# capped by memory), the same pool a laptop runs. Independent engines do not collapse beside the learners'
# kernels and Llama Stack as a multi-thread engine does (llama.cpp's threads wait for each other every token).
ENGINES = os.environ.get("LAB_HUB_ENGINES", "")
USERS = [u for u in os.environ.get("LAB_HUB_USERS", "").split(",") if u]
ADMINS = [u for u in os.environ.get("LAB_HUB_ADMINS", "").split(",") if u]
HOMES = Path(os.environ.get("LAB_HUB_HOMES", STATE / "homes"))  # test mode: the learners' folders

STATE.mkdir(parents=True, exist_ok=True)
os.chmod(STATE, 0o700)

# --- the hub and its proxy, on loopback ---------------------------------------------------------------
c.JupyterHub.bind_url = f"http://127.0.0.1:{HUB_PORT}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{HUB_API_PORT}"
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True      # learners' servers stop with the hub
c.JupyterHub.cleanup_proxy = True
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PROXY_API_PORT}"
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")
CHP = LAB / ".lab" / "node" / "bin" / "configurable-http-proxy"  # tools/hub-deps.sh: runs it with its own node
if CHP.exists():
    c.ConfigurableHTTPProxy.command = [str(CHP)]
# the proxy's token: CONFIGPROXY_AUTH_TOKEN from the environment, else one the hub makes for this run

# --- who may log in -----------------------------------------------------------------------------------
if MODE == "test":
    c.JupyterHub.authenticator_class = "dummy"
    if os.environ.get("LAB_HUB_PASSWORD"):
        c.DummyAuthenticator.password = os.environ["LAB_HUB_PASSWORD"]
    c.JupyterHub.spawner_class = "simple"    # no system accounts: every server runs as the hub's user
    c.SimpleLocalProcessSpawner.home_dir_template = str(HOMES / "{username}")
else:
    c.JupyterHub.authenticator_class = "pam"  # the learners' system accounts (create them beforehand)
    c.JupyterHub.spawner_class = "localprocess"
if USERS:
    c.Authenticator.allowed_users = set(USERS)
else:
    c.Authenticator.allow_all = MODE == "test"
c.Authenticator.admin_users = set(ADMINS)

# the instructor's scripts (starting servers, reading the class's activity) use this token
if os.environ.get("LAB_HUB_INSTRUCTOR_TOKEN"):
    c.JupyterHub.services = [{"name": "instructor", "api_token": os.environ["LAB_HUB_INSTRUCTOR_TOKEN"]}]
    c.JupyterHub.load_roles = [{"name": "instructor", "services": ["instructor"],
                                "scopes": ["admin:users", "admin:servers", "access:servers", "list:users",
                                           "read:users"]}]
else:
    c.JupyterHub.services = []

# --- the shared stack, one for the class --------------------------------------------------------------
c.JupyterHub.services.append({
    "name": "llama-stack",
    "command": [sys.executable, str(LAB / "deploy" / "jupyterhub" / "shared_stack.py")],
    "environment": {
        "LAB_HOME": str(STATE / "stack-home"), "LAB_STACK_PORT": str(STACK_PORT),
        "LAB_LLAMA_PORT": str(LLAMA_PORT), "LAB_SLOTS": SLOTS, "LAB_N_CTX": str(N_CTX),
        "LAB_ENGINES": ENGINES, "LAB_THREADS": "1", "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
    },
})

# --- every learner's server -------------------------------------------------------------------------
SHARED_URL = f"http://127.0.0.1:{STACK_PORT}"
CACHE = STATE / "class-cache"
c.Spawner.ip = "127.0.0.1"
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab/tree/notebooks"
c.Spawner.args = ["--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                  "--LabApp.extension_manager=readonly", *(["--allow-root"] if os.geteuid() == 0 else [])]
c.Spawner.environment = {
    "LLAMA_STACK_URL": SHARED_URL,      # the shared stack, never a private one
    "LAB_SHARED": "1",                  # connect() never starts a stack; a down stack is a retryable error
    "LAB_CONTEXT_LENGTH": str(N_CTX),   # the shared stack's context, for max_tokens bounds and chat memory
    "LAB_CONCURRENCY": PER_LEARNER,     # per-learner cap: one learner's grid leaves slots to the others
    "LAB_CACHE_DIR": str(CACHE),        # the class-wide response cache (same seeded request = one call)
}
c.Spawner.environment["LAB_HOME"] = lambda spawner: str(learner_home(spawner) / ".lab")  # each learner's state
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120


def learner_home(spawner) -> Path:
    return Path(getattr(spawner, "home_dir", "") or os.path.expanduser(f"~{spawner.user.name}"))


def copy_lessons(spawner):
    """Give a learner their own copy of the lessons on first start (never overwrite their work)."""
    home = learner_home(spawner)
    target = home / "notebooks"
    if not target.exists():
        home.mkdir(parents=True, exist_ok=True)
        shutil.copytree(LAB / "notebooks", target)
        if MODE != "test":
            shutil.chown(home, spawner.user.name)
            for path in target.rglob("*"):
                shutil.chown(path, spawner.user.name)
            shutil.chown(target, spawner.user.name)


c.Spawner.pre_spawn_hook = copy_lessons
c.Spawner.notebook_dir = "~"
