"""Default schedules for beat's database scheduler: segment every night, then retrain, and check triggered
campaigns every hour. Staff change or pause them on the staff site's Schedules page (the demo pauses them)."""

from django.conf import settings
from django.db import migrations

# name, task, crontab minute and hour in the project's time zone, queue, description;
# marketing.schedules.DEFAULT_SCHEDULE_NAMES lists the same names.
DEFAULTS = [
    ("Nightly segmentation", "segments.tasks.run_all_segmentations", "0", "2", None, "Run every segmentation"),
    (
        "Nightly recommender retraining",
        "recommender.tasks.train_recommender",
        "0",
        "3",
        None,
        "Retrain the recommender",
    ),
    (
        "Hourly triggered-campaign check",
        "marketing.trigger_tasks.evaluate_triggered_campaigns",
        "5",
        "*",
        "marketing",
        "Check triggered campaigns",
    ),
]


def create_defaults(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    zone = getattr(settings, "CELERY_TIMEZONE", None) or settings.TIME_ZONE
    for name, task, minute, hour, queue, description in DEFAULTS:
        fields = {
            "minute": minute,
            "hour": hour,
            "day_of_week": "*",
            "day_of_month": "*",
            "month_of_year": "*",
            "timezone": zone,
        }
        crontab = CrontabSchedule.objects.filter(**fields).first() or CrontabSchedule.objects.create(**fields)
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={
                "task": task,
                "crontab": crontab,
                "args": "[]",
                "kwargs": "{}",
                "queue": queue,
                "description": description,
            },
        )
    # Historical models send no signals: tell a running beat that its schedule changed.
    from django.utils import timezone

    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def delete_defaults(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, *_ in DEFAULTS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0002_segmentationrun_heartbeat_at"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_defaults, delete_defaults)]
