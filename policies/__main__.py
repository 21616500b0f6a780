"""Builds the policy pack. `PolicyPack(...)` serves the Analyzer protocol and never returns, so
nothing may import this file: the policies live in guardrails/."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from guardrails.policies import all_policies  # noqa: E402
from pulumi_policy import PolicyPack  # noqa: E402

PolicyPack(name="redis-vpc-guardrails", policies=all_policies())
