from django.urls import path

from . import views

urlpatterns = [
    path("authorize", views.authorize, name="x_authorize"),
    path("callback", views.callback, name="x_callback"),
    path("disconnect", views.disconnect, name="x_disconnect"),
]
