"""labutils: the helpers of Inference Lab, a hands-on lab for the Llama Stack Inference API.

    import labutils
    lab = labutils.connect()                 # starts the embedded stack if needed
    lab.chat("Say hi", temperature=0)        # one request -> Completion
    runs = lab.sweep("Say hi", labutils.Grid(temperature=[0, 1], samples=3))

Importing it has no side effects: nothing starts and nothing is configured until a function is called.
"""

from .client import Completion, Lab, connect
from .errors import (
    ConnectionFailed,
    LabError,
    ModelNotFound,
    ParameterError,
    RequestFailed,
    StackError,
    TooManyCalls,
)
from .grid import Grid
from .metrics import summarize

__all__ = [
    "Completion", "ConnectionFailed", "Grid", "Lab", "LabError", "ModelNotFound", "ParameterError",
    "RequestFailed", "StackError", "TooManyCalls", "connect", "summarize",
]
