"""Settings → Workspace → Integrations: the list, settings, More options, log and the report."""

from __future__ import annotations

from django.urls import path

from aharally.integrations import views_manage as views

_I = "w/<str:prefix>/settings/integrations/"
_ONE = _I + "<int:integration_id>/"

urlpatterns = [
    path(_I, views.index, name="index"),
    path(_I + "manage/", views.manage, name="manage"),
    path(_ONE, views.settings_page, name="settings"),
    path(_ONE + "log/", views.log, name="log"),
    path(_ONE + "certificate/", views.certificate, name="certificate"),
    path(_ONE + "certificate/remove/", views.remove_certificate, name="remove_certificate"),
    path(_ONE + "template/", views.make_template, name="make_template"),
    path(_ONE + "template/stop/", views.unmake_template, name="unmake_template"),
    path(_ONE + "disable/", views.disable, name="disable"),
    path(_ONE + "enable/", views.enable, name="enable"),
    path(_ONE + "delete/", views.delete, name="delete"),
    path(_ONE + "check/", views.check, name="check"),
]
