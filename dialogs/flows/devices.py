"""Connected devices: every conversation logged in to the household (this web chat, a phone's
Telegram chat…), when it was opened and last used, and a way to end any of them.

```mermaid
stateDiagram-v2
    notifications --> devices: Appareils connectés
    menu --> devices: « mes appareils »
    devices --> devices: Déconnecter n°2 / Déconnecter tous les autres
    devices --> start: Me déconnecter (cette conversation)
```
"""

from __future__ import annotations

from typing import Any

from booking.services.devices import Device, connected_devices, end_devices
from dialogs.flows.common import require_login
from dialogs.flows.settings import CHANNEL_NAMES
from dialogs.replies import Button
from dialogs.state import State
from dialogs.turn import ACTIONS, Turn, action, step

SHOWN = 10  # devices listed one by one; the others are counted, and ended all at once


def logged_out(data: dict[str, Any]) -> dict[str, Any]:
    """A stored conversation state, logged out as by `logout` (its language kept): it forgets
    the household, its login and its choices; its buttons die with the session."""
    state = State.from_json(data)
    state.household_id = None
    state.guardian_id = None
    state.login = None
    state.forget_selection()
    state.lapsed_told = []
    state.step = "start"
    state.nonce = ""
    state.buttons = {}
    return state.to_json()


@action("devices")
@require_login
async def open_devices(turn: Turn) -> None:
    await turn.show("devices")


@step("devices")
@require_login
async def show_devices(turn: Turn) -> None:
    t = turn.t
    turn.state.step = "devices"
    devices = await connected_devices(turn.db, turn.state.household_id)
    lines = [t._("Appareils connectés à votre compte famille :")]
    rows: list[list[Button]] = []
    for number, device in enumerate(devices[:SHOWN], start=1):
        lines.append(f"{number}. {_describe(turn, device)}")
        if device.conversation_id == turn.conversation_id:
            label = t._("Me déconnecter (cette conversation)")
        else:
            label = t._("Déconnecter n°{number}", number=number)
        rows.append([turn.button(label, "end_device", device.conversation_id)])
    if len(devices) > SHOWN:
        hidden = len(devices) - SHOWN
        lines.append(t.n_("… et {count} autre.", "… et {count} autres.", hidden))
    others = [d.conversation_id for d in devices if d.conversation_id != turn.conversation_id]
    if len(others) > 1:
        rows.append([turn.button(t._("Déconnecter tous les autres"), "end_other_devices")])
    lines.append(
        t._(
            "Un appareil déconnecté ne peut plus réserver ni recevoir vos notifications ; "
            "on peut s'y reconnecter avec l'identifiant et le mot de passe."
        )
    )
    rows.append(
        [turn.button(t._("Notifications"), "notifications"), turn.button(t._("Menu"), "menu")]
    )
    turn.say("\n".join(lines), rows)


def _describe(turn: Turn, device: Device) -> str:
    """ "Telegram (Jean-Paul) — ouverte le lundi 1er mars 2027, dernier message lundi 1er
    mars, 09:00 — cette conversation"."""
    t = turn.t
    name = t._(CHANNEL_NAMES.get(device.channel, device.channel))
    if device.guardian_name:
        name += f" ({device.guardian_name})"
    text = t._(
        "{device} — ouverte le {opened}, dernier message {used}",
        device=name,
        opened=t.day_with_year(device.opened_at.astimezone(turn.tz).date()),
        used=t.moment(device.last_used_at.astimezone(turn.tz)),
    )
    if device.conversation_id == turn.conversation_id:
        text += " — " + t._("cette conversation")
    return text


@action("end_device")
@require_login
async def end_device(turn: Turn, conversation_id: int) -> None:
    """End one device; ending this very conversation is logging out."""
    if conversation_id == turn.conversation_id:
        await ACTIONS["logout"](turn)
        return
    if await end_devices(turn.db, turn.state.household_id, [conversation_id], logged_out):
        turn.say(turn.t._("C'est fait : cet appareil est déconnecté."))
    else:
        turn.say(turn.t._("Cet appareil n'était déjà plus connecté."))
    await turn.show("devices")


@action("end_other_devices")
@require_login
async def end_other_devices(turn: Turn) -> None:
    devices = await connected_devices(turn.db, turn.state.household_id)
    others = [d.conversation_id for d in devices if d.conversation_id != turn.conversation_id]
    ended = await end_devices(turn.db, turn.state.household_id, others, logged_out)
    turn.say(
        turn.t.n_(
            "C'est fait : {count} appareil déconnecté.",
            "C'est fait : {count} appareils déconnectés.",
            ended,
        )
    )
    await turn.show("devices")
