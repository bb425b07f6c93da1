"""The governance tags reghook writes on a version (docs/registry-tags.md)."""

from __future__ import annotations

from handler.policy import ModelPolicy
from handler.verdict import Verdict

STATUS_TAG = "reghook.status"
GATES_TAG = "reghook.gates"
EVENT_TAG = "reghook.event_id"
RUN_TAG = "reghook.run_id"
VALIDATED_TAG = "reghook.validated_at"
ROLLBACK_FROM_TAG = "reghook.rollback_from"
APPROVAL_NOTE_TAG = "reghook.approval"
GUARD_TAG = "reghook.guard"
DEPRECATED_AT_TAG = "reghook.deprecated_at"
OWN_TAG_PREFIX = "reghook."
# Statuses a version keeps for good: re-validation never clears them, and such a
# version regains no alias and is never promoted (docs/registry-tags.md).
RETIRED_STATUSES = ("rolled_back", "deprecated")


def governance_tags(policy: ModelPolicy, verdict: Verdict, event_id: str, run_id: str,
                    now_iso: str, current: dict[str, str] | None = None) -> dict[str, str]:
    """The fixed governance tags plus the policy's ``on_pass`` / ``on_fail`` tags.

    When the verdict is unchanged, the event id and validation time of the
    first validation are kept, so re-processing writes nothing.
    """
    current = current or {}
    unchanged = (current.get(STATUS_TAG) == verdict.status
                 and current.get(GATES_TAG) == verdict.summary())
    tags = {
        STATUS_TAG: verdict.status,
        GATES_TAG: verdict.summary(),
        EVENT_TAG: current[EVENT_TAG] if unchanged and EVENT_TAG in current else event_id,
        RUN_TAG: run_id,
        VALIDATED_TAG: (current[VALIDATED_TAG] if unchanged and VALIDATED_TAG in current
                        else now_iso),
    }
    tags.update((policy.on_pass if verdict.passed else policy.on_fail).tags)
    if current.get(STATUS_TAG) in RETIRED_STATUSES:
        # A rolled-back or deprecated version stays so: re-validation never clears it.
        tags[STATUS_TAG] = current[STATUS_TAG]
    return tags
