"""Cloud Run runs images that cannot change under it: a `:latest`, untagged or channel-tagged
image lets the next revision (any template change, a rollback) deploy whatever the tag names
then, unannounced, as `secret:latest` does for a secret (secret-versions-pinned). What counts as
pinned, and its sources, is guardrails/facts.py image_pin_problem, the rule the program's config
applies too."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import Analysis, Findings
from guardrails.facts import image_pin_problem
from guardrails.rule import MANDATORY, PRODUCTION_ADVICE_ELSEWHERE, Rule
from guardrails.values import UNKNOWN


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    # Services and jobs of Cloud Run v2 (template.containers, template.template.containers)
    # and v1 services (template.spec.containers): the model reads each one's images.
    for svc in a.model.services:
        images = svc.images
        if images is UNKNOWN:
            out.unknown(svc.res, "its containers (and so their images) are not known yet")
            continue
        for image in images:
            if image is UNKNOWN:
                out.unknown(svc.res, "a container image is not known yet")
            elif isinstance(image, str) and (problem := image_pin_problem(image)):
                out.violation(
                    svc.res,
                    f"{svc.res.name}: the container image {image} {problem}: the next revision "
                    "(any template change, a rollback) would run whatever it names then, "
                    "unannounced. Fix: deploy the image by digest (image@sha256:<64 hex>) or by "
                    "a release tag (:1.4.2), and make the repository's tags immutable.",
                )


RULE = Rule(
    name="cloud-run-images-pinned",
    description=(
        "Cloud Run services and jobs run an image by digest or release tag (not latest, no tag, "
        "or a moving tag such as stable)."
    ),
    level=MANDATORY,
    severity=Severity.MEDIUM,
    remediation=(
        "Deploy the image by digest (image@sha256:<64 hex>) or by a release tag (:1.4.2); "
        "Artifact Registry can make a repository's tags immutable."
    ),
    tags=("security", "supply-chain"),
    check=check,
    scope=PRODUCTION_ADVICE_ELSEWHERE,
)
