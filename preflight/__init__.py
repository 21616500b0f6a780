"""Offline preflight: run the program as the engine would, record the plan, drive the policy pack."""
