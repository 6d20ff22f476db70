"""The class's shared Llama Stack as a JupyterHub-managed service: start it, keep it up, stop it on SIGTERM.

JupyterHub runs this script (see jupyterhub_config.py, service `llama-stack`) with LAB_HOME,
LAB_STACK_PORT, LAB_LLAMA_PORT, LAB_SLOTS, LAB_ENGINES and LAB_THREADS in its environment. It starts the
lab's embedded stack (one engine per core behind the balancer, Llama Stack in front, all on 127.0.0.1),
checks it every few seconds and starts it again when it stopped answering (a crash mid-class: learners'
requests fail with a retryable message meanwhile, then work again), and stops exactly what it started
when the hub stops the service.
"""

from __future__ import annotations

import signal
import sys
import time

from labutils import stack
from labutils.errors import StackError

CHECK_EVERY = 5.0


def main() -> int:
    settings = stack.Settings()
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"shared stack: starting on {settings.url} (the engines' balancer on {settings.llama_url}, "
          f"{settings.pool_size or 'one per core'} engine(s) x {settings.slots} slot(s), {settings.threads} "
          "thread(s) each)", flush=True)
    try:
        stack.up(settings, quiet=True)
        print(f"shared stack: ready, serving {settings.model_id}", flush=True)
        while not stopping:
            time.sleep(CHECK_EVERY)
            if not stopping and not stack.is_up(settings):
                print("shared stack: not answering, starting it again", flush=True)
                try:
                    stack.up(settings, quiet=True)
                except StackError as e:  # try again at the next check; the hub keeps this service running
                    print(f"shared stack: restart failed: {e}", flush=True)
    except StackError as e:
        print(f"shared stack: could not start: {e}", file=sys.stderr, flush=True)
        return 1
    finally:
        print("shared stack: stopping", flush=True)
        stack.down(settings, quiet=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
