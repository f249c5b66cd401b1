"""Thin wrappers around confluent-kafka: configuration, admin, producer, consumer, reader."""

from voicelens.kafka.admin import TopicAdmin, TopicSpec
from voicelens.kafka.consumer import KafkaConsumer
from voicelens.kafka.producer import KafkaProducer
from voicelens.kafka.reader import read_topic

__all__ = ["KafkaConsumer", "KafkaProducer", "TopicAdmin", "TopicSpec", "read_topic"]
