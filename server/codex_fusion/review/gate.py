"""The review gate's review, server side: the turn's change as ``review_diff`` would show it, one turn
of Codex, and the findings parsed from its answer.

Run by the MCP server for a request on its socket (``review/socket.py``: the Codex session Claude
consults) or by the one-shot ``codex-fusion gate-review`` (a session of its own). Every failure —
not logged in, quota, the agent missing, a timeout, a diff that cannot be collected — becomes a
:class:`~codex_fusion.hookside.gate.Review` with a one-line ``failure``: the gate lets the stop through.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio

from codex_fusion.errors import FusionError
from codex_fusion.hookside import gate
from codex_fusion.member import availability
from codex_fusion.member.conversation import Member
from codex_fusion.member.turn import Pause, TurnOutcome
from codex_fusion.review import findings as review_findings
from codex_fusion.review import prompts as review_prompts
from codex_fusion.review.diffs import DiffRequest, collect_diff
from codex_fusion.text.redact import redact

log = logging.getLogger(__name__)

#: How many permission requests a review turn may make; each is denied (nobody is there to judge it).
MAX_DENIED = 3
DENY_NOTE = "The review gate cannot approve anything: review from the diff and by reading workspace files."


def parse_request(raw: Any) -> tuple[str, str, float]:
    """(before, after, timeout) of a review request, or ValueError saying what is wrong."""
    if not isinstance(raw, dict) or raw.get("version") != 1 or raw.get("type") != "review":
        raise ValueError("not a version 1 review request")
    before, after, timeout = raw.get("before"), raw.get("after"), raw.get("timeout", 120)
    for tree in (before, after):
        if (
            not isinstance(tree, str)
            or len(tree) not in (40, 64)
            or not all(c in "0123456789abcdef" for c in tree)
        ):
            raise ValueError("before and after must be tree ids")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 1 <= timeout <= 600:
        raise ValueError("timeout must be 1 to 600 seconds")
    assert isinstance(before, str)
    assert isinstance(after, str)
    return before, after, float(timeout)


async def review(consultant: Member, before: str, after: str, timeout: float) -> gate.Review:
    """Review the change from snapshot ``before`` to ``after`` within ``timeout`` seconds."""
    config = consultant.config
    workspace = config.workspace.path
    if workspace is None:
        return gate.Review(failure=redact(config.workspace.error or "no workspace"))
    with anyio.move_on_after(timeout) as scope:
        try:
            material = await collect_diff(
                workspace, DiffRequest(trees=(before, after)), max_chars=config.max_answer_chars
            )
            if not material.files:
                return gate.Review([])
            result = await consultant.consult(review_prompts.gate_review(material), timeout=timeout)
            for _ in range(MAX_DENIED):
                if not isinstance(result, Pause):
                    break
                result = await consultant.permit("deny", DENY_NOTE, request=result.request.ref)
            if not isinstance(result, TurnOutcome):
                await consultant.cancel()
                return gate.Review(failure="Codex kept asking for permissions during the review")
            outcome = result
        except FusionError as exc:
            return gate.Review(failure=redact(exc.summary), unavailable=availability.of_error(exc))
    if scope.cancelled_caught:
        return gate.Review(
            failure=f"Codex did not finish the review within {timeout:g} s (raise review_gate_timeout)",
            unavailable=availability.TIMEOUT,
        )
    model = outcome.model.model if outcome.model is not None else None
    if outcome.stop_reason != "end_turn":
        return gate.Review(
            failure=f"Codex's review ended early ({outcome.stop_reason})",
            model=model,
            unavailable=availability.cause(outcome),
        )
    findings = gate.parse_findings(outcome.text)
    if findings is None:
        findings = _tolerant(outcome.text)
    if findings is None:
        return gate.Review(failure="Codex's review had no FINDING lines to act on", model=model)
    log.info("review gate: %d finding(s) from %s", len(findings), model or "Codex")
    return gate.Review(findings, model=model)


def _tolerant(text: str) -> list[gate.Finding] | None:
    """Findings in another shape than the gate asked for (``review.findings``): critical counts as
    blocker; nits never block, so they are left out."""
    parsed = review_findings.parse(text)
    if parsed.status == "unparsed":
        return None
    return [
        gate.Finding("blocker" if f.severity == "critical" else f.severity, f.location, f.claim)
        for f in parsed.findings
        if f.severity != "nit"
    ]
