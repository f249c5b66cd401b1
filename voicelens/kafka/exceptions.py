"""Errors raised at the boundary with librdkafka (confluent-kafka)."""

from __future__ import annotations

from typing import ClassVar

from confluent_kafka import KafkaError, KafkaException

from voicelens.exceptions import VoicelensError

__all__ = [
    "BrokerUnavailableError",
    "KafkaClientError",
    "TopicMismatchError",
    "TopicMissingError",
    "kafka_error",
    "wrap_kafka_error",
]


class KafkaClientError(VoicelensError):
    """A Kafka operation failed; ``retriable`` mirrors librdkafka's own verdict."""

    retriable: ClassVar[bool] = False

    def __init__(self, message: str, *, code: int | None = None, retriable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.is_retriable = retriable


class BrokerUnavailableError(KafkaClientError):
    """No broker answered within the allotted time."""

    retriable: ClassVar[bool] = True


class TopicMissingError(KafkaClientError):
    """A topic the command needs does not exist."""


class TopicMismatchError(KafkaClientError):
    """A topic exists but not as asked (e.g. another partition count)."""


def kafka_error(exc: BaseException) -> KafkaError | None:
    """The librdkafka error a confluent-kafka exception carries, if it carries one."""
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    return err if isinstance(err, KafkaError) else None


def wrap_kafka_error(action: str, exc: BaseException) -> KafkaClientError:
    """Turn a confluent-kafka exception into ours, naming what was being done."""
    err = kafka_error(exc)
    if err is not None:
        code = err.code()
        cls: type[KafkaClientError] = KafkaClientError
        if code in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT):
            cls = BrokerUnavailableError
        wrapped = cls(f"{action}: {err.str()}", code=code, retriable=err.retriable())
    else:
        wrapped = KafkaClientError(f"{action}: {exc}")
    wrapped.__cause__ = exc
    return wrapped
