import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0003_one_active_campaign_per_tweet"),
    ]

    operations = [
        # Claims pending when this runs get a fresh lease: freed STALE_CLAIM_AGE later
        # if their request is gone.
        migrations.AddField(
            model_name="sharereward",
            name="claim_renewed_at",
            field=models.DateTimeField(
                db_default=django.db.models.functions.datetime.Now(), editable=False
            ),
        ),
    ]
