"""Builders of the synthetic tenant, one module per resource family (see bench/synth_tenant.py)."""
