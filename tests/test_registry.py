"""One rule, one policy, one module: the registry is the only list of rules, and it is complete."""

from __future__ import annotations

import ast
import pkgutil

from guardrails import rules as rules_pkg
from guardrails import settings
from guardrails.registry import MODULES, RULES
from guardrails.rule import EVERY_STACK, PRODUCTION_ADVICE_ELSEWHERE

from tests.support import ROOT


def test_every_rule_module_is_registered_under_its_own_name():
    on_disk = {m.name for m in pkgutil.iter_modules(rules_pkg.__path__)}
    registered = {m.__name__.rsplit(".", 1)[1] for m in MODULES}
    assert registered == on_disk
    for module in MODULES:
        assert module.RULE.name.replace("-", "_") == module.__name__.rsplit(".", 1)[1]
    assert len(RULES) == len(MODULES)  # no two modules claim one name


def test_each_rule_module_defines_exactly_one_rule():
    for path in (ROOT / "policies" / "guardrails" / "rules").glob("[!_]*.py"):
        tree = ast.parse(path.read_text())
        # Rule(...) itself, or the factory of a family of rules (guardrails/psc.py baseline_rule)
        made = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and getattr(n.func, "id", None) in ("Rule", "baseline_rule")
        ]
        assert len(made) == 1, path.name


def test_scopes_carry_the_settings_they_need():
    for rule in RULES.values():
        names = {x.name for x in rule.all_settings()}
        assert "exemptions" in names
        assert ("production" in names) == (rule.scope != EVERY_STACK)
        assert (settings.OUTSIDE_PRODUCTION.name in names) == (
            rule.scope == PRODUCTION_ADVICE_ELSEWHERE
        )
        assert rule.kind in ("stack", "resource")
        assert (rule.kind == "resource") == bool(rule.types)
        # Resource rules see one resource: they cannot tell a production stack.
        assert rule.kind == "stack" or rule.scope == EVERY_STACK
