"""Races a real site sees: double clicks, two tabs, a crowd for the last places."""

from __future__ import annotations

import html
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from django.test import Client

from campaigns.models import ShareCampaign, ShareReward
from campaigns.services import share_to_x

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_retries"),
]


def test_two_tabs_clicking_at_once_make_one_reward(
    reader, sandbox_campaign_factory, connect_x, sandbox
):
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    barrier = threading.Barrier(2)
    answers: list[str] = []

    def click():
        client = Client()
        client.force_login(reader)
        barrier.wait()
        try:
            response = client.post(
                f"/campaigns/{campaign.pk}/share", HTTP_HX_REQUEST="true"
            )
            answers.append(html.unescape(response.content.decode()))
        finally:
            connections.close_all()

    tabs = [threading.Thread(target=click) for _ in range(2)]
    for tab in tabs:
        tab.start()
    for tab in tabs:
        tab.join()

    assert ShareReward.objects.filter(user=reader, campaign=campaign).count() == 1
    assert ShareReward.objects.get(user=reader).status == "verified"
    assert ShareCampaign.objects.get(pk=campaign.pk).total_shares == 1
    assert len(sandbox.retweets()) == 1
    # The refused tab may render after the share was verified: its box then shows
    # the reward's state under the refusal, so a refusal is told by its message.
    refused = [
        a
        for a in answers
        if "already on its way to X" in a or "already shared this article" in a
    ]
    earned = [a for a in answers if "You earned" in a and a not in refused]
    assert len(earned) == 1 and len(refused) == 1


def test_a_hundred_readers_racing_for_ten_places_make_ten_rewards(
    user_factory, sandbox_campaign_factory, connect_x, sandbox
):
    campaign = sandbox_campaign_factory(max_participants=10)
    readers = [user_factory() for _ in range(100)]
    for reader in readers:
        connect_x(reader)
    barrier = threading.Barrier(20)

    def attempt(reader):
        try:
            if readers.index(reader) < 20:
                barrier.wait()  # the first wave starts together
            return share_to_x(reader, campaign)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(attempt, readers))

    assert sum(outcome.ok for outcome in outcomes) == 10
    assert ShareReward.objects.filter(campaign=campaign).count() == 10
    assert (
        ShareReward.objects.filter(campaign=campaign, status="verified").count() == 10
    )
    assert ShareCampaign.objects.get(pk=campaign.pk).total_shares == 10
    assert len(sandbox.retweets()) == 10
    refusals = {o.message for o in outcomes if not o.ok}
    assert refusals == {"This campaign has reached its maximum number of participants."}


def test_a_database_connection_dropped_during_the_x_call_loses_nothing(
    reader, sandbox_campaign_factory, connect_x, sandbox
):
    from django.db import connection

    campaign = sandbox_campaign_factory()
    connect_x(reader)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    sandbox.fault("POST /2/users/:id/retweets", hang=2.0)

    def terminate_while_x_answers():
        time.sleep(0.8)  # well inside the 2 s X takes to answer
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        finally:
            connections.close_all()

    killer = threading.Thread(target=terminate_while_x_answers)
    killer.start()
    outcome = share_to_x(reader, campaign)
    killer.join()

    assert outcome.ok, outcome.message
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid  # the session did die, and was replaced
    assert ShareReward.objects.get(user=reader).status == "verified"
    assert ShareCampaign.objects.get(pk=campaign.pk).total_shares == 1
