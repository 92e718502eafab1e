"""Campaigns with several tweets.

Every campaign's tweet becomes its first CampaignTweet, and every reward points at
it, so each reward keeps its history. A reward is then unique per reader and tweet
rather than per reader and campaign. The "one active campaign per tweet" rule moves
to the tweets, on a copy of their campaign's `is_active` that two triggers keep:
one copies it into a tweet on every write of the tweet, the other into a campaign's
tweets when the campaign's `is_active` changes, so an UPDATE of a campaign that
would put a tweet in two active campaigns fails with the rule's name as before.

Going back works while every campaign has one tweet; the first tweet's fields
return to the campaign.
"""

from django.db import migrations, models
import django.db.models.deletion

TWEET_FIELDS = (
    "tweet_id",
    "tweet_url",
    "tweet_text",
    "tweet_author_name",
    "tweet_author_username",
    "tweet_posted_at",
    "tweet_deleted_at",
)

FILL_REWARDS = """
UPDATE campaigns_sharereward AS reward
   SET campaign_tweet_id = tweet.id
  FROM campaigns_campaigntweet AS tweet
 WHERE tweet.campaign_id = reward.campaign_id
   AND reward.campaign_tweet_id IS NULL
"""

TRIGGERS = """
CREATE FUNCTION campaigns_tweet_takes_campaign_active() RETURNS trigger AS $$
BEGIN
    SELECT is_active INTO NEW.campaign_is_active
      FROM campaigns_sharecampaign WHERE id = NEW.campaign_id;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER campaigns_tweet_takes_campaign_active
BEFORE INSERT OR UPDATE ON campaigns_campaigntweet
FOR EACH ROW EXECUTE FUNCTION campaigns_tweet_takes_campaign_active();

CREATE FUNCTION campaigns_campaign_active_to_tweets() RETURNS trigger AS $$
BEGIN
    UPDATE campaigns_campaigntweet SET campaign_is_active = NEW.is_active
     WHERE campaign_id = NEW.id;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER campaigns_campaign_active_to_tweets
AFTER UPDATE OF is_active ON campaigns_sharecampaign
FOR EACH ROW WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active)
EXECUTE FUNCTION campaigns_campaign_active_to_tweets();
"""

DROP_TRIGGERS = """
DROP TRIGGER campaigns_campaign_active_to_tweets ON campaigns_sharecampaign;
DROP FUNCTION campaigns_campaign_active_to_tweets();
DROP TRIGGER campaigns_tweet_takes_campaign_active ON campaigns_campaigntweet;
DROP FUNCTION campaigns_tweet_takes_campaign_active();
"""


def tweets_from_campaigns(apps, schema_editor):
    ShareCampaign = apps.get_model("campaigns", "ShareCampaign")
    CampaignTweet = apps.get_model("campaigns", "CampaignTweet")
    rows = ShareCampaign.objects.order_by("pk").values("pk", "is_active", *TWEET_FIELDS)
    batch = []
    for row in rows.iterator(chunk_size=2000):
        batch.append(
            CampaignTweet(
                campaign_id=row["pk"],
                position=0,
                campaign_is_active=row["is_active"],
                **{name: row[name] for name in TWEET_FIELDS},
            )
        )
        if len(batch) == 2000:
            CampaignTweet.objects.bulk_create(batch)
            batch = []
    CampaignTweet.objects.bulk_create(batch)
    schema_editor.execute(FILL_REWARDS)


def campaigns_from_first_tweets(apps, schema_editor):
    ShareCampaign = apps.get_model("campaigns", "ShareCampaign")
    CampaignTweet = apps.get_model("campaigns", "CampaignTweet")
    for tweet in CampaignTweet.objects.order_by("campaign_id", "position", "pk"):
        ShareCampaign.objects.filter(pk=tweet.campaign_id, tweet_id="").update(
            **{name: getattr(tweet, name) for name in TWEET_FIELDS}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0007_tweet_card"),
    ]

    operations = [
        migrations.CreateModel(
            name="CampaignTweet",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                ("position", models.PositiveSmallIntegerField(default=0)),
                ("tweet_id", models.CharField(max_length=19)),
                ("tweet_url", models.URLField(max_length=300)),
                ("tweet_text", models.TextField(blank=True, editable=False)),
                (
                    "tweet_author_name",
                    models.CharField(blank=True, editable=False, max_length=50),
                ),
                (
                    "tweet_author_username",
                    models.CharField(blank=True, editable=False, max_length=50),
                ),
                (
                    "tweet_posted_at",
                    models.DateTimeField(blank=True, editable=False, null=True),
                ),
                (
                    "tweet_deleted_at",
                    models.DateTimeField(
                        blank=True,
                        editable=False,
                        null=True,
                        verbose_name="tweet deleted on X",
                    ),
                ),
                (
                    "campaign_is_active",
                    models.BooleanField(default=True, editable=False),
                ),
                (
                    "campaign",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="tweets",
                        to="campaigns.sharecampaign",
                    ),
                ),
            ],
            options={"ordering": ["position", "pk"]},
        ),
        migrations.AddConstraint(
            model_name="campaigntweet",
            constraint=models.UniqueConstraint(
                fields=("campaign", "tweet_id"),
                name="campaigns_tweet_once_per_campaign",
                violation_error_message="This tweet is already in the campaign.",
            ),
        ),
        migrations.AddField(
            model_name="sharereward",
            name="campaign_tweet",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="rewards",
                to="campaigns.campaigntweet",
            ),
        ),
        migrations.RunPython(tweets_from_campaigns, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="sharereward",
            name="campaign_tweet",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="rewards",
                to="campaigns.campaigntweet",
            ),
        ),
        migrations.RemoveConstraint(
            model_name="sharereward", name="campaigns_one_reward_per_user"
        ),
        migrations.AddConstraint(
            model_name="sharereward",
            constraint=models.UniqueConstraint(
                fields=("user", "campaign_tweet"),
                name="campaigns_one_reward_per_user_and_tweet",
            ),
        ),
        migrations.RemoveConstraint(
            model_name="sharecampaign", name="campaigns_one_active_campaign_per_tweet"
        ),
        migrations.AddConstraint(
            model_name="campaigntweet",
            constraint=models.UniqueConstraint(
                condition=models.Q(("campaign_is_active", True)),
                fields=("tweet_id",),
                name="campaigns_one_active_campaign_per_tweet",
                violation_error_message="Another active campaign already uses this tweet.",
            ),
        ),
        migrations.RunPython(migrations.RunPython.noop, campaigns_from_first_tweets),
        # A default for the two required columns, so that going back can add them
        # to existing rows before the first tweets are copied into them.
        migrations.AlterField(
            model_name="sharecampaign",
            name="tweet_id",
            field=models.CharField(default="", max_length=19),
        ),
        migrations.AlterField(
            model_name="sharecampaign",
            name="tweet_url",
            field=models.URLField(default="", max_length=300),
        ),
        *(
            migrations.RemoveField(model_name="sharecampaign", name=name)
            for name in TWEET_FIELDS
        ),
        migrations.RunSQL(TRIGGERS, DROP_TRIGGERS),
    ]
