from __future__ import annotations

from django.urls import path

from . import custom_fields, discussion, rules, views

app_name = "sandbox_ui"

urlpatterns = [
    path("", views.root, name="root"),
    path("favicon.ico", views.favicon, name="favicon"),
    # Webhook deliveries' detail_link is Rally's older form, /slm/#/detail/<type>/<oid>.
    path("slm/", views.root, name="slm_root"),
    path("sandbox/", views.home, name="home"),
    path("sandbox/releases/<int:oid>/", views.release, name="release"),
    path("sandbox/projects/<int:oid>/", views.project, name="project"),
    path("sandbox/projects/<int:oid>/new", views.create_item, name="create_item"),
    path("sandbox/items/<int:oid>/", views.item, name="item"),
    path("sandbox/items/<int:oid>/children", views.add_child, name="add_child"),
    path("sandbox/items/<int:oid>/delete", views.delete, name="delete"),
    path("sandbox/items/<int:oid>/discussion", discussion.post, name="post"),
    path("sandbox/items/<int:oid>/attachments", discussion.attach, name="attach"),
    path(
        "sandbox/items/<int:oid>/discussion/<int:post_oid>/delete",
        discussion.delete_post,
        name="delete_post",
    ),
    path(
        "sandbox/items/<int:oid>/attachments/<int:attachment_oid>/delete",
        discussion.delete_attachment,
        name="delete_attachment",
    ),
    path(
        "sandbox/items/<int:oid>/attachments/<int:attachment_oid>",
        discussion.download,
        name="attachment",
    ),
    path("sandbox/required-fields", rules.required_fields, name="required_fields"),
    path("sandbox/required-fields/add", rules.add, name="add_required_field"),
    path("sandbox/required-fields/remove", rules.remove, name="remove_required_field"),
    path("sandbox/custom-fields", custom_fields.custom_fields, name="custom_fields"),
    path("sandbox/custom-fields/add", custom_fields.add, name="add_custom_field"),
    path("sandbox/custom-fields/remove", custom_fields.remove, name="remove_custom_field"),
]
