from django.urls import path

from . import views

urlpatterns = [
    path("<int:campaign_id>/share", views.share, name="campaign_share"),
    path("<int:campaign_id>/box", views.box, name="campaign_box"),
]
