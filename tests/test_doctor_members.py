"""The doctor names every council member, as `status` would: a member that cannot start is a ✗."""

from __future__ import annotations

import pytest

from codex_fusion.cli import doctor

from .conftest import FakeAgentSetup

pytestmark = pytest.mark.anyio


async def test_one_line_per_member_each_with_its_fix(fake: FakeAgentSetup) -> None:
    members = fake.members_json({"gemini": {"flags": "auth=ts"}, "claude": {}, "helper": {}})
    broken = members[:-1] + ', "qwen": {}}'  # no command: it cannot start
    report = await doctor.diagnose(fake.config(CODEX_FUSION_MEMBERS=broken), fake.env())
    by_name = {check.what: check for check in report}
    assert by_name["member qwen"].status == "fail"
    assert "cannot start" in by_name["member qwen"].detail
    assert "`members` option" in by_name["member qwen"].fix
    assert by_name["member gemini"].status == "fail"
    assert "not logged in" in by_name["member gemini"].detail
    assert "GEMINI_API_KEY in the environment Claude Code is started from" in by_name["member gemini"].fix
    assert by_name["member helper"].status == "warn"  # any other agent runs unconfined
    assert "a session opens, NOT confined" in by_name["member helper"].detail
    assert "helper 9.9.9" in by_name["member helper"].detail
    text = doctor.report(report)
    assert "All checks passed." not in text
    assert "problem(s)" in text.splitlines()[-1]


async def test_codex_alone_adds_no_member_lines(fake: FakeAgentSetup) -> None:
    report = await doctor.diagnose(fake.config(), fake.env())
    assert not [check for check in report if check.what.startswith("member ")]
