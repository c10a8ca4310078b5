from __future__ import annotations

from django.shortcuts import render

from aharally.workspaces.access import require_capability


@require_capability()
def board(request):
    return render(request, "records/board.html", {})
