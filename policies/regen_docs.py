"""`python policies/regen_docs.py`: rewrite the generated policy reference in docs/policies.md."""

import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from guardrails.policies import reference_markdown  # noqa: E402

BEGIN, END = "<!-- BEGIN policy-reference (generated) -->\n", "<!-- END policy-reference -->"
doc = Path(__file__).resolve().parent.parent / "docs" / "policies.md"
text = doc.read_text()
head, rest = text.split(BEGIN, 1)
doc.write_text(head + BEGIN + reference_markdown() + END + rest.split(END, 1)[1])
