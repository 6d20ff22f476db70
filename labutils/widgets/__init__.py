"""Interactive views: a parameter playground, an A/B panel and a chat window.

Each is a thin ipywidgets view over plain functions and methods (`Lab.chat`, `labutils.ab.send_pair`,
`Chat.send`), built on one run-panel base (`base.RunPanel`: button, status, busy guard, errors), so
tests drive them without a browser: set a slider's `.value`, call `.run()` or `button.click()`, read
`.history`, the `Output` widgets and `.status`. Slider bounds come from `labutils.params.PARAMS`.
Where widgets cannot render (papermill, plain IPython), each view shows a plain-text summary of its
state instead. Taught in notebooks/05_playground.ipynb (playground, ab_panel) and
notebooks/06_chatbot_with_memory.ipynb (chat_ui).
"""

from .ab import ABPanel, ab_panel
from .base import CHAT_FALLBACK, FALLBACK, RunPanel, explain, output_text
from .chat import ChatUI, chat_ui, transcript_html
from .controls import Params
from .playground import Playground, playground
from .tokens import ChainFold

__all__ = ["CHAT_FALLBACK", "FALLBACK", "ABPanel", "ChainFold", "ChatUI", "Params", "Playground", "RunPanel",
           "ab_panel", "chat_ui", "explain", "output_text", "playground", "transcript_html"]
