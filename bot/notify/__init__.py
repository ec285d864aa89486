"""Notification delivery: the outbox worker and its channels."""
