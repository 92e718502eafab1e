"""What a reader notices before reading anything: the tab's title and icon. The
`page` fixture fails the test on any Content-Security-Policy violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from posts.models import Post

pytestmark = pytest.mark.e2e

# Loads each icon the page links as an image, as the browser's tab does: under the
# page's img-src.
LOAD_ICONS = """
async () => Promise.all(
  [...document.querySelectorAll("link[rel~='icon']")].map(
    (link) => new Promise((resolve) => {
      const image = new Image();
      image.onload = () => resolve(image.naturalWidth);
      image.onerror = () => resolve(0);
      image.src = link.href;
    })
  )
)
"""


def test_the_tab_shows_the_page_name_and_the_sites_icon(page: Page, post_factory):
    post: Post = post_factory(slug="layer-2-fees", title="Why layer 2 fees dropped")

    page.goto("/")
    expect(page).to_have_title("Latest posts · Blockster")
    home_icons = page.evaluate(LOAD_ICONS)
    page.get_by_role("link", name=post.title).click()

    expect(page).to_have_title("Why layer 2 fees dropped · Blockster")
    assert len(home_icons) == 2
    assert all(width > 0 for width in home_icons), home_icons
