"""The secured broker of `make kafka-secure-up` as the tests drive it: its admin, fresh SCRAM
users, least-privilege ACLs granted through deploy/kafka/acls.py, commands run as processes."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from voicelens.kafka import TopicAdmin
from voicelens.kafka.configuration import admin_config
from voicelens.settings import KafkaSettings

__all__ = [
    "REPO",
    "SECURE_SH",
    "Run",
    "SecureBroker",
    "readme_kafka_config",
]

REPO = Path(__file__).resolve().parents[2]
SECURE_SH = REPO / "deploy" / "kafka" / "secure.sh"
#: Seconds a command may take before the test calls it a hang.
COMMAND_LIMIT = 90


def readme_kafka_config() -> dict[str, str]:
    """The README's SASL-over-TLS VOICELENS_KAFKA_CONFIG example, as a platform team copies it."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Using an existing Kafka cluster", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"VOICELENS_KAFKA_CONFIG='(\{.*?\})'", section)
    assert match, "the README's 'Using an existing Kafka cluster' has no VOICELENS_KAFKA_CONFIG"
    config: dict[str, str] = json.loads(match[1])
    return config


@dataclass(frozen=True)
class Run:
    """A finished command: exit code and what it wrote."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class SecureBroker:
    """The secured broker: its bootstrap, its state dir (CA, passwords) and its admin."""

    bootstrap: str
    state_dir: Path
    users: dict[str, str] = field(default_factory=dict)

    @property
    def ca(self) -> Path:
        return self.state_dir / "tls" / "ca.pem"

    def admin_password(self) -> str:
        return (self.state_dir / "credentials" / "admin.password").read_text().strip()

    def passwords(self) -> list[str]:
        """Every secret the tests must never see in a command's output."""
        files = sorted((self.state_dir / "credentials").glob("*.password"))
        return [f.read_text().strip() for f in files] + list(self.users.values())

    def admin_settings(self) -> KafkaSettings:
        return KafkaSettings(bootstrap_servers=self.bootstrap, kafka_config=self.config("admin"))

    def config(self, user: str, password: str | None = None) -> dict[str, str]:
        """The README's example configuration for ``user``, trusting the broker's CA."""
        config = readme_kafka_config()
        config["sasl.username"] = user
        config["sasl.password"] = password if password is not None else self._password(user)
        config["ssl.ca.location"] = str(self.ca)
        return config

    def _password(self, user: str) -> str:
        if user in self.users:
            return self.users[user]
        return (self.state_dir / "credentials" / f"{user}.password").read_text().strip()

    def answers(self) -> bool:
        """Whether the admin gets a metadata answer listing a broker."""
        if not self.ca.exists():
            return False
        client = AdminClient({**admin_config(self.admin_settings()), "log_level": 0})
        try:
            return bool(client.list_topics(timeout=10).brokers)
        except Exception:  # any failure means "no secured broker"
            return False

    def add_user(self, user: str) -> str:
        """A new SCRAM-SHA-512 user with a fresh password (the admin's API, as operators do)."""
        password = secrets.token_urlsafe(24)
        client = AdminClient(admin_config(self.admin_settings()))
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
        upsert = UserScramCredentialUpsertion(user, info, password.encode())
        for future in client.alter_user_scram_credentials([upsert]).values():
            future.result()
        self.users[user] = password
        return password

    def drop_users(self) -> None:
        if not self.users:
            return
        client = AdminClient(admin_config(self.admin_settings()))
        deletions = [
            UserScramCredentialDeletion(u, ScramMechanism.SCRAM_SHA_512) for u in self.users
        ]
        for future in client.alter_user_scram_credentials(deletions).values():
            future.result()
        self.users.clear()

    def acls(self, action: str, names: Mapping[str, str], *args: str) -> Run:
        """deploy/kafka/secure.sh acls ACTION for ``names`` (acls.py's flags), as a process."""
        flags = [f"--{key.replace('_', '-')}={value}" for key, value in names.items()]
        env = {
            **os.environ,
            "PYTHON": sys.executable,
            "SECURE_KAFKA_PORT": self.bootstrap.rsplit(":", 1)[1],
            "VOICELENS_CACHE": str(self.state_dir.parents[1]),
        }
        return _run([str(SECURE_SH), "acls", action, *flags, *args], env)

    def topic_admin(self) -> TopicAdmin:
        return TopicAdmin(self.admin_settings())

    def voicelens(self, user: str, *args: str, password: str | None = None) -> Run:
        """``voicelens ARGS`` as ``user`` over SASL_SSL (with ``password`` instead of the
        user's own, when given); nothing of the test's VOICELENS_* variables leaks in."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("VOICELENS_")}
        base.update(
            {
                "VOICELENS_BOOTSTRAP_SERVERS": self.bootstrap,
                "VOICELENS_KAFKA_CONFIG": json.dumps(self.config(user, password)),
                "VOICELENS_LOG_FORMAT": "json",
            }
        )
        return _run([sys.executable, "-m", "voicelens", *args], base)


def _run(argv: Sequence[str], env: Mapping[str, str]) -> Run:
    done = subprocess.run(
        list(argv),
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=COMMAND_LIMIT,
        check=False,
        cwd=REPO,
    )
    return Run(list(argv), done.returncode, done.stdout, done.stderr)
