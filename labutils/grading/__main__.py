"""`python -m labutils.grading SUBMISSIONS --out grades/` (Makefile `grade`)."""

import sys

from .grader import main

sys.exit(main())
