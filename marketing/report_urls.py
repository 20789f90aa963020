"""Staff pages of the measurement, included by the project under /staff/marketing/reports/."""

from django.urls import path

from marketing import report_views

app_name = "marketing-reports"

urlpatterns = [
    path("", report_views.report_list, name="list"),
    path("<int:pk>/", report_views.report_detail, name="detail"),
    path("<int:pk>/export.csv", report_views.report_export, name="export"),
    path("suggestions/<int:segment_id>/draft/", report_views.draft_from_suggestion, name="draft"),
]
