"""One module per policy: each defines `RULE` (guardrails/rule.py) and its check. The module's
name is the policy's name with underscores; guardrails/registry.py lists them in order."""
