"""The Rally WSAPI v2.0 client (plain Python over requests; no Django).

Import what you need from here::

    from aharally.rally import ApiKey, RallyClient, where
"""

from __future__ import annotations

from aharally.rally.auth import ApiKey, OAuthToken, TokenSet
from aharally.rally.client import MAX_PAGE_SIZE, QueryResults, RallyClient
from aharally.rally.discussion import MAX_ATTACHMENT_BYTES, AttachmentTooLarge
from aharally.rally.errors import (
    RallyAuthError,
    RallyConcurrencyConflict,
    RallyConfigError,
    RallyError,
    RallyNotFound,
    RallyOutcomeUnknown,
    RallyQueryError,
    RallyThrottled,
    RallyTransientError,
    RallyValidationError,
)
from aharally.rally.metadata import AttributeDefinition, Project, State, TypeDefinition, Workspace
from aharally.rally.objects import BatchEntry, BatchItemResult, QueryPage, RallyObject, RallyRef
from aharally.rally.query import TODAY, Query, all_of, any_of, is_null, where
from aharally.rally.transport import (
    PRODUCTION_URL,
    RALLY_CONCURRENCY_PER_USER,
    ClientCertificate,
    RetryPolicy,
)

__all__ = [
    "MAX_ATTACHMENT_BYTES",
    "MAX_PAGE_SIZE",
    "PRODUCTION_URL",
    "RALLY_CONCURRENCY_PER_USER",
    "TODAY",
    "ApiKey",
    "AttachmentTooLarge",
    "AttributeDefinition",
    "BatchEntry",
    "BatchItemResult",
    "ClientCertificate",
    "OAuthToken",
    "Project",
    "Query",
    "QueryPage",
    "QueryResults",
    "RallyAuthError",
    "RallyClient",
    "RallyConcurrencyConflict",
    "RallyConfigError",
    "RallyError",
    "RallyNotFound",
    "RallyObject",
    "RallyOutcomeUnknown",
    "RallyQueryError",
    "RallyRef",
    "RallyThrottled",
    "RallyTransientError",
    "RallyValidationError",
    "RetryPolicy",
    "State",
    "TokenSet",
    "TypeDefinition",
    "Workspace",
    "all_of",
    "any_of",
    "is_null",
    "where",
]
