"""Topic administration: the project creates its own topics with explicit partition counts."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AclOperation, AdminClient, ClusterMetadata, NewTopic

from voicelens.exceptions import ConfigError
from voicelens.kafka.configuration import admin_config, log_error
from voicelens.kafka.exceptions import (
    AUTHENTICATION_CODES,
    Access,
    AuthenticationError,
    BrokerUnavailableError,
    TopicMismatchError,
    TopicMissingError,
    authorization_error,
    wrap_kafka_error,
)
from voicelens.settings import KafkaSettings

__all__ = ["MAX_DEFAULT_REPLICATION", "TopicAdmin", "TopicSpec"]

log = logging.getLogger("voicelens.kafka.admin")

#: Replicas of a topic the project creates without an explicit replication factor, at most:
#: three copies survive one node down for maintenance and one more failing.
MAX_DEFAULT_REPLICATION = 3


@dataclass(frozen=True)
class TopicSpec:
    """A topic as the project wants it."""

    name: str
    partitions: int
    #: None: min(MAX_DEFAULT_REPLICATION, the brokers the cluster lists when it is created).
    replication_factor: int | None = None
    config: Mapping[str, str] = field(default_factory=dict)


class TopicAdmin:
    """A lazily connected AdminClient with the few operations the project needs."""

    def __init__(self, settings: KafkaSettings, *, timeout: float = 15.0) -> None:
        self._settings = settings
        self._timeout = timeout
        self._client: AdminClient | None = None
        #: The first credentials the broker refused, reported through ``error_cb``.
        self._refused_login: KafkaError | None = None

    @property
    def client(self) -> AdminClient:
        if self._client is None:
            conf = admin_config(self._settings)
            conf["error_cb"] = self._on_error
            self._client = AdminClient(conf)
        return self._client

    def _on_error(self, err: KafkaError) -> None:
        if err.code() in AUTHENTICATION_CODES:
            if self._refused_login is not None:
                return  # every retry is refused alike: once in the log is enough
            self._refused_login = err
        log_error(err)

    def _metadata(self, topic: str | None = None) -> ClusterMetadata:
        try:
            metadata = self.client.list_topics(topic=topic, timeout=self._timeout)
        except KafkaException as exc:
            # Every command asks for metadata first, so refused credentials stop it here: the
            # request itself only fails with a transport error, the reason comes to error_cb.
            self.client.poll(0)
            if self._refused_login is not None:
                raise AuthenticationError(self._settings.kafka_config, self._refused_login) from exc
            what = f"metadata of topic {topic!r}" if topic else "cluster metadata"
            access = Access(topic=(AclOperation.DESCRIBE, topic)) if topic else None
            raise wrap_kafka_error(f"reading {what}", exc, access) from exc
        if not metadata.brokers:
            msg = f"no broker answered at {self._settings.bootstrap_servers}"
            raise BrokerUnavailableError(msg)
        return metadata

    def broker_count(self) -> int:
        """Brokers the cluster lists as live (a fenced or stopped one is not listed)."""
        return len(self._metadata().brokers)

    def replication_for(self, requested: int | None) -> int:
        """The replication factor to create a topic with: ``requested``, or min(3, brokers).

        A requested factor above the live brokers is refused here, naming the setting, rather
        than by the broker's INVALID_REPLICATION_FACTOR after the command has started.
        """
        brokers = self.broker_count()
        if requested is None:
            return min(MAX_DEFAULT_REPLICATION, brokers)
        if requested > brokers:
            raise ConfigError(
                "--replication-factor (VOICELENS_REPLICATION_FACTOR)",
                f"{requested} replicas asked for, but {self._settings.bootstrap_servers} "
                f"lists {brokers} live broker{'s' if brokers != 1 else ''}",
            )
        return requested

    def partition_count(self, topic: str) -> int | None:
        """Partitions of ``topic``, or None when it does not exist.

        A topic this principal may not describe is an :class:`AuthorizationError`, not a
        missing topic: the broker answers the same for one that exists and one that does not.
        """
        info = self._metadata(topic).topics.get(topic)
        if info is not None and info.error is not None:
            refused = authorization_error(
                info.error,
                f"reading metadata of topic {topic!r}",
                Access(topic=(AclOperation.DESCRIBE, topic)),
            )
            if refused is not None:
                raise refused
        if info is None or info.error is not None:
            return None
        return len(info.partitions)

    def require(self, topic: str) -> int:
        """Partition count of an existing topic; raises TopicMissingError naming it otherwise."""
        count = self.partition_count(topic)
        if count is None:
            msg = f"topic {topic!r} does not exist at {self._settings.bootstrap_servers}"
            raise TopicMissingError(msg)
        return count

    def ensure(self, spec: TopicSpec, *, exact: bool = True) -> bool:
        """Create the topic if absent (True when created).

        With ``exact``, an existing topic with another partition count is an error; without it,
        any existing topic will do (output topics whose layout is the operator's choice).
        """
        existing = self.partition_count(spec.name)
        if existing is not None:
            if exact and existing != spec.partitions:
                msg = (
                    f"topic {spec.name!r} exists with {existing} partitions, "
                    f"not the {spec.partitions} asked for (--partitions)"
                )
                raise TopicMismatchError(msg)
            return False
        replication = self.replication_for(spec.replication_factor)
        new = NewTopic(
            spec.name,
            num_partitions=spec.partitions,
            replication_factor=replication,
            config=dict(spec.config),
        )
        futures = self.client.create_topics([new], operation_timeout=self._timeout)
        try:
            futures[spec.name].result(timeout=self._timeout)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                # Another process created it between our look and our create: check it instead.
                self.ensure(spec, exact=exact)
                return False
            access = Access(topic=(AclOperation.CREATE, spec.name), cluster=AclOperation.CREATE)
            raise wrap_kafka_error(f"creating topic {spec.name!r}", exc, access) from exc
        log.info(
            "created topic %s with %d partitions, replication factor %d",
            spec.name,
            spec.partitions,
            replication,
        )
        return True

    def watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        """(low, high) watermark of each partition of ``topic``: its first and next offsets."""
        from confluent_kafka import Consumer

        from voicelens.kafka.configuration import consumer_config

        partitions = self.require(topic)
        conf = consumer_config(self._settings, group_id="voicelens-watermarks")
        conf["enable.auto.commit"] = False
        consumer = Consumer(conf)
        try:
            return {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=self._timeout)
                for p in range(partitions)
            }
        except KafkaException as exc:
            access = Access(topic=(AclOperation.DESCRIBE, topic))
            raise wrap_kafka_error(f"reading the offsets of {topic!r}", exc, access) from exc
        finally:
            consumer.close()

    def end_offsets(self, topic: str) -> dict[int, int]:
        """High watermark of each partition of ``topic``."""
        return {p: high for p, (_low, high) in self.watermarks(topic).items()}

    def committed_offsets(
        self, topic: str, group: str, *, require_stable: bool = False
    ) -> dict[int, int]:
        """Committed offset of ``group`` on each partition of ``topic`` (-1001 when none).

        ``require_stable``: wait for offsets of a transaction in progress to be decided
        (KIP-447), as a read_committed consumer does.
        """
        from confluent_kafka import ConsumerGroupTopicPartitions

        partitions = self.require(topic)
        request = ConsumerGroupTopicPartitions(
            group, [TopicPartition(topic, p) for p in range(partitions)]
        )
        futures = self.client.list_consumer_group_offsets(
            [request], require_stable=require_stable, request_timeout=self._timeout
        )
        try:
            result = futures[group].result(timeout=self._timeout)
        except KafkaException as exc:
            access = Access(
                topic=(AclOperation.DESCRIBE, topic), group=(AclOperation.DESCRIBE, group)
            )
            msg = f"reading committed offsets of group {group!r}"
            raise wrap_kafka_error(msg, exc, access) from exc
        return {tp.partition: tp.offset for tp in result.topic_partitions}

    def delete_topics(self, topics: list[str]) -> None:
        """Delete topics (tests and demos); missing ones are ignored."""
        if not topics:
            return
        for name, fut in self.client.delete_topics(topics, operation_timeout=self._timeout).items():
            try:
                fut.result(timeout=self._timeout)
            except KafkaException as exc:
                log.debug("delete %s: %s", name, exc)
