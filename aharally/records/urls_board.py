"""The features board, its drawers and the actions taken from it."""

from __future__ import annotations

from django.urls import path, register_converter

from aharally.records.views import board, bulk, drawer


class FeatureReferenceConverter:
    """PLAT-12: keeps /features/<reference>/ from swallowing /features/new/ and friends."""

    regex = r"[A-Za-z][A-Za-z0-9]{1,9}-[0-9]{1,9}"

    def to_python(self, value: str) -> str:
        return value.upper()

    def to_url(self, value: str) -> str:
        return value


register_converter(FeatureReferenceConverter, "feature_ref")

urlpatterns = [
    path("w/<str:prefix>/", board.workspace_home, name="workspace"),
    path("w/<str:prefix>/features/board/", board.board, name="board"),
    path("w/<str:prefix>/features/board/move/", board.move_card, name="move_card"),
    path("w/<str:prefix>/features/board/bulk/", bulk.bulk_action, name="bulk_action"),
    path("w/<str:prefix>/features/<feature_ref:reference>/", drawer.feature, name="feature"),
    path(
        "w/<str:prefix>/features/<feature_ref:reference>/requirements/",
        drawer.add_requirement,
        name="add_requirement",
    ),
    path(
        "w/<str:prefix>/features/<feature_ref:reference>/requirements/<int:number>/",
        drawer.requirement,
        name="requirement",
    ),
]
