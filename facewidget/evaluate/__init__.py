"""Evaluation of explanations (filled in below)."""
