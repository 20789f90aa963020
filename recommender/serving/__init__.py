"""Serving: the model artifact, explanations, the in-memory serving state and the served-recommendation log."""
