from __future__ import annotations

from django.urls import path

from aharally.alerts import views

app_name = "alerts"
urlpatterns = [
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/mark/", views.mark, name="mark"),
    path("notifications/<int:notification_id>/open/", views.open_notification, name="open"),
    path("notifications/preferences/", views.preferences, name="preferences"),
]
