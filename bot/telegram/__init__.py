"""The Telegram channel: a thin adapter over the conversation engine."""
