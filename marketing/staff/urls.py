"""The staff site, included by the project under /staff/."""

from django.urls import path

from marketing.staff import schedule_views, views

app_name = "staff"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("segments/", views.segmentation_list, name="segmentations"),
    path("segments/runs/<int:pk>/", views.segmentation_run, name="segmentation-run"),
    path("customers/", views.customer_search, name="customers"),
    path("customers/<str:external_id>/", views.customer_profile, name="customer"),
    path("models/", views.model_registry, name="models"),
    path("models/<int:pk>/switch/", views.model_switch, name="model-switch"),
    path("jobs/", views.job_monitor, name="jobs"),
    path("jobs/status.json", views.job_status, name="job-status"),
    path("jobs/live/", views.job_panel, name="jobs-live"),
    path("schedules/", schedule_views.schedule_list, name="schedules"),
    path("schedules/new/", schedule_views.schedule_create, name="schedule-new"),
    path("schedules/<int:pk>/", schedule_views.schedule_edit, name="schedule"),
    path("schedules/<int:pk>/toggle/", schedule_views.schedule_toggle, name="schedule-toggle"),
    path("schedules/<int:pk>/run/", schedule_views.schedule_run, name="schedule-run"),
    path("schedules/<int:pk>/delete/", schedule_views.schedule_delete, name="schedule-delete"),
]
