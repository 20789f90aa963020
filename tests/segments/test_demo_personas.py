"""K-means on the demo shop recovers the generator's hidden personas."""

from datetime import UTC, datetime

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from segments import services
from segments.models import Membership, RunStatus
from shop.models import Customer

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_kmeans_on_5000_demo_customers_recovers_the_personas():
    from shop.demo.services import generate_demo_data

    generate_demo_data(customers=5000, seed=1, end=datetime(2026, 1, 1, tzinfo=UTC))
    definition = services.segmentation_definition_create(name="Behaviour", method="kmeans")  # k chosen by silhouette

    run = services.segmentation_run(definition=definition)

    assert run.status == RunStatus.SUCCEEDED, run.error
    personas = pd.Series(dict(Customer.objects.values_list("pk", "attributes__persona")))
    segments = pd.Series(dict(Membership.objects.filter(segment__run=run).values_list("customer_id", "segment__key")))
    assert len(segments) == len(personas) == 5000  # customers without purchases form their own segment
    ari = adjusted_rand_score(personas.sort_index(), segments.reindex(personas.sort_index().index))
    print(f"ARI vs personas: {ari:.3f} with k={run.metrics['k']}; {run.timings}")
    assert ari >= 0.8
    names = list(run.segments.values_list("name", flat=True))
    assert len(names) == len(set(names)) and not any(n.lower().startswith("cluster") for n in names)
