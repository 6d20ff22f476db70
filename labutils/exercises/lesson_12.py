"""Exercises of notebooks/12_structured_output.ipynb."""

from __future__ import annotations

from .registry import failed, passed, register


@register("12.1", hint="json_object only promises some JSON object, any keys. Which constraint carries your keys "
          "and their types to the server?", solution="json_schema", wrong="json_object")
def _(answer):
    if answer == "json_schema":
        return passed("only the schema names the keys and types; llama-server turns it into a grammar, so every "
                      "answer that finishes matches it (a cut answer still does not).")
    if answer == "json_object":
        return failed("json_object guarantees JSON, not which keys it has.")
    return failed(f"{answer!r}: pick one of 'none', 'json_object', 'json_schema'.")
