"""Builds the policy pack. `PolicyPack(...)` serves the Analyzer protocol and never returns, so
nothing may import this file: the policies live in guardrails/."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from guardrails import sdk  # noqa: E402
from guardrails.policies import all_policies  # noqa: E402
from pulumi_policy import PolicyPack  # noqa: E402

# Before the pack is built: each Analyze/AnalyzeStack call converts each resource once for all
# policies (guardrails/sdk.py; the unpatched SDK, with a warning, on an untested SDK version).
sdk.install()
# One pack version everywhere: PulumiPolicy.yaml's, also in the SDK's own messages.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "PulumiPolicy.yaml")) as f:
    found = re.search(r"^version:\s*([^\s#]+)", f.read(), re.M)
if found:
    sdk.install_version(found.group(1))
PolicyPack(name="redis-vpc-guardrails", policies=all_policies())
