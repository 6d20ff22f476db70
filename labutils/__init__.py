"""labutils: the helpers of Inference Lab, a hands-on lab for the Llama Stack Inference API.

    import labutils
    lab = labutils.connect()                 # starts the embedded stack if needed
    lab.chat("Say hi", temperature=0)        # one request -> Completion
    runs = lab.sweep("Say hi", labutils.Grid(temperature=[0, 1], samples=3))
    labutils.compare(runs, "words", {"temperature": 0}, {"temperature": 1})   # the paired test of two cells

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
from .paired import compare
from .probe import probe

__all__ = [
    "Chat", "Completion", "ConnectionFailed", "ContextTooLong", "Grid", "Interrupted", "Lab", "LabError",
    "ModelNotFound", "ParameterError", "RequestFailed", "StackError", "TooManyCalls", "compare", "connect", "probe",
    "summarize",
]

# the face's modules, loaded on first use (`labutils.plots`, `from labutils import tables`): a name -> its module
_LAZY = {"tables": ".views.tables", "plots": ".views.plots", "export": ".views.export",
         "sampling": ".sampler.distribution", "sampler": ".sampler", "structured": ".lessons.structured",
         "ab": ".lessons.ab",
         "metrics": ".metrics", "intervals": ".intervals", "paired": ".paired", "scorers": ".scorers",
         "runs": ".runs", "config": ".config", "params": ".params", "chat": ".chat", "client": ".client",
         "stack": ".stack", "exercises": ".exercises", "widgets": ".widgets", "views": ".views",
         "evidence": ".lessons.evidence", "glossary": ".lessons.glossary",
         "lessons": ".lessons"}


def __getattr__(name: str):
    """`labutils.plots` and friends load on first use, so `import labutils` does not import matplotlib."""
    if name in _LAZY:
        import importlib

        return importlib.import_module(_LAZY[name], __name__)
    raise AttributeError(f"module 'labutils' has no attribute {name!r}")
