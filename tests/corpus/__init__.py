"""The understanding corpus: parents' messages with their expected request frames."""
