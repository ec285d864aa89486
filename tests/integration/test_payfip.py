"""The eopayment adapter against a local PayFiP SOAP stand-in (real eopayment, zeep, requests)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import eopayment
import pytest

from booking.providers import (
    PaymentOrder,
    ProviderError,
    ProviderState,
    RefundNotSupported,
)
from bot.payments.base import BadNotification, Notification
from bot.payments.eopayment_provider import EopaymentProvider
from tests.payfip_soap import PayFiPStandIn

PAYFIP_PAGE = "https://www.payfip.gouv.fr/tpa/paiementws.web?idop="


@pytest.fixture
async def payfip() -> AsyncIterator[PayFiPStandIn]:
    async with PayFiPStandIn() as standin:
        yield standin


@pytest.fixture
def settings(payfip: PayFiPStandIn) -> dict[str, Any]:
    return {
        "provider": "eopayment",
        "backend": "payfip_ws",
        "options": {"numcli": "123456", "saisie": "T"},
        "service_url": payfip.service_url,
    }


@pytest.fixture
def provider() -> Iterator[EopaymentProvider]:
    provider = EopaymentProvider(timeout=2.0)
    yield provider
    provider.close()


def an_order(settings: dict[str, Any], **changes: Any) -> PaymentOrder:
    values: dict[str, Any] = {
        "order_id": "RIB000042",
        "amount_cents": 1250,
        "currency": "EUR",
        "merchant": "Ville de Saint-Éloi",
        "items": ["Léa — Centre de loisirs — mercredi 3 mars — 12,50 €"],
        "email": "parent@example.org",
        "notify_url": "https://ribambelle.example/payments/notify/eopayment",
        "return_url": "https://ribambelle.example/pay/tok/done",
        "created_at": datetime.now(UTC),
        "settings": settings,
    }
    return PaymentOrder(**(values | changes))


def notification(body: str = "", query_string: str = "", method: str = "POST") -> Notification:
    return Notification(method, query_string, body.encode(), {})


async def opened(provider: EopaymentProvider, settings: dict[str, Any]) -> str:
    return (await provider.create(an_order(settings))).reference


# Opening a payment ----------------------------------------------------------------------------


async def test_create_returns_the_idop_and_payfips_page_for_it(provider, payfip, settings):
    redirect = await provider.create(an_order(settings))

    assert redirect.reference in payfip.operations
    assert redirect.url == PAYFIP_PAGE + redirect.reference


async def test_create_sends_payfip_the_amount_in_cents_the_order_and_our_urls(
    provider, payfip, settings
):
    await provider.create(an_order(settings))

    sent = payfip.last
    assert (sent.numcli, sent.saisie, sent.montant) == ("123456", "T", "1250")
    assert sent.refdet == "RIB000042"
    assert sent.exer == str(datetime.now(UTC).year)
    assert sent.mel == "parent@example.org"
    assert sent.urlnotif == "https://ribambelle.example/payments/notify/eopayment"
    assert sent.urlredirect == "https://ribambelle.example/pay/tok/done"
    assert sent.objet.startswith("Lea Centre de loisirs mercredi 3 mars")


async def test_create_falls_back_on_the_structures_email(provider, payfip, settings):
    settings["email"] = "regie@saint-eloi.fr"

    await provider.create(an_order(settings, email=None))

    assert payfip.last.mel == "regie@saint-eloi.fr"


async def test_create_without_any_email_is_refused_before_calling_payfip(
    provider, payfip, settings
):
    with pytest.raises(ProviderError, match="e-mail"):
        await provider.create(an_order(settings, email=None))
    assert payfip.call_count() == 0


async def test_create_below_payfips_minimum_is_refused(provider, payfip, settings):
    with pytest.raises(ProviderError, match="minimum"):
        await provider.create(an_order(settings, amount_cents=50))
    assert payfip.call_count() == 0


async def test_a_backend_answering_with_a_form_is_refused_clearly(provider):
    settings = {"backend": "systempayv2", "options": SYSTEMPAY_OPTIONS}

    with pytest.raises(ProviderError, match="form"):
        await provider.create(an_order(settings))


# Reading the payment's state ------------------------------------------------------------------


async def test_paid_payment_reads_the_amount_in_cents(provider, payfip, settings):
    reference = await opened(provider, settings)
    payfip.set_result(reference, "P")

    status = await provider.status(reference, created_at=datetime.now(UTC), settings=settings)

    assert status.state is ProviderState.PAID
    assert (status.amount_cents, status.currency) == (1250, "EUR")
    assert status.details["bank_data"]["refdet"] == "RIB000042"
    assert status.details["bank_data"]["numauto"]


async def test_refused_card_is_refused(provider, payfip, settings):
    reference = await opened(provider, settings)
    payfip.set_result(reference, "R")

    status = await provider.status(reference, created_at=datetime.now(UTC), settings=settings)

    assert status.state is ProviderState.REFUSED


async def test_payer_who_gave_up_ten_minutes_ago_abandoned(provider, payfip, settings):
    reference = await opened(provider, settings)
    payfip.set_result(reference, "A")

    status = await provider.status(reference, created_at=datetime.now(UTC), settings=settings)

    assert status.state is ProviderState.ABANDONED


async def test_payer_who_gave_up_a_moment_ago_is_still_pending(provider, payfip, settings):
    # PayFiP's idOp stays usable a little: eopayment waits 2 minutes before believing A
    reference = await opened(provider, settings)
    payfip.set_result(reference, "A", at=datetime.now(UTC))

    status = await provider.status(reference, created_at=datetime.now(UTC), settings=settings)

    assert status.state is ProviderState.PENDING


async def test_result_not_known_yet_is_pending(provider, payfip, settings):
    reference = await opened(provider, settings)

    status = await provider.status(reference, created_at=datetime.now(UTC), settings=settings)

    assert status.state is ProviderState.PENDING
    assert status.amount_cents is None


async def test_result_still_unknown_hours_later_is_expired(provider, payfip, settings):
    reference = await opened(provider, settings)
    three_hours_ago = datetime.now(UTC) - timedelta(hours=3)

    status = await provider.status(reference, created_at=three_hours_ago, settings=settings)

    assert status.state is ProviderState.EXPIRED


async def test_idop_payfip_no_longer_knows_is_expired(provider, payfip, settings):
    reference = await opened(provider, settings)
    payfip.forget(reference)

    status = await provider.status(reference, created_at=datetime.now(UTC), settings=settings)

    assert status.state is ProviderState.EXPIRED


async def test_technical_fault_is_a_provider_error_and_the_next_call_works(
    provider, payfip, settings
):
    reference = await opened(provider, settings)
    payfip.fail_next()

    with pytest.raises(ProviderError, match="TechIndisponibiliteErreur"):
        await provider.status(reference, created_at=datetime.now(UTC), settings=settings)
    status = await provider.status(reference, created_at=datetime.now(UTC), settings=settings)
    assert status.state is ProviderState.PENDING


async def test_unreachable_payfip_is_a_provider_error(provider, settings):
    settings["service_url"] = "http://127.0.0.1:9/tpa/services/securite"

    with pytest.raises(ProviderError):
        await provider.status("idop", created_at=datetime.now(UTC), settings=settings)


async def test_silent_payfip_gives_a_provider_error_within_the_timeout(payfip, settings):
    provider = EopaymentProvider(timeout=0.5)
    reference = await opened(provider, settings)
    payfip.hang()
    started = time.monotonic()

    with pytest.raises(ProviderError, match=r"no answer within 0\.5 s|timed out"):
        await provider.status(reference, created_at=datetime.now(UTC), settings=settings)

    assert time.monotonic() - started < 1.5
    provider.close()


async def test_the_loop_keeps_running_while_payfip_answers_slowly(provider, payfip, settings):
    payfip.slow(0.3)
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beating = asyncio.create_task(heartbeat())
    await provider.create(an_order(settings))
    beating.cancel()

    assert ticks >= 10  # ~30 expected: the SOAP call did not block the loop


async def test_calls_run_in_the_providers_threads(provider, payfip, settings, monkeypatch):
    threads = []
    original = eopayment.Payment.payment_status

    def spy(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        threads.append(threading.current_thread().name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(eopayment.Payment, "payment_status", spy)
    reference = await opened(provider, settings)

    await provider.status(reference, created_at=datetime.now(UTC), settings=settings)

    assert threads and threads[0].startswith("eopayment")


# Notifications --------------------------------------------------------------------------------


async def test_notification_with_the_idop_in_the_form_body_names_it(provider, settings):
    reference = provider.parse_notification(notification("idOp=abc-123"), settings)

    assert reference == "abc-123"


async def test_notification_with_the_idop_in_the_query_string_names_it(provider, settings):
    reference = provider.parse_notification(
        notification(query_string="idop=abc-123", method="GET"), settings
    )

    assert reference == "abc-123"


async def test_notification_without_idop_is_malformed(provider, settings):
    with pytest.raises(BadNotification) as refused:
        provider.parse_notification(notification("resultrans=P"), settings)

    assert refused.value.status == 400


async def test_notification_with_a_strange_idop_or_body_is_malformed(provider, settings):
    for body in (b"idOp=%3Cscript%3E", b"\xff\xfe"):
        with pytest.raises(BadNotification) as refused:
            provider.parse_notification(Notification("POST", "", body, {}), settings)
        assert refused.value.status == 400


async def test_notification_route_without_settings_relies_on_the_environment(payfip):
    # the route does not know the structure before reading the notification: it passes {}
    provider = EopaymentProvider.from_env(
        {
            "RIBAMBELLE_EOPAYMENT_BACKEND": "payfip_ws",
            "RIBAMBELLE_EOPAYMENT_OPTIONS": '{"numcli": "123456", "saisie": "T"}',
            "RIBAMBELLE_PAYFIP_SERVICE_URL": payfip.service_url,
        },
        timeout=2.0,
    )
    reference = await opened(provider, {"provider": "eopayment"})
    payfip.set_result(reference, "P")

    notified = provider.parse_notification(notification(f"idOp={reference}"), {})
    status = await provider.status(notified, created_at=datetime.now(UTC), settings={})

    assert status.state is ProviderState.PAID
    provider.close()


# Refunds and configuration --------------------------------------------------------------------


async def test_payfip_cannot_refund(provider, payfip, settings):
    with pytest.raises(RefundNotSupported):
        await provider.refund("idop", 1250, settings=settings)
    assert payfip.call_count() == 0


def test_structure_settings_override_the_environment_defaults():
    provider = EopaymentProvider.from_env(
        {
            "RIBAMBELLE_EOPAYMENT_BACKEND": "payfip_ws",
            "RIBAMBELLE_EOPAYMENT_OPTIONS": '{"numcli": "111111", "saisie": "W"}',
            "RIBAMBELLE_PAYFIP_SERVICE_URL": "http://127.0.0.1:1/securite",
        }
    )

    config = provider.config({"options": {"numcli": "222222"}}, notify_url="https://n/")

    assert config.backend == "payfip_ws"
    assert config.options["numcli"] == "222222"
    assert config.options["saisie"] == "W"
    assert config.options["automatic_return_url"] == "https://n/"
    assert config.service_url == "http://127.0.0.1:1/securite"
    provider.close()


def test_bad_options_in_the_environment_are_refused_at_start_up():
    with pytest.raises(ValueError, match="RIBAMBELLE_EOPAYMENT_OPTIONS"):
        EopaymentProvider.from_env({"RIBAMBELLE_EOPAYMENT_OPTIONS": "numcli=123456"})


async def test_no_backend_configured_is_a_provider_error(provider):
    with pytest.raises(ProviderError, match="no backend"):
        await provider.status("x", created_at=datetime.now(UTC), settings={})


# A signed backend that cannot be asked (systempayv2) ------------------------------------------

SYSTEMPAY_OPTIONS = {"site_id": "12345678", "secret_test": "1234567890123456"}


def systempay_notification(result: str = "00", **tamper: str) -> tuple[str, str]:
    backend = eopayment.Payment("systempayv2", SYSTEMPAY_OPTIONS).backend
    fields = {
        "vads_ctx_mode": "TEST",
        "vads_auth_result": result,
        "vads_result": result,
        "vads_trans_date": "20270301090000",
        "vads_trans_id": "abc123",
        "vads_amount": "1250",
        "vads_currency": "978",
        "vads_site_id": "12345678",
    }
    fields["signature"] = backend.signature(dict(fields))
    fields.update(tamper)
    return urlencode(fields), "20270301090000_abc123"


async def test_signed_notification_answers_the_status_asked_right_after(provider):
    settings = {"backend": "systempayv2", "options": SYSTEMPAY_OPTIONS}
    body, expected = systempay_notification()

    reference = provider.parse_notification(notification(body), settings)
    status = await provider.status(reference, created_at=datetime.now(UTC), settings=settings)

    assert reference == expected
    assert (status.state, status.amount_cents) == (ProviderState.PAID, 1250)
    assert "signature" not in status.details["bank_data"]


async def test_tampered_notification_is_refused_as_forbidden(provider):
    settings = {"backend": "systempayv2", "options": SYSTEMPAY_OPTIONS}
    body, _ = systempay_notification(vads_amount="1")

    with pytest.raises(BadNotification) as refused:
        provider.parse_notification(notification(body), settings)

    assert refused.value.status == 403


async def test_backend_that_cannot_be_asked_waits_for_its_notification(provider):
    settings = {"backend": "systempayv2", "options": SYSTEMPAY_OPTIONS}

    with pytest.raises(ProviderError, match="wait for its notification"):
        await provider.status(
            "20270301090000_zzz999", created_at=datetime.now(UTC), settings=settings
        )
