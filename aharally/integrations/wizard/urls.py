"""The Rally integration wizard: one URL per step, plus the global OAuth callback."""

from __future__ import annotations

from django.urls import path

from aharally.integrations.wizard import (
    views_account,
    views_enable,
    views_field_maps,
    views_mappings,
    views_scope,
    views_statuses,
)

_I = "w/<str:prefix>/settings/integrations/"
_W = _I + "<int:integration_id>/wizard/"
_M = _W + "mappings/<int:mapping_id>/"

urlpatterns = [
    path(_I + "rally/new/", views_account.new, name="wizard_new"),
    path(_W, views_account.resume, name="wizard_resume"),
    path(_W + "name/", views_account.name, name="wizard_name"),
    path(_W + "account/", views_account.account, name="wizard_account"),
    path(_W + "authorize/", views_account.authorize, name="wizard_authorize"),
    path(_W + "authorize/oauth/", views_account.oauth_start, name="wizard_oauth_start"),
    path(_W + "authorize/oauth-client/", views_account.oauth_client, name="wizard_oauth_client"),
    path(_W + "authorize/api-key/", views_account.api_key, name="wizard_api_key"),
    # One callback for every integration (registered at Rally); the state says which.
    path("integrations/rally/oauth/callback", views_account.oauth_callback, name="oauth_callback"),
    path(_W + "workspace/", views_scope.workspace, name="wizard_workspace"),
    path(_W + "project/", views_scope.project, name="wizard_project"),
    path(_W + "mappings/", views_mappings.mappings, name="wizard_mappings"),
    path(_W + "mappings/add/", views_mappings.mapping_add, name="wizard_mapping_add"),
    path(_M + "remove/", views_mappings.mapping_remove, name="wizard_mapping_remove"),
    path(_M + "fields/", views_mappings.mapping_fields, name="wizard_mapping_fields"),
    path(_M + "fields/add/", views_field_maps.field_add, name="wizard_field_add"),
    path(
        _M + "fields/<int:field_mapping_id>/values/",
        views_field_maps.value_set,
        name="wizard_value_map",
    ),
    path(
        _M + "fields/<int:field_mapping_id>/values/news/",
        views_field_maps.value_news,
        name="wizard_value_news",
    ),
    path(_W + "links/", views_mappings.relationship_links, name="wizard_links"),
    path(_W + "statuses/", views_statuses.statuses, name="wizard_statuses"),
    path(_M + "statuses/assign/", views_statuses.assign, name="wizard_status_assign"),
    path(_M + "statuses/sends/", views_statuses.sends, name="wizard_status_sends"),
    path(_W + "enable/", views_enable.enable, name="wizard_enable"),
    path(_W + "test-connection/", views_enable.test_connection, name="wizard_test_connection"),
]
