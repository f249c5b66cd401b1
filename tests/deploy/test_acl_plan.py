"""The README's ACL table is deploy/kafka/acls.toml's, the table acls.py grants and
tests/secure/ proves sufficient and necessary; and no command is given Create or admin rights."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = {
    "conversations": "vcp.conversations",
    "datasets": "vcp.datasets",
    "deliveries": "vcp.deliveries",
    "dlq": "vcp.conversations.dlq",
    "deliver_group": "voicelens-deliver",
    "replay_group": "voicelens-replay",
}
LEAST = {"read", "write", "describe"}


def _plan() -> dict[str, dict[str, object]]:
    return tomllib.loads((ROOT / "deploy" / "kafka" / "acls.toml").read_text())


def _readme_rows() -> list[tuple[str, str, set[str]]]:
    """(principal, resource cell, operations) of each row of the README's ACL table."""
    section = (ROOT / "README.md").read_text().split("## A secured Kafka", 1)[1]
    section = section.split("\n## ", 1)[0]
    rows = []
    principal = ""
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[2] in ("operations", "---"):
            continue
        if cells[0]:
            found = re.match(r"`([^`]+)`", cells[0])
            assert found, line
            principal = found[1]
        rows.append((principal, cells[1], {op.strip().lower() for op in cells[2].split(",")}))
    return rows


def test_the_readme_table_lists_every_grant_of_the_plan() -> None:
    rows = _readme_rows()
    assert rows
    for role in _plan().values():
        acls = role["acls"]
        assert isinstance(acls, list)
        for acl in acls:
            name = acl["name"].format(**DEFAULTS)
            matches = [
                ops
                for principal, resource, ops in rows
                if principal == role["user"] and f"`{name}`" in resource
            ]
            assert matches, f"README has no row for {role['user']} on {name}"
            assert matches[0] == set(acl["operations"]), (role["user"], name)


def test_the_plan_grants_only_read_write_and_describe_on_named_resources() -> None:
    for role in _plan().values():
        acls = role["acls"]
        assert isinstance(acls, list)
        for acl in acls:
            assert set(acl["operations"]) <= LEAST, acl
            assert acl["resource"] in ("topic", "group", "transactional-id"), acl
            if acl.get("pattern") == "prefixed":
                assert acl["resource"] == "transactional-id", acl
