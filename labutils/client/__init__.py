"""The send path: connect to a stack, send one request, read its answer; every request goes through `Lab.send`.

    lab = labutils.connect()            # the connected lab (starts the embedded stack if needed)
    done = lab.chat("Say hi")           # one request -> Completion

`lab` holds `Lab` (its `send` reads: validate -> cached -> send -> store), `completion` the answer,
`connection` finds the stack (`connect`), `request` builds a checked request's fields, `server` holds the
llama-server side calls (the engine behind a model, its `/props` defaults, apply-template, tokenize), `cache`
the SQLite response store (it owns the claim/wait of identical requests in flight: `Cache.in_flight`),
`parallel` runs many requests at once (the sweep's pool); `stream`, `failures`, `responses`, `_sqlite` are
private parts. Taught in notebooks/00_setup_and_first_request.ipynb. This wing imports only the foundation
(`params`, `config`, `errors`) and `stack`.
"""

from .cache import Cache
from .completion import Completion
from .connection import connect
from .lab import Lab
from .server import ServerDefaults, engine_identity

__all__ = ["Cache", "Completion", "Lab", "ServerDefaults", "connect", "engine_identity"]
