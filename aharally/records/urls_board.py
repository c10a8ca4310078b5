from __future__ import annotations

from django.urls import path

from aharally.records.views import board

urlpatterns = [
    path("w/<str:prefix>/features/board/", board.board, name="board"),
]
