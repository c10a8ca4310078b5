"""The sync on the features board: each card's Rally link, and the Send to Rally bulk action.

A card's links are part of the card, so they are built in Python as the cards are
(`records/views/cards.py`: a board holds thousands); everything else is a template.
"""

from __future__ import annotations

from html import escape

from django import forms
from django.db.models import F
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from aharally.integrations.models import Integration
from aharally.records.bulk import BulkAction, BulkActionError, BulkActionForm, features_phrase
from aharally.sync.models import Link, LinkState
from aharally.sync.outgoing.outbox import SyncError, check_can_send
from aharally.sync.outgoing.preview import preview_sends
from aharally.sync.web.jobs import job_progress, start_job
from aharally.sync.web.menus import bar_html, sendable_integrations
from aharally.workspaces.models import Capability, RecordType


def link_html(link: Link) -> str:
    """A record's FormattedID as a link to its Rally detail page; its title names the
    integration when the query gave it (`through`): two Rallys may each have an F4."""
    through = getattr(link, "through", "")
    title = (
        "Broken link: " + link.state_reason
        if link.state == LinkState.BROKEN
        else f"Open {link.label} in Rally" + (f" ({through})" if through else "")
    )
    broken = " broken" if link.state == LinkState.BROKEN else ""
    html = (
        f'<a class="rally-link{broken}" href="{escape(link.url)}" target="_blank" '
        f'rel="noopener" title="{escape(title)}">{escape(link.label)}</a>'
    )
    return html + progress_html(link)


def progress_html(link: Link) -> str:
    """Rally's percent done by story count, as a bar (see menus.bar_html)."""
    percent = link.percent_done
    if percent is None or not link.progress.get("stories"):
        return ""
    return bar_html(percent, link.progress.get("accepted", 0), link.progress.get("stories", 0))


def card_links(*, workspace, feature_ids) -> dict[int, str]:
    """Every linked card's Rally link, in one query for the whole board."""
    found: dict[int, str] = {}
    links = (
        Link.objects.filter(integration__workspace=workspace, record_type=RecordType.FEATURE)
        .annotate(through=F("integration__name"))
        .order_by("integration_id")
    )
    wanted = set(feature_ids)
    for link in links:
        if link.record_id in wanted:
            found[link.record_id] = found.get(link.record_id, "") + link_html(link)
    return found


def requirement_links(*, workspace, requirement_ids) -> dict[int, str]:
    """The Rally links of a feature's requirement rows (their stories), in one query."""
    found: dict[int, str] = {}
    links = (
        Link.objects.filter(
            integration__workspace=workspace,
            record_type=RecordType.REQUIREMENT,
            record_id__in=requirement_ids,
        )
        .annotate(through=F("integration__name"))
        .order_by("integration_id")
    )
    for link in links:
        found[link.record_id] = found.get(link.record_id, "") + link_html(link)
    return found


def card_links_by_record(links: list[Link]) -> list[tuple[int, SafeString]]:
    """Each card's Rally links, for `sync/partials/card_links_oob.html`."""
    by_record: dict[int, str] = {}
    for link in links:
        by_record[link.record_id] = by_record.get(link.record_id, "") + link_html(link)
    return [(pk, mark_safe(html)) for pk, html in by_record.items()]  # noqa: S308 (escaped)


class SendToRallyForm(BulkActionForm):
    integration = forms.ModelChoiceField(
        queryset=Integration.objects.none(),
        empty_label=None,
        error_messages={"invalid_choice": "Choose an enabled integration of this workspace."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        ids = [i.pk for i in sendable_integrations(self.workspace, RecordType.FEATURE)]
        self.fields["integration"].queryset = Integration.objects.filter(pk__in=ids)
        self.fields["integration"].label_from_instance = lambda integration: integration.name
        if not ids:
            self.fields["integration"].help_text = "No enabled Rally integration maps features."


def send_to_rally(
    *, features, workspace, user, integration: Integration, previewed: bool = False
) -> str:
    """Start the bulk send; confirmed from its preview, what the preview refused stays out."""
    try:
        check_can_send(integration)
        job = start_job(
            records=features,
            integration=integration,
            user=user,
            label=f"Send {features_phrase(len(features))} to {integration.name}",
            skip_refused=previewed,
        )
    except SyncError as error:
        raise BulkActionError(error.message) from None
    return render_to_string(
        "sync/partials/job_progress.html",
        {"progress": job_progress(job), "prefix": workspace.prefix},
    )


def preview_send_to_rally(*, features, workspace, user, integration: Integration) -> str:
    """What the bulk send will do, by the send's own planning (sync/outgoing/preview.py)."""
    preview = preview_sends(records=features, integration=integration)
    return render_to_string(
        "sync/partials/send_preview.html", {"preview": preview, "prefix": workspace.prefix}
    )


SEND_TO_RALLY = BulkAction(
    name="send_to_rally",
    label="Send to Rally",
    form_class=SendToRallyForm,
    handler=send_to_rally,
    capability=Capability.EDIT_RECORDS,
    preview=preview_send_to_rally,
)
