"""The Celery application: Redis broker, JSON only, configured by CELERY_* settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blockster.settings")

app = Celery("blockster")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
