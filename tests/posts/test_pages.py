def test_home_lists_only_published_posts_newest_first(client, post_factory):
    post_factory(slug="older-story", age_days=3)
    post_factory(slug="newer-story", age_days=1)
    post_factory(slug="draft-story", draft=True)

    body = client.get("/").content.decode()

    assert "Newer Story" in body and "Older Story" in body
    assert body.index("Newer Story") < body.index("Older Story")
    assert "Draft Story" not in body


def test_post_page_shows_a_published_post(client, post_factory):
    post_factory(slug="hello-world")

    response = client.get("/hello-world")

    assert response.status_code == 200
    assert "Body of hello-world" in response.content.decode()


def test_unknown_and_unpublished_posts_are_404(client, post_factory, other_user):
    post_factory(slug="draft-story", draft=True)

    assert client.get("/no-such-post").status_code == 404
    assert client.get("/draft-story").status_code == 404
    client.force_login(other_user)
    assert client.get("/draft-story").status_code == 404


def test_staff_may_preview_an_unpublished_post(client, post_factory, staff):
    post_factory(slug="draft-story", draft=True)
    client.force_login(staff)

    response = client.get("/draft-story")

    assert response.status_code == 200
    assert "not published" in response.content.decode()


def test_home_page_queries_do_not_grow_with_the_number_of_posts(
    client, post_factory, django_assert_max_num_queries
):
    for n in range(15):
        post_factory(slug=f"story-{n}", age_days=n)

    with django_assert_max_num_queries(3):
        client.get("/")


def test_pages_load_no_third_party_assets(client, post_factory):
    post_factory(slug="hello-world")

    for path in ("/", "/hello-world", "/accounts/login/"):
        body = client.get(path).content.decode()
        assert "https://" not in body.replace("https://x.com", "")
        assert "/static/js/htmx.min.js" in body
