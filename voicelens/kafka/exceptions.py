"""Errors raised at the boundary with librdkafka (confluent-kafka)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AclOperation, ResourceType

from voicelens.exceptions import VoicelensError

__all__ = [
    "AUTHENTICATION_CODES",
    "AUTHORIZATION_CODES",
    "TRANSACTIONAL_ID",
    "Access",
    "AuthenticationError",
    "AuthorizationError",
    "BrokerUnavailableError",
    "KafkaClientError",
    "TopicMismatchError",
    "TopicMissingError",
    "authorization_error",
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


#: Transactional ids as an ACL resource (types-confluent-kafka's stubs lack the member).
TRANSACTIONAL_ID: ResourceType = ResourceType["TRANSACTIONAL_ID"]
#: The broker's refusals for want of an ACL, and the kind of resource each one is about.
AUTHORIZATION_CODES: dict[int, ResourceType] = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED: ResourceType.TOPIC,
    KafkaError.GROUP_AUTHORIZATION_FAILED: ResourceType.GROUP,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED: TRANSACTIONAL_ID,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED: ResourceType.BROKER,
}
_KINDS = {
    ResourceType.TOPIC: "topic",
    ResourceType.GROUP: "group",
    TRANSACTIONAL_ID: "transactional id",
    ResourceType.BROKER: "cluster",
}


@dataclass(frozen=True)
class Access:
    """The ACLs an operation needs, by kind of resource: what an :class:`AuthorizationError`
    names when the broker refuses one of them (the broker says only which kind it refused)."""

    topic: tuple[AclOperation, str] | None = None
    group: tuple[AclOperation, str] | None = None
    transactional_id: tuple[AclOperation, str] | None = None
    cluster: AclOperation | None = None

    def needed(self, resource: ResourceType) -> tuple[AclOperation | None, str | None]:
        """(operation, resource name) this access needs on ``resource``, as far as known."""
        if resource is ResourceType.BROKER:
            return self.cluster, "kafka-cluster"
        held = {
            ResourceType.TOPIC: self.topic,
            ResourceType.GROUP: self.group,
            TRANSACTIONAL_ID: self.transactional_id,
        }.get(resource)
        return held if held is not None else (None, None)


class AuthorizationError(KafkaClientError):
    """The broker refused an operation for want of an ACL. Never retried: the same request
    fails the same way until an operator grants the ACL, so the command stops at once, naming
    the operation and the resource."""

    retriable: ClassVar[bool] = False

    def __init__(
        self,
        action: str,
        resource: ResourceType,
        operation: AclOperation | None,
        name: str | None,
        *,
        code: int,
    ) -> None:
        kind = _KINDS.get(resource, resource.name.lower())
        what = "an operation" if operation is None else operation.name.replace("_", "")
        where = f"{kind} {name!r}" if name is not None else f"a {kind}"
        super().__init__(
            f"{action}: not authorized: this principal has no ACL allowing {what} on {where} "
            f"(broker error {KafkaError(code).name()}); grant it, or run as a principal that "
            f"has it",
            code=code,
            retriable=False,
        )
        self.resource = resource
        self.operation = operation
        self.name = name


#: The broker's (or the client's) refusals of a principal's credentials.
AUTHENTICATION_CODES = frozenset(
    {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED}
)


class AuthenticationError(KafkaClientError):
    """The broker refused the credentials: the same ones fail the same way, so never retried.
    The message names the user and the setting, never the password."""

    retriable: ClassVar[bool] = False

    def __init__(self, kafka_config: Mapping[str, str], err: KafkaError) -> None:
        user = kafka_config.get("sasl.username")
        who = f"sasl.username {user!r}" if user else "the credentials"
        mechanism = kafka_config.get("sasl.mechanisms") or kafka_config.get("sasl.mechanism")
        how = f" ({mechanism})" if mechanism else ""
        super().__init__(
            f"the broker refused {who}{how} of --kafka-config (VOICELENS_KAFKA_CONFIG): "
            f"{err.str()}",
            code=err.code(),
            retriable=False,
        )


def authorization_error(err: KafkaError, action: str, access: Access) -> AuthorizationError | None:
    """The :class:`AuthorizationError` ``err`` is, when it is a refusal for want of an ACL."""
    resource = AUTHORIZATION_CODES.get(err.code())
    if resource is None:
        return None
    operation, name = access.needed(resource)
    return AuthorizationError(action, resource, operation, name, code=err.code())


def kafka_error(exc: BaseException) -> KafkaError | None:
    """The librdkafka error a confluent-kafka exception carries, if it carries one."""
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    return err if isinstance(err, KafkaError) else None


def wrap_kafka_error(
    action: str, exc: BaseException, access: Access | None = None
) -> KafkaClientError:
    """Turn a confluent-kafka exception into ours, naming what was being done (and, for a
    refusal for want of an ACL, which one, from ``access``)."""
    err = kafka_error(exc)
    if err is not None:
        refused = authorization_error(err, action, access or Access())
        if refused is not None:
            refused.__cause__ = exc
            return refused
        code = err.code()
        cls: type[KafkaClientError] = KafkaClientError
        if code in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT):
            cls = BrokerUnavailableError
        wrapped = cls(f"{action}: {err.str()}", code=code, retriable=err.retriable())
    else:
        wrapped = KafkaClientError(f"{action}: {exc}")
    wrapped.__cause__ = exc
    return wrapped
