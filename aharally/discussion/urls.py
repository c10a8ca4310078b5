"""Comments and attachments of a record: /w/PLAT/discussion/feature/PLAT-12/…"""

from __future__ import annotations

from django.urls import path

from aharally.discussion import views

app_name = "discussion"
_R = "w/<str:prefix>/discussion/<str:record_type>/<str:reference>/"

urlpatterns = [
    path(_R, views.panel, name="panel"),
    path(_R + "comments/", views.comment_create, name="comment_create"),
    path(_R + "comments/<int:comment_id>/", views.comment_edit, name="comment_edit"),
    path(_R + "comments/<int:comment_id>/delete/", views.comment_delete, name="comment_delete"),
    path(_R + "attachments/", views.attachment_upload, name="attachment_upload"),
    path(_R + "attachments/<int:attachment_id>/", views.attachment_download, name="attachment"),
    path(
        _R + "attachments/<int:attachment_id>/delete/",
        views.attachment_delete,
        name="attachment_delete",
    ),
]
