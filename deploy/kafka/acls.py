"""Grant (or revoke) each VoiceLens command's least-privilege ACLs on a secured Kafka.

The ACLs are data, ``deploy/kafka/acls.toml``: per command, its user and what it needs on which
topic, group or transactional id. ``grant`` first creates the topics as the admin (no command
is given Create), then the ACLs; ``revoke`` deletes the same ACLs. It talks to the broker as
the admin of ``deploy/kafka/secure.sh`` (its password file and CA under ``--state-dir``)::

    deploy/kafka/secure.sh acls grant                       # the project's default names
    deploy/kafka/secure.sh acls grant --role deliver --user deliver=alice \\
        --conversations-topic calls --deliver-group calls-to-crm --without deliver:write:dlq

``--without ROLE:OPERATION:PLACEHOLDER`` leaves one grant out, ``--only`` keeps just the ones
named (the tests show each grant is needed). Nothing secret is printed.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from voicelens import topics
from voicelens.kafka import TopicAdmin, TopicSpec
from voicelens.kafka.configuration import admin_config
from voicelens.kafka.exceptions import TRANSACTIONAL_ID
from voicelens.settings import KafkaSettings

__all__ = ["PLAN", "Grant", "admin_settings", "bindings", "ensure_topics", "load_plan", "main"]

#: The ACL table, one section per command.
PLAN = Path(__file__).with_name("acls.toml")
_RESOURCES = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "transactional-id": TRANSACTIONAL_ID,
}
_PATTERNS = {"literal": ResourcePatternType.LITERAL, "prefixed": ResourcePatternType.PREFIXED}
_TIMEOUT = 30.0


@dataclass(frozen=True)
class Grant:
    """One ACL of one command: ``operation`` on a resource, for that command's user."""

    role: str
    operation: AclOperation
    resource: ResourceType
    name: str
    pattern: ResourcePatternType
    #: The name as the plan writes it (``{dlq}``), which ``--without`` matches.
    template: str

    def binding(self, user: str) -> AclBinding:
        """The ACL as the admin API takes it: allowed for ``User:<user>`` from any host."""
        return AclBinding(
            self.resource,
            self.name,
            self.pattern,
            f"User:{user}",
            "*",
            self.operation,
            AclPermissionType.ALLOW,
        )


def load_plan(path: Path = PLAN) -> dict[str, dict[str, Any]]:
    """The ACL table, by command."""
    with path.open("rb") as f:
        return tomllib.load(f)


def bindings(
    plan: Mapping[str, Mapping[str, Any]], roles: Iterable[str], names: Mapping[str, str]
) -> list[Grant]:
    """Every grant of ``roles``, names filled in from ``names``."""
    out = []
    for role in roles:
        for acl in plan[role]["acls"]:
            template = acl["name"]
            for operation in acl["operations"]:
                out.append(
                    Grant(
                        role,
                        AclOperation[operation.upper()],
                        _RESOURCES[acl["resource"]],
                        template.format(**names),
                        _PATTERNS[acl.get("pattern", "literal")],
                        template,
                    )
                )
    return out


def admin_settings(bootstrap: str, state_dir: Path) -> KafkaSettings:
    """The secured broker's admin, as secure.sh made it (password file, CA)."""
    password = (state_dir / "credentials" / "admin.password").read_text().strip()
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        kafka_config={
            "security.protocol": "SASL_SSL",
            "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": "admin",
            "sasl.password": password,
            "ssl.ca.location": str(state_dir / "tls" / "ca.pem"),
        },
    )


def ensure_topics(settings: KafkaSettings, names: Mapping[str, str], partitions: int) -> None:
    """Create the topics the commands use, as ``produce`` and ``deliver`` would have."""
    admin = TopicAdmin(settings, timeout=_TIMEOUT)
    admin.ensure(TopicSpec(names["conversations"], partitions), exact=False)
    admin.ensure(TopicSpec(names["datasets"], 1, config={"cleanup.policy": "compact"}), exact=False)
    for name in (names["deliveries"], names["dlq"]):
        admin.ensure(TopicSpec(name, partitions), exact=False)


def _apply(
    client: AdminClient, grants: Sequence[Grant], users: Mapping[str, str], grant: bool
) -> None:
    if not grants:
        return
    acls = [g.binding(users[g.role]) for g in grants]
    if grant:
        for future in client.create_acls(acls, request_timeout=_TIMEOUT).values():
            future.result()
    else:
        filters = [
            AclBindingFilter(
                a.restype,
                a.name,
                a.resource_pattern_type,
                a.principal,
                a.host,
                a.operation,
                a.permission_type,
            )
            for a in acls
        ]
        for deleted in client.delete_acls(filters, request_timeout=_TIMEOUT).values():
            deleted.result()


def _key(g: Grant) -> set[tuple[str, ...]]:
    """How ``--without`` and ``--only`` name a grant: ``deliver:write:dlq`` (the placeholder
    without braces) or the plan's name as written (``produce:write:voicelens-produce-``)."""
    op = g.operation.name.lower()
    return {(g.role, op, g.template.strip("{}")), (g.role, op, g.template)}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("action", choices=["grant", "revoke", "show"])
    p.add_argument("--bootstrap-servers", required=True)
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--role", action="append", help="only this command's ACLs (repeatable)")
    p.add_argument("--user", action="append", default=[], help="ROLE=USER instead of the plan's")
    p.add_argument(
        "--without", action="append", default=[], help="ROLE:OPERATION:NAME to leave out"
    )
    p.add_argument("--only", action="append", default=[], help="ROLE:OPERATION:NAME alone")
    p.add_argument("--conversations-topic", default=topics.CONVERSATIONS)
    p.add_argument("--datasets-topic", default=topics.DATASETS)
    p.add_argument("--deliveries-topic", default=topics.DELIVERIES)
    p.add_argument("--dlq-topic", help="default: the conversations topic + .dlq")
    p.add_argument("--deliver-group", default="voicelens-deliver")
    p.add_argument("--replay-group", default="voicelens-replay")
    p.add_argument("--partitions", type=int, default=6, help="of the topics grant creates")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module's docstring)."""
    args = _parser().parse_args(argv)
    plan = load_plan()
    roles = args.role or list(plan)
    unknown = sorted(set(roles) - set(plan))
    if unknown:
        print(f"acls: no such role {unknown} in {PLAN} (roles: {sorted(plan)})", file=sys.stderr)
        return 2
    users = {role: plan[role]["user"] for role in plan}
    users.update(dict(item.split("=", 1) for item in args.user))
    names = {
        "conversations": args.conversations_topic,
        "datasets": args.datasets_topic,
        "deliveries": args.deliveries_topic,
        "dlq": args.dlq_topic or topics.dlq_topic(args.conversations_topic),
        "deliver_group": args.deliver_group,
        "replay_group": args.replay_group,
    }
    left_out = {tuple(w.lower().split(":", 2)) for w in args.without}
    only = {tuple(w.lower().split(":", 2)) for w in args.only}
    grants = [
        g
        for g in bindings(plan, roles, names)
        if not _key(g) & left_out and (not only or _key(g) & only)
    ]
    settings = admin_settings(args.bootstrap_servers, args.state_dir)
    if args.action == "grant":
        ensure_topics(settings, names, args.partitions)
    if args.action != "show":
        _apply(AdminClient(admin_config(settings)), grants, users, args.action == "grant")
    verb = {"grant": "granted", "revoke": "revoked", "show": "would grant"}[args.action]
    for g in grants:
        print(
            f"acls: {verb} {g.operation.name} on {g.resource.name} {g.name!r}"
            f"{' (prefix)' if g.pattern is ResourcePatternType.PREFIXED else ''} "
            f"to User:{users[g.role]}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
