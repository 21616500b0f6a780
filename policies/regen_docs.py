"""`python policies/regen_docs.py`: rewrite the generated sections of docs/policies.md."""

import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from guardrails.docs import regenerate  # noqa: E402

doc = Path(__file__).resolve().parent.parent / "docs" / "policies.md"
doc.write_text(regenerate(doc.read_text()))
