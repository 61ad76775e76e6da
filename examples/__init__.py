"""Example flows and scripts: ``python -m examples.quickstart`` runs one end to end."""
