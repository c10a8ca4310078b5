"""Record pages: initiatives, epics and releases; feature and requirement create/edit."""

from __future__ import annotations

from django.urls import path

from aharally.records.views import features, pages

_W = "w/<str:prefix>/"

urlpatterns = [
    path(_W + "initiatives/", pages.initiatives, name="initiatives"),
    path(_W + "initiatives/new/", pages.initiative_create, name="initiative_create"),
    path(_W + "initiatives/<str:reference>/", pages.initiative, name="initiative"),
    path(_W + "initiatives/<str:reference>/edit/", pages.initiative_edit, name="initiative_edit"),
    path(_W + "epics/", pages.epics, name="epics"),
    path(_W + "epics/new/", pages.epic_create, name="epic_create"),
    path(_W + "epics/<str:reference>/", pages.epic, name="epic"),
    path(_W + "epics/<str:reference>/edit/", pages.epic_edit, name="epic_edit"),
    path(_W + "releases/", pages.releases, name="releases"),
    path(_W + "releases/new/", pages.release_create, name="release_create"),
    path(_W + "releases/<str:reference>/", pages.release, name="release"),
    path(_W + "releases/<str:reference>/edit/", pages.release_edit, name="release_edit"),
    path(_W + "features/new/", features.feature_create, name="feature_create"),
    path(_W + "features/<str:reference>/edit/", features.feature_edit, name="feature_edit"),
    path(
        _W + "features/<str:reference>/requirements/new/",
        features.requirement_create,
        name="requirement_create",
    ),
    path(
        _W + "requirements/<str:reference>/edit/",
        features.requirement_edit,
        name="requirement_edit",
    ),
]
