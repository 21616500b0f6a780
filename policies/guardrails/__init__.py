"""Pure policy logic for the redis-vpc pack: a typed model of the stack, path analysis, policies.

Importable on its own (tests, benchmarks, preflight); only policies/__main__.py builds the pack.
"""
