"""A parent's own data (RGPD): « mes données » answers with a one-time download link to
everything the town holds about the household (bot/web/privacy_pages.py serves it).

```mermaid
stateDiagram-v2
    menu --> menu: « mes données » / Télécharger mes données (a link, one hour, once)
```
"""

from __future__ import annotations

from booking.services.account_tokens import LIFETIMES, Purpose, issue_token
from dialogs.flows.common import nav_row, require_login
from dialogs.replies import Link
from dialogs.turn import Turn, action

#: The download page's path; the token follows it (bot/web/privacy_pages.py).
EXPORT_PATH = "/mes-donnees/"


@action("export_data")
@require_login
async def export_data(turn: Turn) -> None:
    t = turn.t
    token = await issue_token(turn.db, turn.state.guardian_id, Purpose.DATA_EXPORT, turn.now)
    hours = max(1, round(LIFETIMES[Purpose.DATA_EXPORT].total_seconds() / 3600))
    turn.say(
        t.n_(
            "Voici tout ce que la mairie conserve sur votre compte famille (responsables, "
            "enfants, dossiers, réservations, paiements, messages), dans un fichier à "
            "télécharger. Le lien sert une seule fois, pendant {count} heure.",
            "Voici tout ce que la mairie conserve sur votre compte famille (responsables, "
            "enfants, dossiers, réservations, paiements, messages), dans un fichier à "
            "télécharger. Le lien sert une seule fois, pendant {count} heures.",
            hours,
        )
        + "\n"
        + t._("Pour faire corriger ou effacer vos données, adressez-vous à la mairie."),
        [nav_row(turn, back=False)],
        link=Link(t._("Télécharger mes données"), f"{turn.public_url}{EXPORT_PATH}{token}"),
    )
