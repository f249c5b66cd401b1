"""Thin wrappers around confluent-kafka: configuration, admin, producer, consumer."""

from voicelens.kafka.admin import TopicAdmin, TopicSpec
from voicelens.kafka.consumer import KafkaConsumer
from voicelens.kafka.producer import KafkaProducer

__all__ = ["KafkaConsumer", "KafkaProducer", "TopicAdmin", "TopicSpec"]
