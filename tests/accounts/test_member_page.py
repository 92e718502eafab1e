CHECKSUMMED = "0x52908400098527886E0F7030069857D2E4169EE7"


def test_member_page_shows_the_public_name_but_never_the_email(client, owner):
    response = client.get(f"/members/{owner.pk}")

    assert response.status_code == 200
    body = response.content.decode()
    assert "Olive Owner" in body
    assert "owner@example.com" not in body


def test_only_the_owner_sees_their_wallet_address(client, owner, other_user):
    owner.wallet_address = CHECKSUMMED
    owner.save()

    client.force_login(other_user)
    assert CHECKSUMMED not in client.get(f"/members/{owner.pk}").content.decode()

    client.force_login(owner)
    assert CHECKSUMMED in client.get(f"/members/{owner.pk}").content.decode()


def test_unknown_member_is_404(client, db):
    assert client.get("/members/999999").status_code == 404
