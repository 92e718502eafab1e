"""The Celery application: Redis broker, JSON only, configured by CELERY_* settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blockster.settings")

app = Celery("blockster")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The project package is not an installed app; its own tasks (ping_task) live here.
app.autodiscover_tasks(["blockster"])
