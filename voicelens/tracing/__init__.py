"""OpenTelemetry tracing from generation to the webhook's answer.

Configured only by the standard ``OTEL_*`` variables (``provider.py``); with none set, tracing
is off and every command runs the code paths it runs without this package. ``kafka_headers.py``
carries W3C Trace Context in Kafka record headers and ``messaging.py`` makes the producers' send
spans (``produce``, ``replay``); delivery's process and HTTP spans are the consumer's own
(``consumer/delivery_tracing.py``).
"""
