from __future__ import annotations

app_name = "workspaces"
urlpatterns: list = []
