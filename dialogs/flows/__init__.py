"""The conversation's flows; importing this package registers their steps and actions."""

from dialogs.flows import account, booking, common, dispatch_text, info, recap  # noqa: F401
