"""A forgotten password: the login or e-mail address asked, then one answer whatever it names.

```mermaid
stateDiagram-v2
    login_user --> forgot_login: Mot de passe oublié / « mot de passe oublié »
    login_password --> forgot_login: Mot de passe oublié / « mot de passe oublié »
    start --> forgot_login: « mot de passe oublié »
    forgot_login --> start: a login or an address (the link goes by e-mail)
```
"""

from __future__ import annotations

from booking.services.password_reset import MAX_IDENTIFIER, request_password_reset
from dialogs.flows.account import raw
from dialogs.flows.common import menu_rows
from dialogs.turn import Turn, action, step, text_handler


@action("forgot_password")
async def start_reset(turn: Turn) -> None:
    await turn.show("forgot_login")


@step("forgot_login")
async def ask_login_or_address(turn: Turn) -> None:
    turn.state.step = "forgot_login"
    turn.state.login = None
    turn.say(
        turn.t._(
            "Mot de passe oublié ? Écrivez votre identifiant ou l'adresse e-mail de votre "
            "compte : un lien pour choisir un nouveau mot de passe y sera envoyé."
        ),
        [[turn.button(turn.t._("Annuler"), "start")]],
    )


@text_handler("forgot_login")
@raw
async def read_login_or_address(turn: Turn, text: str) -> bool:
    """Send the link if the text names an account, and answer the same either way: nobody
    learns from the chat which logins or addresses exist."""
    await request_password_reset(turn.db, text[:MAX_IDENTIFIER], turn.now)
    turn.state.step = "menu" if turn.state.logged_in else "start"
    turn.say(
        turn.t._(
            "Si ce compte existe, un e-mail vient d'être envoyé à son adresse avec un lien pour "
            "choisir un nouveau mot de passe. Le lien sert une seule fois, pendant 30 minutes ; "
            "pensez à regarder dans les courriers indésirables."
        ),
        menu_rows(turn),
    )
    return True
