"""labutils: the helpers of Inference Lab, a hands-on lab for the Llama Stack Inference API.

    import labutils
    lab = labutils.connect()                 # starts the embedded stack if needed
    lab.chat("Say hi", temperature=0)        # one request -> Completion
    runs = lab.sweep("Say hi", labutils.Grid(temperature=[0, 1], samples=3))

Importing it has no side effects: nothing starts and nothing is configured until a function is called.
"""

from .chat import Chat
from .client import Completion, Lab, connect
from .errors import (
    ConnectionFailed,
    ContextTooLong,
    Interrupted,
    LabError,
    ModelNotFound,
    ParameterError,
    RequestFailed,
    StackError,
    TooManyCalls,
)
from .grid import Grid
from .metrics import summarize
from .probe import probe

__all__ = [
    "Chat", "Completion", "ConnectionFailed", "ContextTooLong", "Grid", "Interrupted", "Lab", "LabError",
    "ModelNotFound", "ParameterError", "RequestFailed", "StackError", "TooManyCalls", "connect", "probe", "summarize",
]

_LAZY_SUBMODULES = ("tables", "plots", "sampling", "export", "runs", "config", "compare", "evidence", "exercises",
                    "widgets")


def __getattr__(name: str):
    """`labutils.plots` and friends load on first use, so `import labutils` does not import matplotlib."""
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'labutils' has no attribute {name!r}")
