from __future__ import annotations

from django.urls import path

from . import views

app_name = "sandbox_ui"

urlpatterns = [
    path("sandbox/", views.home, name="home"),
    path("sandbox/projects/<int:oid>/", views.project, name="project"),
    path("sandbox/projects/<int:oid>/new", views.create_item, name="create_item"),
    path("sandbox/items/<int:oid>/", views.item, name="item"),
    path("sandbox/items/<int:oid>/children", views.add_child, name="add_child"),
    path("sandbox/items/<int:oid>/delete", views.delete, name="delete"),
]
