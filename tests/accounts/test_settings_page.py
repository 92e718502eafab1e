import pytest

LOWER = "0x52908400098527886e0f7030069857d2e4169ee7"
CHECKSUMMED = "0x52908400098527886E0F7030069857D2E4169EE7"


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def test_settings_needs_a_login(client, db):
    response = client.get("/settings/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_wallet_address_is_stored_checksummed(owner_client, owner):
    response = owner_client.post(
        "/settings/", {"display_name": "Olive", "wallet_address": f"  {LOWER} "}
    )

    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.wallet_address == CHECKSUMMED
    assert owner.display_name == "Olive"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0x1234", "0x followed by 40 hexadecimal characters"),
        ("52908400098527886e0f7030069857d2e4169ee7", "0x followed by 40"),
        ("0x52908400098527886e0f7030069857d2e4169eeZ", "0x followed by 40"),
        # One capital letter flipped: the checksum no longer matches.
        ("0x52908400098527886E0F7030069857D2E4169Ee7", "does not match its checksum"),
    ],
)
def test_a_bad_wallet_address_gets_a_clear_form_error(
    owner_client, owner, value, message
):
    response = owner_client.post("/settings/", {"wallet_address": value})

    assert response.status_code == 200
    assert message in response.content.decode()
    owner.refresh_from_db()
    assert owner.wallet_address == ""


def test_the_wallet_address_can_be_cleared(owner_client, owner):
    owner.wallet_address = CHECKSUMMED
    owner.save()

    owner_client.post("/settings/", {"display_name": "", "wallet_address": ""})

    owner.refresh_from_db()
    assert owner.wallet_address == ""


def test_the_locked_x_account_cannot_be_set_through_the_form(owner_client, owner):
    owner_client.post(
        "/settings/", {"wallet_address": LOWER, "locked_x_user_id": "12345"}
    )

    owner.refresh_from_db()
    assert owner.locked_x_user_id is None


def test_settings_form_needs_csrf(owner, db):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    response = client.post("/settings/", {"wallet_address": LOWER})

    assert response.status_code == 403


def test_adding_a_wallet_from_a_post_returns_there_and_says_what_is_minting(
    owner_client, owner, monkeypatch
):
    queued = []

    def queue_two(user_id: int) -> int:
        queued.append(user_id)
        return 2

    monkeypatch.setattr("accounts.views.queue_rewards_waiting_for_wallet", queue_two)

    page = owner_client.get("/settings/?next=/?page=1")
    response = owner_client.post(
        "/settings/", {"wallet_address": LOWER, "next": "/?page=1"}, follow=True
    )

    assert 'name="next" value="/?page=1"' in page.content.decode()
    assert response.redirect_chain[0][0] == "/?page=1"
    assert queued == [owner.pk]
    texts = [str(m) for m in response.context["messages"]]
    assert f"2 waiting rewards are now being minted to {CHECKSUMMED}." in texts


def test_settings_never_redirect_off_site(owner_client):
    response = owner_client.post(
        "/settings/", {"wallet_address": "", "next": "https://evil.example/"}
    )

    assert response["Location"] == "/"
