"""Interactive views: a parameter playground, an A/B compare panel and a chat window.

Each is a thin ipywidgets view over plain functions and methods (`Lab.chat`, `labutils.compare.compare_pair`,
`Chat.send`), built on one run-panel base (`base.RunPanel`: button, status, busy guard, errors), so
tests drive them without a browser: set a slider's `.value`, call `.run()` or `button.click()`, read
`.history`, the `Output` widgets and `.status`. Slider bounds come from `labutils.params.PARAMS`.
Where widgets cannot render (papermill, plain IPython), each view shows a plain-text summary of its
state instead. Taught in notebooks/05_playground.ipynb (playground, compare) and
notebooks/06_chatbot_with_memory.ipynb (chat_ui).
"""

from ..compare import compare_pair, pair_metrics
from .base import CHAT_FALLBACK, FALLBACK, RunPanel, explain, output_text
from .chat import ChatUI, chat_ui, transcript_html
from .compare import Compare, compare
from .controls import Params
from .playground import Playground, playground
from .tokens import ChainFold

__all__ = ["CHAT_FALLBACK", "FALLBACK", "ChainFold", "ChatUI", "Compare", "Params", "Playground", "RunPanel", "chat_ui",
           "compare", "compare_pair", "explain", "output_text", "pair_metrics", "playground", "transcript_html"]
