"""Chairside: chair-side monitor for outpatient antibody infusions."""
