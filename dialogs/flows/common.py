"""What every flow shares: welcome, main menu, help, language, back, not understood, the
login guard, and the basket line; flows import this module, never one another in a circle."""

from __future__ import annotations

from sqlalchemy import select

from booking import rules
from booking.models import Booking, BookingState, Participant, Session
from booking.services.basket import basket_items
from booking.services.habits import usual_bookings
from dialogs.i18n import Translator
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
    "forgot_login": "login_user",
    "current_password": "profile",
    "change_password_new": "profile",
    "change_password_confirm": "profile",
    "change_email": "profile",
}


#: Steps in the middle of a booking: help leaves the parent where they were.
BOOKING_STEPS = ("child", "activity", "calendar", "waitlist_offer", "recap", "terms")


#: Actions the menu offers: their buttons keep working once the menu is old (engine.py).
MENU_ACTIONS = (
    "book",
    "bookings",
    "balance",
    "help",
    "menu",
    "login",
    "notifications",
    "logout",
    "link_telegram",
    "profile",
)


def standing(label: str, name: str) -> Button:
    """A menu button whose payload names its action (no nonce): it never goes stale."""
    return Button(label=label, payload=f"x.{name}")


def menu_rows(turn: Turn) -> list[list[Button]]:
    t = turn.t
    if not turn.state.logged_in:
        return [
            [standing(t._("Se connecter"), "login")],
            [turn.button(t._("Voir les activités"), "browse", None)],
            [standing(t._("Aide"), "help"), _language_button(turn)],
        ]
    return [
        [standing(t._("Réserver"), "book")],
        [
            standing(t._("Mes réservations"), "bookings"),
            standing(t._("Annuler"), "bookings"),
        ],
        [standing(t._("Solde et historique"), "balance"), standing(t._("Panier"), "recap")],
        [standing(t._("Aide"), "help"), _language_button(turn)],
        [standing(t._("Mon compte"), "profile"), standing(t._("Notifications"), "notifications")],
        [standing(t._("Se déconnecter"), "logout")],
    ] + (
        [[standing(t._("Continuer dans Telegram"), "link_telegram")]]
        if turn.telegram_username and turn.channel == "web"
        else []
    )


def nav_row(turn: Turn, *, back: bool = True) -> list[Button]:
    row = []
    if back:
        row.append(turn.button(turn.t._("Retour"), "back"))
    row.append(standing(turn.t._("Menu"), "menu"))
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
    turn.say(turn.t._("Que voulez-vous faire ?"), [*await usual_rows(turn), *menu_rows(turn)])


async def usual_rows(turn: Turn) -> list[list[Button]]:
    """The household's usual child and activity, one tap from the menu to their calendar."""
    habits = await usual_bookings(turn.db, turn.state.household_id, turn.now)
    return [
        [
            turn.button(
                turn.t._(
                    "{activity} pour {name}",
                    activity=short_name(habit.activity.name, habit.activity.aliases),
                    name=habit.participant.first_name,
                ),
                "usual",
                habit.participant.id,
                habit.activity.id,
            )
        ]
        for habit in habits
    ]


def short_name(name: str, aliases: list[str] | None) -> str:
    """What parents call an activity: the town's first alias ("Cantine"), else its name."""
    alias = next(iter(aliases or ()), "")
    return alias[:1].upper() + alias[1:] if alias else name


@action("menu")
async def go_menu(turn: Turn) -> None:
    await show_menu(turn)


@action("back")
async def go_back(turn: Turn) -> None:
    await turn.show(PARENT_STEP.get(turn.state.step, "menu"))


@action("help")
async def show_help(turn: Turn) -> None:
    t = turn.t
    names = await _first_names(turn)
    text = t._(
        "Je comprends les boutons et les phrases simples, par exemple :\n"
        "• « inscris {name} à la cantine tous les lundis et jeudis du mois prochain »\n"
        "• « la semaine prochaine », « jeudi prochain », « du 6 au 10 », « tous les jours sauf mercredi »\n"
        "• « annule la semaine prochaine pour {other} », « ajoute le 24 », « enlève le 17 »\n"
        "• « mes réservations », « mon solde », « menu », « retour », « English »\n"
        "À chaque étape, « retour » revient en arrière et « menu » ramène ici.",
        name=names[0],
        other=await _child_with_a_booking(turn) or names[-1],
    )
    if turn.state.step in BOOKING_STEPS:
        turn.say(text)  # then the step the parent was at, with its buttons
        await turn.show()
        return
    turn.say(text, menu_rows(turn))


async def _child_with_a_booking(turn: Turn) -> str | None:
    """The child of the household's next booking: the cancellation example names them."""
    if turn.state.household_id is None:
        return None
    return await turn.db.scalar(
        select(Participant.first_name)
        .join(Booking, Booking.participant_id == Participant.id)
        .join(Session, Session.id == Booking.session_id)
        .where(
            Booking.household_id == turn.state.household_id,
            Booking.state == BookingState.CONFIRMED,
            Session.starts_at > turn.now,
        )
        .order_by(Session.starts_at)
        .limit(1)
    )


async def _first_names(turn: Turn) -> list[str]:
    """The household's children's names for the examples; generic ones before logging in."""
    if turn.state.household_id is not None:
        participants = (
            await turn.db.scalars(
                select(Participant)
                .where(Participant.household_id == turn.state.household_id)
                .order_by(Participant.birth_date.desc())
            )
        ).all()
        today = turn.now.astimezone(turn.tz).date()
        children = [p.first_name for p in participants if rules.age_on(p.birth_date, today) < 18]
        if children:
            return children
    return [turn.t._("Léa"), turn.t._("Paolo")]


@action("language")
async def set_language(turn: Turn, locale: str) -> None:
    turn.state.locale = locale
    turn.t = Translator(locale)
    turn.say(turn.t._("C'est noté, je vous parle en français."))
    await turn.show()


def step_examples(turn: Turn) -> str:
    """What a parent may write at the step shown: examples that make sense there."""
    t = turn.t
    step_name = turn.state.step
    if step_name == "calendar":
        return t._(
            "touchez des jours, ou écrivez des dates (« tous les mardis de mars », « du 6 au 10 »),"
            " « valider » pour le récapitulatif ou « abandonner »"
        )
    if step_name == "recap":
        return t._(
            "écrivez « oui » pour confirmer, « ajoute le 24 », « enlève le 17 » ou « abandonner »"
        )
    if step_name in ("child", "activity", "ask"):
        return t._("touchez un bouton, ou écrivez un prénom ou une activité (« cantine »)")
    if not turn.state.logged_in:
        return t._("écrivez « connexion », « quelles activités pour 7 ans ? » ou « aide »")
    return t._(
        "écrivez par exemple « inscris Léa à la cantine demain », « mes réservations » ou « aide »"
    )


async def not_understood(turn: Turn, fragment: str = "") -> None:
    t = turn.t
    if fragment:
        text = t._("Je n'ai pas compris « {text} ».", text=fragment)
    else:
        text = t._("Je n'ai pas compris.")
    turn.say(text + " " + t._("Ici, {examples}.", examples=step_examples(turn)))
    await turn.show()


def require_login(function):  # noqa: ANN001, ANN201
    """Actions for logged-in parents only; others are asked to log in first."""

    async def guarded(turn: Turn, *args: object) -> None:
        if not turn.state.logged_in:
            if turn.state.step in ("new_password", "new_password_confirm", "terms"):
                await turn.show()
                return
            turn.say(turn.t._("Connectez-vous d'abord pour cela."))
            await turn.show("login_user")
            return
        await function(turn, *args)

    guarded.__name__ = function.__name__
    return guarded


def price_text(turn: Turn, cents: int, coupons: int) -> str:
    if coupons:
        return turn.t.n_("{count} coupon", "{count} coupons", coupons)
    return turn.t.money(cents)


async def basket_line(turn: Turn) -> str:
    """ "Panier : 3 séances, gardées jusqu'à 10:42. 1 annulation à confirmer." or nothing."""
    if turn.state.household_id is None:
        return ""
    t = turn.t
    _, items = await basket_items(turn.db, turn.state.household_id)
    parts = []
    if items:
        expiry = min(item.held_until for item in items if item.held_until is not None)
        parts.append(
            t.n_(
                "Panier : {count} séance, gardée jusqu'à {time}.",
                "Panier : {count} séances, gardées jusqu'à {time}.",
                len(items),
                time=t.time(expiry.astimezone(turn.tz)),
            )
        )
    if turn.state.to_cancel:
        parts.append(
            t.n_(
                "{count} annulation à confirmer.",
                "{count} annulations à confirmer.",
                len(turn.state.to_cancel),
            )
        )
    return " ".join(parts)


def recap_button(turn: Turn) -> Button:
    return turn.button(turn.t._("Récapitulatif et confirmation"), "recap")
