from __future__ import annotations

from django.urls import path

from aharally.workspaces import views, views_layouts, views_settings

app_name = "workspaces"

_S = "w/<str:prefix>/settings/"

# workspaces/new/ (name "create") is added to this namespace in aharally/urls.py: creating a
# workspace also creates its parking lot, a record, so its view lives above records.
urlpatterns = [
    path("invitations/<str:token>/", views.invitation, name="invitation"),
    path(_S, views_settings.general, name="settings_general"),
    path(_S + "members/", views_settings.members_page, name="settings_members"),
    path(
        _S + "members/<int:membership_id>/role/",
        views_settings.change_role,
        name="change_role",
    ),
    path(
        _S + "members/<int:membership_id>/remove/",
        views_settings.remove_member,
        name="remove_member",
    ),
    path(_S + "invitations/", views_settings.invite, name="invite"),
    path(
        _S + "invitations/<int:invitation_id>/cancel/",
        views_settings.cancel_invitation,
        name="cancel_invitation",
    ),
    path(_S + "workflows/", views_settings.workflows, name="settings_workflows"),
    path(_S + "workflows/<str:record_type>/add/", views_settings.add_status, name="add_status"),
    path(_S + "statuses/<int:status_id>/", views_settings.edit_status, name="edit_status"),
    path(_S + "statuses/<int:status_id>/move/", views_settings.move_status, name="move_status"),
    path(
        _S + "statuses/<int:status_id>/delete/",
        views_settings.delete_status,
        name="delete_status",
    ),
    path(_S + "layouts/", views_layouts.layouts, name="settings_layouts"),
    path(_S + "audit/", views_settings.audit_log, name="audit_log"),
    path(_S + "layouts/<str:record_type>/", views_layouts.save_layout, name="save_layout"),
    path(
        _S + "layouts/<str:record_type>/fields/",
        views_layouts.add_custom_field,
        name="add_custom_field",
    ),
    path(_S + "fields/<int:field_id>/", views_layouts.edit_custom_field, name="edit_custom_field"),
    path(
        _S + "fields/<int:field_id>/move/",
        views_layouts.move_custom_field,
        name="move_custom_field",
    ),
    path(
        _S + "fields/<int:field_id>/delete/",
        views_layouts.delete_custom_field,
        name="delete_custom_field",
    ),
    path(_S + "fields/<int:field_id>/choices/", views_layouts.add_choice, name="add_choice"),
    path(_S + "choices/<int:choice_id>/", views_layouts.rename_choice, name="rename_choice"),
    path(_S + "choices/<int:choice_id>/move/", views_layouts.move_choice, name="move_choice"),
    path(
        _S + "choices/<int:choice_id>/delete/",
        views_layouts.delete_choice,
        name="delete_choice",
    ),
]
