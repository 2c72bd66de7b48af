"""Grading on more than one machine (placeholder)."""
