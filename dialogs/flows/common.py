"""Steps every conversation shares: welcome, main menu, help, language, back, not understood."""

from __future__ import annotations

from dialogs.intents import intent_of
from dialogs.replies import Button
from dialogs.turn import Turn, action, step

#: Where "back" leads from each step.
PARENT_STEP = {
    "activity": "child",
    "calendar": "activity",
    "waitlist_offer": "calendar",
    "recap": "menu",
    "login_password": "login_user",
    "login_user": "start",
    "browse": "start",
}


#: Steps in the middle of a booking: help leaves the parent where they were.
BOOKING_STEPS = ("child", "activity", "calendar", "waitlist_offer", "recap", "terms")


def menu_rows(turn: Turn) -> list[list[Button]]:
    t = turn.t
    if not turn.state.logged_in:
        return [
            [turn.button(t._("Se connecter"), "login")],
            [turn.button(t._("Voir les activités"), "browse", None)],
            [turn.button(t._("Aide"), "help"), _language_button(turn)],
        ]
    return [
        [turn.button(t._("Réserver"), "book")],
        [
            turn.button(t._("Mes réservations"), "bookings"),
            turn.button(t._("Annuler"), "bookings"),
        ],
        [turn.button(t._("Solde et historique"), "balance"), turn.button(t._("Panier"), "recap")],
        [turn.button(t._("Aide"), "help"), _language_button(turn)],
        [turn.button(t._("Notifications"), "notifications")],
        [turn.button(t._("Se déconnecter"), "logout")],
    ] + (
        [[turn.button(t._("Continuer dans Telegram"), "link_telegram")]]
        if turn.telegram_username and turn.channel == "web"
        else []
    )


def nav_row(turn: Turn, *, back: bool = True) -> list[Button]:
    row = []
    if back:
        row.append(turn.button(turn.t._("Retour"), "back"))
    row.append(turn.button(turn.t._("Menu"), "menu"))
    return row


def _language_button(turn: Turn) -> Button:
    if turn.t.locale == "fr":
        return turn.button("English", "language", "en")
    return turn.button("Français", "language", "fr")


@step("start")
async def show_start(turn: Turn) -> None:
    if turn.state.logged_in:
        await show_menu(turn)
        return
    turn.state.step = "start"
    turn.say(
        turn.t._(
            "Bonjour ! Je suis Ribambelle, l'assistant des réservations de la mairie : cantine, "
            "accueil périscolaire, centre de loisirs, sport. Connectez-vous pour réserver, ou "
            "regardez les activités sans compte."
        ),
        menu_rows(turn),
    )


@step("menu")
async def show_menu(turn: Turn) -> None:
    if not turn.state.logged_in:
        await show_start(turn)
        return
    turn.state.step = "menu"
    turn.state.forget_selection()
    turn.say(turn.t._("Que voulez-vous faire ?"), menu_rows(turn))


@action("menu")
async def go_menu(turn: Turn) -> None:
    await show_menu(turn)


@action("back")
async def go_back(turn: Turn) -> None:
    await turn.show(PARENT_STEP.get(turn.state.step, "menu"))


@action("help")
async def show_help(turn: Turn) -> None:
    t = turn.t
    text = t._(
        "Je comprends les boutons et les phrases simples, par exemple :\n"
        "• « inscris Léa à la cantine tous les lundis et jeudis de mars »\n"
        "• « du 6 au 10 juillet », « demain », « le 12/03 »\n"
        "• « annule mercredi pour Paolo »\n"
        "• « mes réservations », « mon solde », « menu », « retour », « English »\n"
        "À chaque étape, « retour » revient en arrière et « menu » ramène ici."
    )
    if turn.state.step in BOOKING_STEPS:
        turn.say(text)  # then the step the parent was at, with its buttons
        await turn.show()
        return
    turn.say(text, menu_rows(turn))


@action("language")
async def set_language(turn: Turn, locale: str) -> None:
    from dialogs.i18n import Translator

    turn.state.locale = locale
    turn.t = Translator(locale)
    turn.say(turn.t._("C'est noté, je vous parle en français."))
    await turn.show()


async def global_text(turn: Turn, text: str) -> bool:
    """Commands understood at any step; False lets the step read the text."""
    intent = intent_of(text)
    if intent == "help":
        await show_help(turn)
    elif intent == "menu":
        await show_menu(turn)
    elif intent == "back":
        await go_back(turn)
    elif intent in ("language_en", "language_fr"):
        await set_language(turn, intent.removeprefix("language_"))
    elif intent == "logout" and turn.state.logged_in:
        from dialogs.flows.account import logout

        await logout(turn)
    else:
        from dialogs.flows.dispatch_text import intent_text

        return await intent_text(turn, intent, text)
    return True


async def not_understood(turn: Turn) -> None:
    turn.say(
        turn.t._(
            "Je n'ai pas compris. Utilisez les boutons, ou écrivez par exemple « réserver », "
            "« mes réservations » ou « aide »."
        )
    )
    await turn.show()
