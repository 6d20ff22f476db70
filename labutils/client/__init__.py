"""The send path: connect to a stack, send one request, read its answer; every request goes through `Lab.send`.

    lab = labutils.connect()            # the connected lab (starts the embedded stack if needed)
    done = lab.chat("Say hi")           # one request -> Completion

`lab` holds `Lab` (its `send` is the one request path), `completion` the answer, `connect` finds the stack;
`server` the llama-server side calls (its `/props` defaults, apply-template + tokenize);
`cache` the SQLite response store (it owns the claim/wait of identical requests in flight); `stream`,
`failures`, `responses` are the send path's private parts. Taught in notebooks/00_setup_and_first_request.ipynb.
This wing imports only the foundation (`params`, `config`, `paths`, `errors`) and `stack`.
"""

from .cache import Cache
from .completion import Completion
from .connect import connect
from .lab import Lab
from .server import ServerDefaults, engine_identity

__all__ = ["Cache", "Completion", "Lab", "ServerDefaults", "connect", "engine_identity"]
