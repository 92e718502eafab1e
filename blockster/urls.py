from django.contrib import admin
from django.urls import include, path

from . import views

# An outage raised outside a view (a middleware) answers 503 too.
handler500 = "blockster.unavailable.server_error"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("auth/x/", include("social.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("", include("accounts.urls")),
    # Last: the post page takes any top-level slug.
    path("", include("posts.urls")),
]
