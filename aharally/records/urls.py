"""The records app's URLs: the board and drawers (urls_board) and the record pages (urls_pages)."""

from __future__ import annotations

from aharally.records.urls_board import urlpatterns as board_urlpatterns
from aharally.records.urls_pages import urlpatterns as pages_urlpatterns

app_name = "records"
urlpatterns = [*board_urlpatterns, *pages_urlpatterns]
