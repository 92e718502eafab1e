"""What a successful share costs PostgreSQL, counted, never timed (bench/share.py
times it; bench/costs.py counts, here and in the benchmark)."""

from __future__ import annotations

import pytest

from bench.costs import CostCounter
from campaigns.models import ShareReward
from social.spend.prices import PriceKind, price_of

HTMX = {"HTTP_HX_REQUEST": "true"}

# A share's statements: the campaign with its post, its tweets (the form names
# one), the reader (session), the X connection; the claim (reader lock with the
# sharing pause, campaign lock with post, the reader's rewards for this campaign
# and its tweet, the insert); X spend of the two X requests (1); the state change;
# the mirror's re-read after each of the 2 commits. The box after the press reads
# nothing more. A share paid on X's answer (policy "off") also counts the share on
# its campaign.
SHARE_STATEMENTS = {"all": 12, "off": 13}
# The claim, X spend's upsert (autocommit), the state change.
SHARE_WRITE_TRANSACTIONS = 3


@pytest.mark.parametrize("policy", ["all", "off"])
def test_a_share_makes_no_more_statements_than_counted(
    policy,
    settings,
    transactional_db,
    client,
    reader,
    sandbox_campaign_factory,
    connect_x,
):
    settings.X_VERIFY_SHARES = policy
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    client.force_login(reader)
    price_of(PriceKind.POST_WRITE)  # the process's prices, read once a minute
    form = {"tweet": campaign.first_tweet.pk}  # as the box's form sends it

    with CostCounter() as costs:
        response = client.post(f"/campaigns/{campaign.pk}/share", form, **HTMX)

    assert "box-state done" in response.content.decode()
    status = {"off": "verified", "all": "shared"}[policy]
    assert ShareReward.objects.get(user=reader, campaign=campaign).status == status
    assert costs.counts["sql statements"] <= SHARE_STATEMENTS[policy], costs.statements
    assert costs.counts["write transactions"] <= SHARE_WRITE_TRANSACTIONS
