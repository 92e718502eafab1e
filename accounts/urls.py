from django.urls import path

from . import views

urlpatterns = [
    path("settings/", views.account_settings, name="account_settings"),
    path("members/<int:user_id>", views.member_detail, name="member_detail"),
]
