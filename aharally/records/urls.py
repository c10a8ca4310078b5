from __future__ import annotations

from django.urls import path

from aharally.records import views

app_name = "records"
urlpatterns = [
    path("w/<str:prefix>/features/board/", views.board, name="board"),
]
