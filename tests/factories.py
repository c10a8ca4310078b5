"""Factories for tests: a workspace with its cast of users."""

from __future__ import annotations

import itertools

from django.contrib.auth import get_user_model

from aharally.records.models import Release
from aharally.records.services import (
    create_feature,
    create_release,
    create_requirement,
    create_workspace,
)
from aharally.sync.models import Link
from aharally.workspaces.models import Membership, Role, Workspace

_seq = itertools.count(1)
PASSWORD = "correct-horse-battery"


def make_user(email: str | None = None, password: str = PASSWORD):
    email = email or f"user{next(_seq)}@example.com"
    return get_user_model().objects.create_user(username=email, email=email, password=password)


def make_workspace(name: str = "Platform", prefix: str | None = None, owner=None) -> Workspace:
    prefix = prefix or f"W{next(_seq)}"
    return create_workspace(name=name, prefix=prefix, owner=owner)


def add_member(workspace: Workspace, user, role: str) -> Membership:
    return Membership.objects.create(workspace=workspace, user=user, role=role)


def parking_lot(workspace: Workspace) -> Release:
    return Release.objects.get(workspace=workspace, is_parking_lot=True)


def make_release(workspace: Workspace, name: str | None = None, **fields) -> Release:
    return create_release(workspace=workspace, name=name or f"Release {next(_seq)}", **fields)


def make_feature(
    workspace: Workspace, release: Release | None = None, name: str | None = None, **f
):
    return create_feature(
        workspace=workspace,
        release=release or parking_lot(workspace),
        name=name or f"Feature {next(_seq)}",
        **f,
    )


def make_requirement(feature, name: str | None = None, **fields):
    return create_requirement(feature=feature, name=name or f"Requirement {next(_seq)}", **fields)


ROLES = [Role.OWNER, Role.CONTRIBUTOR, Role.REVIEWER, Role.VIEWER]


def make_link(
    integration, record, *, rally_oid: int, rally_type: str = "PortfolioItem/Feature", **fields
):
    """A link made directly (as if sent before), for tests that need one but no Rally object."""
    fields.setdefault("formatted_id", f"F{rally_oid}")
    fields.setdefault("url", f"https://rally.example.com/#/detail/x/{rally_oid}")
    return Link.objects.create(
        integration=integration,
        record_type=record.record_type,
        record_id=record.pk,
        rally_type=rally_type,
        rally_oid=rally_oid,
        **fields,
    )
