"""The staff site under /staff/: dashboard, segment explorer, customer profile, model registry and job monitor.

It lives in `marketing` because its pages read every app (the import rules let only `marketing` do that).
Views only read through the apps' selectors and write through their services.
"""
