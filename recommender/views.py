"""Staff pages: one customer's recent history beside what we recommend them, and why."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404
from django.shortcuts import redirect, render

from recommender.models import TrainingRun
from recommender.selectors import customer_history
from recommender.serving import engine
from segments.selectors import customer_segments
from shop.models import Customer


@staff_member_required
def customer_search(request):
    external_id = request.GET.get("q", "").strip()
    if not external_id:
        return redirect("admin:recommender_trainingrun_changelist")
    return redirect("recommender:customer", external_id=external_id)


@staff_member_required
def customer_recommendations(request, external_id: str):
    customer = Customer.objects.filter(external_id=external_id).first()
    if customer is None:
        raise Http404(f"No customer {external_id!r}.")
    answer = engine.recommend(external_id=external_id, n=20)
    context = {
        "customer": customer,
        "history": customer_history(customer_id=customer.pk, limit=50),
        "answer": answer,
        "segments": customer_segments(customer_id=customer.pk),
        "run": TrainingRun.objects.filter(pk=answer.run_id).first() if answer.run_id else None,
        "title": f"Recommendations for {customer}",
    }
    return render(request, "recommender/customer.html", context)
