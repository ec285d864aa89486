"""The channel-independent conversation engine."""
