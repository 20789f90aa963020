"""Admin: per-method forms with validation, Run now, run and segment pages, member CSV."""

import json

import pytest
from django.urls import reverse

from segments import services
from segments.models import RunStatus, Segment, SegmentationDefinition
from tests.segments.factories import build_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def _form(**overrides):
    data = {"name": "VIPs", "description": "", "method": "rules", "no_purchase_policy": "own_group"}
    data.update(overrides)
    return data


def test_rules_form_refuses_a_bad_condition_with_its_path(staff):
    rules = {"segments": [{"name": "VIP", "rule": {"any": [{"field": "monetary", "op": ">>", "value": 3}]}}]}
    response = staff.post(reverse("admin:segments_segmentationdefinition_add"), _form(rules=json.dumps(rules)))
    assert response.status_code == 200
    assert "segments[0] (VIP).any[0] (monetary &gt;&gt; 3): unknown operator" in response.content.decode()
    assert not SegmentationDefinition.objects.exists()


def test_kmeans_form_stores_its_parameters(staff):
    response = staff.post(
        reverse("admin:segments_segmentationdefinition_add"),
        _form(name="Behaviour", method="kmeans", k="4", seed="7", features=["recency_days", "monetary"]),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    definition = SegmentationDefinition.objects.get(name="Behaviour")
    assert (
        definition.parameters["k"] == 4 and definition.parameters["seed"] == 7 and definition.parameters["k_max"] == 10
    )
    assert definition.features == ["recency_days", "monetary"]


def test_static_form_reads_the_uploaded_csv(staff):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("ids.csv", b"customer_id,note\nc-1,x\nc-2,y\nc-1,z\n", content_type="text/csv")
    response = staff.post(
        reverse("admin:segments_segmentationdefinition_add"), _form(name="Press", method="static", customer_csv=upload)
    )
    assert response.status_code == 302
    assert SegmentationDefinition.objects.get(name="Press").parameters["external_ids"] == ["c-1", "c-2"]


def test_run_now_action_and_pages(staff, django_capture_on_commit_callbacks):
    build_shop(big=10, small=10, browsers=3)
    definition = services.segmentation_definition_create(name="RFM", method="rfm")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            reverse("admin:segments_segmentationdefinition_changelist"),
            {"action": "run_now", "_selected_action": [definition.pk]},
            follow=True,
        )
    assert "queued" in response.content.decode()
    definition.refresh_from_db()
    run = definition.active_run
    assert run.status == RunStatus.SUCCEEDED

    for url in (
        reverse("admin:segments_segmentationdefinition_change", args=[definition.pk]),
        reverse("admin:segments_segmentationrun_change", args=[run.pk]),
        reverse("admin:segments_segmentationrun_changelist"),
        reverse("admin:segments_segment_changelist") + "?q=Champions",
        reverse("admin:segments_membership_changelist") + "?q=s0-big",
    ):
        assert staff.get(url).status_code == 200, url

    champions = run.segments.get(key="champions")
    page = staff.get(reverse("admin:segments_segment_change", args=[champions.pk])).content.decode()
    assert "z-score" in page and "RFM rule" in page and "members" in page
    assert (
        "Can&#x27;t Lose Them"
        in staff.get(reverse("admin:segments_segmentationdefinition_change", args=[definition.pk])).content.decode()
    )

    export = staff.get(reverse("admin:segments_segment_members_csv", args=[champions.pk]))
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert lines[0] == "segment,external_id,email,name" and len(lines) == champions.size + 1


def test_renaming_a_segment_in_admin_marks_it_custom(staff):
    build_shop(big=10, small=10, browsers=3)
    run = services.segmentation_run(definition=services.segmentation_definition_create(name="RFM", method="rfm"))
    segment = run.segments.first()
    response = staff.post(reverse("admin:segments_segment_change", args=[segment.pk]), {"name": "Our stars"})
    assert response.status_code == 302
    segment = Segment.objects.get(pk=segment.pk)
    assert segment.name == "Our stars" and segment.name_is_custom


def test_run_page_shows_each_ks_scores_the_as_of_time_and_the_top_categories(staff):
    build_shop(big=12, small=12, browsers=3)
    definition = services.segmentation_definition_create(name="Auto", method="kmeans")
    run = services.segmentation_run(definition=definition)
    page = staff.get(reverse("admin:segments_segmentationrun_change", args=[run.pk])).content.decode()
    assert "stability" in page and run.metrics["k_choice"][:40] in page
    assert run.metrics["as_of"] in page and "last event (historical data" in page
    segment = run.segments.exclude(key="no_purchases").first()
    profile = staff.get(reverse("admin:segments_segment_change", args=[segment.pk])).content.decode()
    top = segment.profile["top_categories"][0]
    assert "share of members&#x27; spend" in profile or "share of members' spend" in profile
    assert f"{top['spend_share']:.0%}" in profile and top["category"] in profile
