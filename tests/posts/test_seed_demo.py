import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from campaigns.models import ShareCampaign
from posts.models import Post


def test_seed_demo_twice_creates_nothing_twice(db, settings, capsys):
    settings.DEBUG = True

    call_command("seed_demo")
    first = capsys.readouterr().out
    call_command("seed_demo")
    second = capsys.readouterr().out

    assert User.objects.count() == 2
    assert User.objects.filter(is_staff=True).count() == 1
    assert Post.objects.filter(is_published=True).count() == 3
    assert "users_created=2 posts_created=3 campaigns_created=2" in first
    assert "users_created=0 posts_created=0 campaigns_created=0" in second
    assert ShareCampaign.objects.count() == 2
    assert "admin@blockster.local / blockster-admin" in first


def test_seed_demo_logins_work(client, db, settings):
    settings.DEBUG = True
    call_command("seed_demo")

    response = client.post(
        "/accounts/login/",
        {"login": "reader@blockster.local", "password": "blockster-reader"},
    )

    assert response.status_code == 302


def test_seed_demo_refuses_to_run_with_debug_off(db, settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="only with DEBUG=1"):
        call_command("seed_demo")
    assert not User.objects.exists()
