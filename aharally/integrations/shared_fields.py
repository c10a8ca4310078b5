"""A template group shares its custom fields' definitions.

The template's workspace owns them; every other workspace whose integration is built on the
template keeps a copy of each (`CustomField.shared_from`, same key, kind, name, help,
Required, order and choices), so that field mappings, which name a custom field by its key,
work for every workspace of the group, as status mappings do by status name. Copies are
made when an integration joins a template and kept in step after each change in the
template's workspace (through `workspaces.custom_fields.register_definitions_listener`);
their workspaces cannot change them (the layout says where to). A workspace's own field of
the same key and kind is adopted (its values stay); one of another kind is left alone.
"""

from __future__ import annotations

from aharally.integrations.models import Integration
from aharally.workspaces.models import CustomField, CustomFieldChoice


def share_custom_fields(template: Integration) -> int:
    """Copy the template workspace's custom fields into the group's other workspaces;
    returns how many fields were created or updated."""
    if not template.is_template:
        return 0
    sources = list(
        CustomField.objects.filter(workspace_id=template.workspace_id).prefetch_related("choices")
    )
    targets = (
        template.derived_integrations.exclude(workspace_id=template.workspace_id)
        .values_list("workspace_id", flat=True)
        .distinct()
    )
    return sum(_copy_into(workspace_id, sources) for workspace_id in set(targets))


def on_definitions_changed(*, workspace_id: int) -> None:
    """After a workspace's custom fields changed: refresh the copies of its templates."""
    for template in Integration.objects.filter(workspace_id=workspace_id, is_template=True):
        share_custom_fields(template)


def _copy_into(workspace_id: int, sources: list[CustomField]) -> int:
    existing = {
        (field.record_type, field.key): field
        for field in CustomField.objects.filter(workspace_id=workspace_id).prefetch_related(
            "choices"
        )
    }
    touched = 0
    for source in sources:
        copy = existing.get((source.record_type, source.key))
        wanted = {
            "name": source.name,
            "help_text": source.help_text,
            "required": source.required,
            "position": source.position,
            "shared_from_id": source.pk,
        }
        if copy is None:
            copy = CustomField.objects.create(
                workspace_id=workspace_id,
                record_type=source.record_type,
                key=source.key,
                kind=source.kind,
                **wanted,
            )
            touched += 1
        elif copy.kind != source.kind:
            continue  # the workspace's own field of another kind: values can't carry over
        elif any(getattr(copy, name) != value for name, value in wanted.items()):
            for name, value in wanted.items():
                setattr(copy, name, value)
            copy.save(update_fields=[n.removesuffix("_id") for n in wanted])
            touched += 1
        _copy_choices(copy, list(source.choices.all()))
    return touched


def _copy_choices(copy: CustomField, sources: list[CustomFieldChoice]) -> None:
    mine = list(CustomFieldChoice.objects.filter(field=copy))
    by_source = {c.shared_from_id: c for c in mine if c.shared_from_id}
    by_name = {c.name.lower(): c for c in mine if not c.shared_from_id}
    for source in sources:
        choice = by_source.get(source.pk) or by_name.pop(source.name.lower(), None)
        if choice is None:
            CustomFieldChoice.objects.create(
                field=copy, name=source.name, position=source.position, shared_from=source
            )
            continue
        if (choice.name, choice.position, choice.shared_from_id) != (
            source.name,
            source.position,
            source.pk,
        ):
            choice.name, choice.position, choice.shared_from_id = (
                source.name,
                source.position,
                source.pk,
            )
            choice.save(update_fields=["name", "position", "shared_from"])


def release_copies(workspace_id: int) -> int:
    """After an integration of the workspace went away: the copies of templates it no longer
    uses become the workspace's own fields (values kept); returns how many."""
    still = set(
        Integration.objects.filter(workspace_id=workspace_id, template__isnull=False)
        .exclude(template__workspace_id=workspace_id)
        .values_list("template__workspace_id", flat=True)
    )
    orphans = CustomField.objects.filter(
        workspace_id=workspace_id, shared_from__isnull=False
    ).exclude(shared_from__workspace_id__in=still)
    CustomFieldChoice.objects.filter(field__in=orphans).update(shared_from=None)
    return orphans.update(shared_from=None)
