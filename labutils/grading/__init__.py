"""The instructor's tools, never imported by a lesson: grade a folder of submissions, write the report,
render solved copies and nbgrader sources.

    python -m labutils.grading submissions/ --out grades/      # grade every learner's notebooks
    python -m labutils.grading.solutions render --out solved/  # a solved copy of every lesson

`grade` runs each notebook with its exercise checks recorded (`record` is what the inserted check cell
calls); `report` writes grades.csv/.html/.png; `submissions` reads a notebook's exercise calls;
`solutions` fills in the answers. This wing may import everything else; nothing imports it.
"""

from .grader import Graded, grade, grade_notebook, main, record
from .report import table, write_report

__all__ = ["Graded", "grade", "grade_notebook", "main", "record", "table", "write_report"]
