import os

from django.core.wsgi import get_wsgi_application

# The deployed entry point: production unless told otherwise (manage.py keeps dev for local work).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

application = get_wsgi_application()
