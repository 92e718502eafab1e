import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from campaigns.models import ShareCampaign
from posts.management.commands.seed_demo import (
    DEMO_CAMPAIGNS,
    DEMO_USERS,
    DEMO_X_ACCOUNTS,
)
from posts.models import Post
from social.score import calculate_and_save_score


def test_seed_demo_twice_creates_nothing_twice(db, settings, capsys):
    settings.DEBUG = True

    call_command("seed_demo")
    first = capsys.readouterr().out
    call_command("seed_demo")
    second = capsys.readouterr().out

    assert User.objects.filter(email__in=[user[0] for user in DEMO_USERS]).count() == 4
    assert User.objects.filter(is_staff=True).count() == 1
    assert Post.objects.filter(is_published=True).count() == 3
    assert "users_created=4 posts_created=3 campaigns_created=2" in first
    assert "users_created=0 posts_created=0 campaigns_created=0" in second
    assert ShareCampaign.objects.count() == 2
    assert "admin@blockster.local / blockster-admin" in first


def test_the_demo_campaigns_dashboards_show_their_history(
    db, settings, admin_client, page_text
):
    settings.DEBUG = True
    call_command("seed_demo")

    for slug, (*_, budget, shares) in DEMO_CAMPAIGNS.items():
        campaign = ShareCampaign.objects.get(post__slug=slug)
        text = page_text(
            admin_client.get(f"/admin/campaigns/sharecampaign/{campaign.pk}/dashboard/")
        )
        assert f"Shares {shares}" in text
        assert "No shares in this period." not in text
        assert "Nothing minted in this period." not in text
        assert "No X requests in this period." not in text
        assert campaign.bux_budget == budget


def test_seed_demo_logins_work(client, db, settings):
    settings.DEBUG = True
    call_command("seed_demo")

    response = client.post(
        "/accounts/login/",
        {"login": "reader@blockster.local", "password": "blockster-reader"},
    )

    assert response.status_code == 302


def test_the_demo_readers_x_accounts_give_low_middle_and_high_scores(
    sandbox, connect_x, settings, capsys
):
    settings.DEBUG = True
    call_command("seed_demo")
    logins = capsys.readouterr().out
    persona_of = {a["username"]: a["key"] for a in sandbox.state()["accounts"]}

    scores = []
    for email, (username, _) in DEMO_X_ACCOUNTS.items():
        assert f"connect X as @{username}" in logins
        # What the X consent page does when the reader picks that account.
        reader = User.objects.get(email=email)
        connection = connect_x(reader, persona_of[username], score=None)
        scores.append(calculate_and_save_score(connection).total)

    low, middle, high = scores
    assert low <= 20 < middle <= 50 < high


def test_seed_demo_refuses_to_run_with_debug_off(db, settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="only with DEBUG=1"):
        call_command("seed_demo")
    assert not User.objects.exists()
