"""The two staff groups: "Marketers" (campaigns, offers, reading segments and recommendations) and "Data staff"
(imports, segmentation definitions, training, schedules). Admin enforces them through these permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MARKETERS = {
    "marketing": {
        "campaign": ["add", "change", "delete", "view", "launch"],
        "variant": ["add", "change", "delete", "view"],
        "offer": ["add", "change", "delete", "view"],
        "coupon": ["view"],
        "recipient": ["view"],
        "conversion": ["view"],
        "suppression": ["add", "change", "delete", "view"],
        "campaignaction": ["view"],
        "upliftmodel": ["view"],
    },
    "segments": {"segmentationdefinition": ["view"], "segmentationrun": ["view"], "segment": ["view"]},
    "recommender": {"trainingrun": ["view"]},
    "shop": {"customer": ["view"], "product": ["view"], "category": ["view"]},
}
DATA_STAFF = {
    "shop": {
        "importjob": ["add", "change", "delete", "view"],
        "customer": ["add", "change", "view"],
        "product": ["add", "change", "view"],
        "category": ["add", "change", "view"],
        "interaction": ["view"],
    },
    "segments": {
        "segmentationdefinition": ["add", "change", "delete", "view"],
        "segmentationrun": ["add", "change", "view"],
        "segment": ["change", "view"],
        "membership": ["view"],
    },
    "recommender": {"trainingrun": ["add", "change", "view"]},
    "django_celery_beat": {
        "periodictask": ["add", "change", "delete", "view"],
        "intervalschedule": ["add", "change", "delete", "view"],
        "crontabschedule": ["add", "change", "delete", "view"],
    },
    "marketing": {"campaign": ["view"], "recipient": ["view"], "upliftmodel": ["add", "change", "view"]},
}
GROUPS = {"Marketers": MARKETERS, "Data staff": DATA_STAFF}


def _codename(action: str, model: str) -> str:
    return "launch_campaign" if action == "launch" else f"{action}_{model}"


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations ran; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, grants in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for app_label, models in grants.items():
            for model, actions in models.items():
                for action in actions:
                    codename = _codename(action, model)
                    permission = Permission.objects.filter(
                        content_type__app_label=app_label, content_type__model=model, codename=codename
                    ).first()
                    if permission is None:
                        raise RuntimeError(f"Permission {app_label}.{codename} not found for group {name!r}")
                    wanted.append(permission)
        group.permissions.add(*wanted)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(GROUPS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("marketing", "0002_send_claim_and_launch_permission"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("shop", "0003_interaction_coupon"),
        ("segments", "0001_initial"),
        ("recommender", "0003_trainingrun_rolled_back_at"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
