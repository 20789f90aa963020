"""Existing registries: reword the gate's verdicts ("promoted: ..." read as if the run still served, and a
rollback overwrote the verdict with "rolled back to from #N"), and record the promotions already made in
the model history, in promotion order, marked as reconstructed."""

from django.db import migrations

RECONSTRUCTED = "recorded before the model history existed (who and why unknown)"


def forwards(apps, schema_editor):
    TrainingRun = apps.get_model("recommender", "TrainingRun")
    ModelSwitch = apps.get_model("recommender", "ModelSwitch")
    for run in TrainingRun.objects.exclude(decision="").only("pk", "decision"):
        decision = run.decision
        if decision.startswith("promoted: "):
            decision = "passed the champion gate: " + decision[len("promoted: ") :]
        elif decision.startswith("rolled back to"):
            decision = ""  # the verdict was overwritten; the switch itself is in the history below
        if decision != run.decision:
            TrainingRun.objects.filter(pk=run.pk).update(decision=decision)
    if ModelSwitch.objects.exists():
        return
    previous = None
    for run in TrainingRun.objects.filter(promoted_at__isnull=False).order_by("promoted_at", "pk"):
        ModelSwitch.objects.create(
            kind="automatic" if run.decision.startswith("passed the champion gate") else "promote",
            from_run=previous,
            to_run=run,
            reason=RECONSTRUCTED,
            switched_at=run.promoted_at,
        )
        previous = run


class Migration(migrations.Migration):
    dependencies = [("recommender", "0004_trainingrun_heartbeat_at_modelswitch")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
