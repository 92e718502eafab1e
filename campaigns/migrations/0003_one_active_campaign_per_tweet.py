"""A tweet is in one active campaign at a time.

Campaigns that share a tweet with an older active campaign are deactivated first (the
oldest keeps paying), and each one is named in the output, so that the unique index
can be built. Their rewards are kept, and those still minting are minted.
"""

from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import Now


def deactivate_newer_duplicates(apps, schema_editor):
    ShareCampaign = apps.get_model("campaigns", "ShareCampaign")
    active = ShareCampaign.objects.filter(is_active=True)
    shared_tweets = (
        active.values("tweet_id")
        .annotate(campaigns=Count("pk"))
        .filter(campaigns__gt=1)
        .values_list("tweet_id", flat=True)
    )
    for tweet_id in list(shared_tweets):
        kept, *newer = active.filter(tweet_id=tweet_id).order_by("created_at", "pk")
        for campaign in newer:
            ShareCampaign.objects.filter(pk=campaign.pk).update(
                is_active=False, updated_at=Now()
            )
            print(
                f"\n  Deactivated campaign {campaign.pk} (post {campaign.post_id}): "
                f"tweet {tweet_id} is also in the older active campaign {kept.pk}, "
                "which keeps it.",
                end="",
            )


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0002_reward_waiting_for_wallet"),
        ("posts", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(deactivate_newer_duplicates, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="sharecampaign",
            name="is_active",
            field=models.BooleanField(
                default=True,
                help_text="Only active campaigns accept shares. A tweet can be in one "
                "active campaign at a time, and a reader earns for a tweet once, "
                "whichever campaign it was shared from.",
            ),
        ),
        migrations.AddConstraint(
            model_name="sharecampaign",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_active", True)),
                fields=("tweet_id",),
                name="campaigns_one_active_campaign_per_tweet",
                violation_error_message="Another active campaign already uses this "
                "tweet.",
            ),
        ),
    ]
