"""The sync's tables, one module per part of the story.

- `links`: `Link` (one record ↔ one Rally object) and `Conflict` (a field changed on both sides);
- `outbox`: `OutboxItem` (every outgoing change), `SendJob` (a bulk send), `DrainLease`;
- `history`: `Activity`, a record's integration history;
- `incoming`: the catch-up's `PullCursor`, webhooks and their deliveries, `ImportCandidate`;
- `people`: `RallyPerson` (a Rally user, who they are here), `PeopleDirectory`,
  `UnmatchedNotice`, `PreparedPair`;
- `discussion`: `DiscussionPair`, a comment or attachment ↔ its Rally post or file;
- `reconcile`: `RallySearch` and `Comparison` with its `Difference` lines.

Everything is importable from here, as Django and the rest of the sync expect.
"""

from aharally.sync.models.discussion import DiscussionPair, ItemKind, ItemOrigin
from aharally.sync.models.history import Activity, ActivityAction
from aharally.sync.models.incoming import (
    ImportCandidate,
    ImportState,
    IncomingEvent,
    PullCursor,
    WebhookRegistration,
    WebhookState,
)
from aharally.sync.models.links import Conflict, ConflictState, Link, LinkState
from aharally.sync.models.outbox import (
    DISCUSSION_CREATES,
    DISCUSSION_KINDS,
    OPEN_STATES,
    DrainLease,
    ErrorKind,
    OutboxItem,
    OutboxKind,
    OutboxState,
    SendJob,
)
from aharally.sync.models.people import (
    PeopleDirectory,
    PersonDecision,
    PreparedPair,
    RallyPerson,
    UnmatchedNotice,
)
from aharally.sync.models.reconcile import (
    Comparison,
    Difference,
    DifferenceKind,
    JobState,
    RallySearch,
)

__all__ = [
    "DISCUSSION_CREATES",
    "DISCUSSION_KINDS",
    "OPEN_STATES",
    "Activity",
    "ActivityAction",
    "Comparison",
    "Conflict",
    "ConflictState",
    "Difference",
    "DifferenceKind",
    "DiscussionPair",
    "DrainLease",
    "ErrorKind",
    "ImportCandidate",
    "ImportState",
    "IncomingEvent",
    "ItemKind",
    "ItemOrigin",
    "JobState",
    "Link",
    "LinkState",
    "OutboxItem",
    "OutboxKind",
    "OutboxState",
    "PeopleDirectory",
    "PersonDecision",
    "PreparedPair",
    "PullCursor",
    "RallyPerson",
    "RallySearch",
    "SendJob",
    "UnmatchedNotice",
    "WebhookRegistration",
    "WebhookState",
]
