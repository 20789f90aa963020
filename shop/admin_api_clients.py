"""Admin for API clients (keys are shown once, stored hashed)."""
