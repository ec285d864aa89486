"""How the household hears from the town: which channels, and the language of its e-mails."""

from __future__ import annotations

from booking.services.outbox import (
    CHANNELS,
    notification_settings,
    set_email_language,
    set_notification_channel,
)
from dialogs.flows.common import nav_row, require_login
from dialogs.i18n import N_
from dialogs.turn import Turn, action, step

CHANNEL_NAMES = {
    "web": N_("Conversation sur le site"),
    "telegram": N_("Telegram"),
    "email": N_("E-mail"),
}


@action("notifications")
@require_login
async def open_notifications(turn: Turn) -> None:
    await turn.show("notifications")


@step("notifications")
async def show_notifications(turn: Turn) -> None:
    t = turn.t
    turn.state.step = "notifications"
    household = await notification_settings(turn.db, turn.state.household_id)
    chosen = household.notify_channels or list(CHANNELS)
    lines = [
        t._(
            "Confirmations, annulations, rappels la veille, places libérées et reçus de "
            "paiement vous sont envoyés sur :"
        )
    ]
    rows = []
    for channel in CHANNELS:
        on = channel in chosen
        name = t._(CHANNEL_NAMES[channel])
        detail = ""
        if channel == "email":
            detail = " (" + (", ".join(household.email_list) or t._("aucune adresse")) + ")"
        lines.append(("✓ " if on else "✕ ") + name + detail)
        label = (
            t._("Arrêter : {channel}", channel=name)
            if on
            else t._("Recevoir : {channel}", channel=name)
        )
        rows.append([turn.button(label, "notify_channel", channel, not on)])
    language = t._("anglais") if household.language == "en" else t._("français")
    lines.append(t._("Langue des e-mails : {language}", language=language))
    lines.append(t._("Rien n'est envoyé entre 21:00 et 07:30, sauf les résultats de paiement."))
    other = "fr" if household.language == "en" else "en"
    rows.append(
        [
            turn.button(
                t._("E-mails en français") if other == "fr" else t._("E-mails en anglais"),
                "email_language",
                other,
            )
        ]
    )
    rows.append([turn.button(t._("Appareils connectés"), "devices")])
    rows.append(nav_row(turn, back=False))
    turn.say("\n".join(lines), rows)


@action("notify_channel")
@require_login
async def toggle_channel(turn: Turn, channel: str, wanted: bool) -> None:
    await set_notification_channel(turn.db, turn.state.household_id, channel, wanted)
    await turn.show("notifications")


@action("email_language")
@require_login
async def email_language(turn: Turn, locale: str) -> None:
    await set_email_language(turn.db, turn.state.household_id, locale)
    await turn.show("notifications")
