"""Settings → Custom layouts, for owners: required built-in fields and custom fields.

Each record type is one section (layouts.html#layout). The required-fields form is sent by
HTMX and answered with the section; the custom-field forms are plain POSTs that redirect
back to the section, or re-render the page with the section's errors (400).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from aharally.workspaces import configuration, custom_fields
from aharally.workspaces.access import require_capability
from aharally.workspaces.errors import WorkspaceError
from aharally.workspaces.forms import (
    ChoiceForm,
    CustomFieldEditForm,
    CustomFieldForm,
    DeleteChoiceForm,
    LayoutForm,
)
from aharally.workspaces.models import (
    CHOICE_KINDS,
    Capability,
    CustomField,
    CustomFieldChoice,
    RecordType,
    RequiredField,
)
from aharally.workspaces.views_settings import _partial, _record_type, _saved

CONFIGURE = Capability.CONFIGURE
LAYOUTS = "workspaces/settings/layouts.html"


def _custom_rows(request, record_type: str, bound: dict) -> list[dict]:
    fields = (
        CustomField.objects.filter(workspace=request.workspace, record_type=record_type)
        .select_related("shared_from__workspace")
        .prefetch_related("choices")
    )
    rows = []
    for field in fields:
        key = f"cf-{field.pk}"
        rows.append(
            {
                "field": field,
                "is_choice": field.kind in CHOICE_KINDS,
                "form": bound.get(key)
                or CustomFieldEditForm(
                    prefix=key,
                    initial={
                        "name": field.name,
                        "help_text": field.help_text,
                        "required": field.required,
                    },
                ),
                "choices": [
                    (
                        choice,
                        bound.get(f"choice-{choice.pk}")
                        or ChoiceForm(prefix=f"choice-{choice.pk}", initial={"name": choice.name}),
                    )
                    for choice in field.choices.all()
                ],
                "add_choice": bound.get(f"add-choice-{field.pk}")
                or ChoiceForm(prefix=f"add-choice-{field.pk}"),
            }
        )
    return rows


def _layouts(request, record_types: list[str], bound: dict | None = None) -> list[dict]:
    """The layout sections of `record_types`; `bound` maps a form prefix to a submitted form."""
    bound = bound or {}
    required = set(
        RequiredField.objects.filter(
            workspace=request.workspace, record_type__in=record_types
        ).values_list("record_type", "field_name")
    )
    return [
        _layout(
            request,
            record_type,
            bound.get(record_type)
            or LayoutForm(
                prefix=record_type,
                choices=configuration.LAYOUT_FIELDS[record_type],
                initial={"required": [n for t, n in required if t == record_type]},
            ),
            bound,
        )
        for record_type in record_types
    ]


def _layout(request, record_type: str, form: LayoutForm, bound: dict) -> dict:
    return {
        "type": record_type,
        "label": RecordType(record_type).label,
        "form": form,
        "custom_fields": _custom_rows(request, record_type, bound),
        "add_form": bound.get(f"add-{record_type}") or CustomFieldForm(prefix=f"add-{record_type}"),
    }


def _layouts_url(request, record_type: str) -> str:
    url = reverse("workspaces:settings_layouts", kwargs={"prefix": request.workspace.prefix})
    return f"{url}#layout-{record_type}"


def _with_errors(request, record_type: str, bound: dict) -> HttpResponse:
    """The page with the faulty section alone, its errors shown."""
    (section,) = _layouts(request, [record_type], bound)
    return render(request, LAYOUTS, {"sections": [section], "tab": "layouts"}, status=400)


@require_capability(CONFIGURE)
def layouts(request: HttpRequest) -> HttpResponse:
    context = {"sections": _layouts(request, RecordType.values), "tab": "layouts"}
    return render(request, LAYOUTS, context)


@require_POST
@require_capability(CONFIGURE)
def save_layout(request: HttpRequest, record_type: str) -> HttpResponse:
    record_type = _record_type(record_type)
    form = LayoutForm(
        request.POST, prefix=record_type, choices=configuration.LAYOUT_FIELDS[record_type]
    )
    if form.is_valid():
        configuration.set_required_fields(
            workspace=request.workspace,
            record_type=record_type,
            field_names=form.cleaned_data["required"],
        )
        messages.success(request, f"Saved the {RecordType(record_type).label.lower()} layout.")
        return _saved(
            request,
            lambda: _partial(
                request, f"{LAYOUTS}#layout", {"section": _layouts(request, [record_type])[0]}
            ),
            _layouts_url(request, record_type),
        )
    if request.htmx:
        (section,) = _layouts(request, [record_type], {record_type: form})
        return _partial(request, f"{LAYOUTS}#layout", {"section": section}, status=400)
    return _with_errors(request, record_type, {record_type: form})


@require_POST
@require_capability(CONFIGURE)
def add_custom_field(request: HttpRequest, record_type: str) -> HttpResponse:
    record_type = _record_type(record_type)
    key = f"add-{record_type}"
    form = CustomFieldForm(request.POST, prefix=key)
    if form.is_valid():
        try:
            field = custom_fields.add_custom_field(
                workspace=request.workspace, record_type=record_type, **form.cleaned_data
            )
        except WorkspaceError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Added the field {field.name}.")
            return redirect(_layouts_url(request, record_type))
    return _with_errors(request, record_type, {key: form})


def _get_field(request, field_id: int) -> CustomField:
    return get_object_or_404(CustomField, pk=field_id, workspace=request.workspace)


def _get_choice(request, choice_id: int) -> CustomFieldChoice:
    return get_object_or_404(
        CustomFieldChoice.objects.select_related("field"),
        pk=choice_id,
        field__workspace=request.workspace,
    )


@require_POST
@require_capability(CONFIGURE)
def edit_custom_field(request: HttpRequest, field_id: int) -> HttpResponse:
    field = _get_field(request, field_id)
    key = f"cf-{field.pk}"
    form = CustomFieldEditForm(request.POST, prefix=key)
    if form.is_valid():
        try:
            custom_fields.update_custom_field(field=field, **form.cleaned_data)
        except WorkspaceError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Saved the field {field.name}.")
            return redirect(_layouts_url(request, field.record_type))
    return _with_errors(request, field.record_type, {key: form})


def _offset(request) -> int | None:
    return {"up": -1, "down": 1}.get(request.POST.get("direction", ""))


@require_POST
@require_capability(CONFIGURE)
def move_custom_field(request: HttpRequest, field_id: int) -> HttpResponse:
    field = _get_field(request, field_id)
    offset = _offset(request)
    if offset is None:
        messages.error(request, "Move a field up or down.")
    else:
        custom_fields.move_custom_field(field=field, offset=offset)
    return redirect(_layouts_url(request, field.record_type))


@require_http_methods(["GET", "POST"])
@require_capability(CONFIGURE)
def delete_custom_field(request: HttpRequest, field_id: int) -> HttpResponse:
    """A confirmation page that says how many records lose their value."""
    field = _get_field(request, field_id)
    if request.method == "POST":
        used = custom_fields.delete_custom_field(field=field)
        note = f"; {used} record(s) lost their value (their history keeps it)" if used else ""
        messages.success(request, f"Deleted the field {field.name}{note}.")
        return redirect(_layouts_url(request, field.record_type))
    return render(
        request,
        "workspaces/settings/delete_custom_field.html",
        {"field": field, "usage": custom_fields.field_usage(field), "tab": "layouts"},
    )


@require_POST
@require_capability(CONFIGURE)
def add_choice(request: HttpRequest, field_id: int) -> HttpResponse:
    field = _get_field(request, field_id)
    key = f"add-choice-{field.pk}"
    form = ChoiceForm(request.POST, prefix=key)
    if form.is_valid():
        try:
            choice = custom_fields.add_choice(field=field, name=form.cleaned_data["name"])
        except WorkspaceError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Added the choice {choice.name} to {field.name}.")
            return redirect(_layouts_url(request, field.record_type))
    return _with_errors(request, field.record_type, {key: form})


@require_POST
@require_capability(CONFIGURE)
def rename_choice(request: HttpRequest, choice_id: int) -> HttpResponse:
    choice = _get_choice(request, choice_id)
    key = f"choice-{choice.pk}"
    form = ChoiceForm(request.POST, prefix=key)
    if form.is_valid():
        old = choice.name
        try:
            custom_fields.rename_choice(choice=choice, name=form.cleaned_data["name"])
        except WorkspaceError as error:
            form.add_error(None, str(error))
        else:
            messages.success(
                request, f"Renamed {old} to {choice.name}; records that had it keep it."
            )
            return redirect(_layouts_url(request, choice.field.record_type))
    return _with_errors(request, choice.field.record_type, {key: form})


@require_POST
@require_capability(CONFIGURE)
def move_choice(request: HttpRequest, choice_id: int) -> HttpResponse:
    choice = _get_choice(request, choice_id)
    offset = _offset(request)
    if offset is None:
        messages.error(request, "Move a choice up or down.")
    else:
        custom_fields.move_choice(choice=choice, offset=offset)
    return redirect(_layouts_url(request, choice.field.record_type))


@require_http_methods(["GET", "POST"])
@require_capability(CONFIGURE)
def delete_choice(request: HttpRequest, choice_id: int) -> HttpResponse:
    """A confirmation page; when records have the choice, it asks what becomes of them."""
    choice = _get_choice(request, choice_id)
    usage = custom_fields.choice_usage(choice)
    form = DeleteChoiceForm(request.POST if request.method == "POST" else None, choice=choice)
    if request.method == "POST" and (usage == 0 or form.is_valid()):
        clear = usage == 0 or form.cleaned_data["action"] == "clear"
        try:
            changed = custom_fields.delete_choice(
                choice=choice,
                replacement=None if clear else form.cleaned_data["replacement"],
                clear=clear,
                user=request.user,
            )
        except WorkspaceError as error:
            form.add_error(None, str(error))
        else:
            note = f" and changed {changed} record(s)" if changed else ""
            messages.success(request, f"Deleted the choice {choice.name}{note}.")
            return redirect(_layouts_url(request, choice.field.record_type))
    return render(
        request,
        "workspaces/settings/delete_choice.html",
        {"choice": choice, "usage": usage, "form": form, "tab": "layouts"},
        status=400 if form.errors else 200,
    )
