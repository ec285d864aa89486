"""Payment pages, provider adapters and provider notifications."""
