"""The conversation's flows; importing this package registers their steps and actions."""

from dialogs.flows import (  # noqa: F401
    account,
    booking,
    common,
    dispatch_text,
    info,
    pay,
    recap,
    settings,
)
