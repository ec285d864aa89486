"""The eopayment adapter: PayFiP (`payfip_ws`) and the other French providers eopayment speaks.

Each structure's `payment_settings` say which eopayment backend and options it uses, e.g.
`{"provider": "eopayment", "backend": "payfip_ws", "options": {"numcli": "123456",
"saisie": "T"}, "service_url": "https://…/tpa/services/securite", "email": "regie@ville.fr"}`,
merged over the process defaults (`from_env`). The adapter adds the return URLs eopayment wants.

eopayment is blocking (requests, zeep): every call runs on a small thread pool of our own,
bounded by `timeout`; whatever goes wrong becomes a `ProviderError`.

What each kind of backend can do here:

- backends that can be asked (`payment_status`: payfip_ws, saga, worldline): the notification
  only names the payment, `status` asks the provider. PayFiP's notifications are not signed.
- signed backends that cannot be asked (systempayv2/payzen, paybox, sips2, ogone…): the
  notification is verified with the structure's secret and its result kept a few minutes in
  this process, and `status` answers from it right after (the notification route calls
  `parse_notification` then `status`); otherwise `status` raises `ProviderError`.
- tipi: its notifications carry no signature and it cannot be asked: its results are never
  believed (use payfip_ws, its successor).
- payment pages: only backends answering with a URL (payfip_ws, tipi) can open a payment;
  backends answering with an HTML form to post (systempayv2, paybox, sips2) raise
  `ProviderError` until the app has a page that posts such forms.
- refunds: only sips2, whose `cancel` needs nothing but our reference (and only works until
  the bank's daily settlement); any other backend raises `RefundNotSupported`.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import parse_qs

import eopayment
import zeep
from eopayment.common import PaymentResponse
from eopayment.payfip_ws import PayFiP, PayFiPError

from booking.providers import (
    PaymentOrder,
    ProviderError,
    ProviderRedirect,
    ProviderState,
    ProviderStatus,
    RefundNotSupported,
)
from bot.payments.base import BadNotification, Notification

T = TypeVar("T")

DEFAULT_TIMEOUT = 15.0
PAYFIP = "payfip_ws"
#: eopayment refuses to build a backend without return URLs, even only to ask a status or
#: refund: there, where the payer would return is never used, so it is a reserved address.
NO_RETURN_URL = "https://return-url.invalid/"
PAYFIP_BINDING = (
    "{http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/"
    "contrat_paiement_securise/PaiementSecuriseService}PaiementSecuriseServicePortBinding"
)
IDOP_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")

RESULTS = {
    eopayment.PAID: ProviderState.PAID,
    # authorised, captured later by the bank without anything more from us
    eopayment.ACCEPTED: ProviderState.PAID,
    eopayment.DENIED: ProviderState.REFUSED,
    eopayment.CANCELLED: ProviderState.ABANDONED,
    eopayment.WAITING: ProviderState.PENDING,
    eopayment.RECEIVED: ProviderState.PENDING,
    eopayment.EXPIRED: ProviderState.EXPIRED,
}
#: Backends whose `cancel` can be called knowing only our reference: the bank data it needs.
CANCEL_BANK_DATA: dict[str, Callable[[str], dict[str, str]]] = {
    "sips2": lambda reference: {"transactionReference": reference},
}
#: Backends whose notifications are not signed although eopayment calls them so.
UNSIGNED = {"tipi"}
#: A verified notification answers `status` for this long (the route asks right after).
NOTIFIED_TTL = 600.0
NOTIFIED_MAX = 1000
AMOUNT_KEYS = ("montant", "vads_amount", "amount")  # cents, by backend
SECRET_KEYS = ("signature", "seal", "data", "hmac")


@dataclass(frozen=True)
class EopaymentConfig:
    """One structure's settings over the process defaults, ready for eopayment."""

    backend: str
    options: dict[str, Any]
    service_url: str | None = None
    email: str | None = None


class _ServiceAtClient(zeep.Client):
    """A zeep client whose default service is the WSDL's binding at another address."""

    def __init__(self, wsdl: str, address: str, **kwargs: Any) -> None:
        super().__init__(wsdl, **kwargs)
        self._service_at = self.create_service(PAYFIP_BINDING, address)

    @property
    def service(self) -> Any:
        return self._service_at


class PayFiPAt(PayFiP):
    """PayFiP's web service at `service_url` (eopayment 3.15 stores it but never uses it).

    The WSDL stays eopayment's bundled copy; without `service_url` the address it names
    (the real PayFiP) is used.
    """

    @property
    def client(self) -> zeep.Client:
        if not hasattr(self, "_client"):
            kwargs = self.zeep_client_kwargs or {}
            try:
                if self.service_url:
                    self._client = _ServiceAtClient(self.wsdl_url, self.service_url, **kwargs)
                else:
                    self._client = zeep.Client(self.wsdl_url, **kwargs)
            except Exception as error:
                raise PayFiPError("SOAP client", f"could not read the WSDL: {error}") from error
        return self._client


class EopaymentProvider:
    """The `PaymentProvider` for every eopayment backend, configured per structure."""

    name = "eopayment"

    def __init__(
        self,
        defaults: Mapping[str, Any] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_workers: int = 4,
    ) -> None:
        self.defaults: Mapping[str, Any] = dict(defaults or {})
        self.timeout = timeout
        # Our own threads: a provider that hangs must not starve the loop's default executor
        # (aiohttp resolves host names there).
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="eopayment")
        self._notified: OrderedDict[tuple[str, str], tuple[float, PaymentResponse]] = OrderedDict()

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, timeout: float = DEFAULT_TIMEOUT
    ) -> EopaymentProvider:
        """Defaults from `RIBAMBELLE_EOPAYMENT_BACKEND`, `RIBAMBELLE_EOPAYMENT_OPTIONS` (a JSON
        object) and `RIBAMBELLE_PAYFIP_SERVICE_URL`; all optional. Raises ValueError on bad
        JSON, at start-up rather than at the first payment."""
        defaults: dict[str, Any] = {}
        if backend := environ.get("RIBAMBELLE_EOPAYMENT_BACKEND", "").strip():
            defaults["backend"] = backend
        if raw := environ.get("RIBAMBELLE_EOPAYMENT_OPTIONS", "").strip():
            try:
                options = json.loads(raw)
            except json.JSONDecodeError as error:
                raise ValueError(f"RIBAMBELLE_EOPAYMENT_OPTIONS is not JSON: {error}") from None
            if not isinstance(options, dict):
                raise ValueError(
                    'RIBAMBELLE_EOPAYMENT_OPTIONS must be a JSON object, e.g. {"numcli": "123456"}'
                )
            defaults["options"] = options
        if service_url := environ.get("RIBAMBELLE_PAYFIP_SERVICE_URL", "").strip():
            defaults["service_url"] = service_url
        return cls(defaults, timeout=timeout)

    def close(self) -> None:
        """Let the threads go (calls still running finish on their own timeout)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    # The PaymentProvider protocol ----------------------------------------------------------

    async def create(self, order: PaymentOrder) -> ProviderRedirect:
        """Open the payment at the provider; only providers answering with a URL work."""
        config = self.config(
            order.settings, notify_url=order.notify_url, return_url=order.return_url
        )
        if order.currency != "EUR":
            raise ProviderError(
                f"eopayment: {order.currency} payments are not supported (EUR only)"
            )
        amount = (Decimal(order.amount_cents) / 100).quantize(Decimal("0.01"))
        email = order.email or config.email
        kwargs: dict[str, Any] = {
            "email": email,
            "orderid": order.order_id,
            "subject": order.items[0] if order.items else order.merchant,
        }
        if config.backend == PAYFIP:
            if not email:
                raise ProviderError(
                    "PayFiP needs the payer's e-mail: the household has none and the "
                    'structure\'s payment settings have no "email" to use instead'
                )
            # the order id becomes PayFiP's refdet, shown to the town's accountant
            kwargs.update(transaction_id=order.order_id, timeout=self.timeout)

        def request() -> tuple[Any, int, Any]:
            payment = self._payment(config)
            minimum = payment.get_minimal_amount()
            if minimum is not None and amount < minimum:
                raise ProviderError(
                    f"{config.backend}: {amount} € is below its minimum ({minimum} €)"
                )
            return payment.request(amount, **kwargs)

        reference, kind, data = await self._call(config.backend, "create", request)
        if kind != eopayment.URL:
            raise ProviderError(
                f"{config.backend} answers with an HTML form to post, not a URL: Ribambelle "
                "cannot send the payer there yet"
            )
        return ProviderRedirect(reference=str(reference), url=str(data))

    async def status(
        self, reference: str, *, created_at: datetime, settings: Mapping[str, Any]
    ) -> ProviderStatus:
        """Ask the provider, or for a backend that cannot be asked, read what its verified
        notification said a moment ago."""
        config = self.config(settings)
        if config.backend in UNSIGNED:
            raise ProviderError(
                f"{config.backend} cannot be asked and its notifications are not signed: "
                f"payment {reference} must be checked by hand (use payfip_ws instead)"
            )
        if not self._can_be_asked(config.backend):
            response = self._recall(config.backend, reference)
            if response is None:
                raise ProviderError(
                    f"{config.backend} cannot be asked about payment {reference}: "
                    "wait for its notification"
                )
            return _to_status(config.backend, response)
        kwargs: dict[str, Any] = {"transaction_date": created_at}
        if config.backend == PAYFIP:
            kwargs["timeout"] = self.timeout
        response = await self._call(
            config.backend,
            "status",
            lambda: self._payment(config).payment_status(reference, **kwargs),
        )
        return _to_status(config.backend, response)

    async def refund(
        self, reference: str, amount_cents: int, *, settings: Mapping[str, Any]
    ) -> None:
        """Only sips2 (cancel before the bank's settlement) can send money back."""
        config = self.config(settings)
        bank_data = CANCEL_BANK_DATA.get(config.backend)
        if bank_data is None:
            raise RefundNotSupported(f"{config.backend} cannot send money back through eopayment")
        amount = (Decimal(amount_cents) / 100).quantize(Decimal("0.01"))
        await self._call(
            config.backend,
            "refund",
            lambda: self._payment(config).cancel(amount, bank_data(reference)),
        )

    def parse_notification(self, notification: Notification, settings: Mapping[str, Any]) -> str:
        """The provider's reference of the payment notified; BadNotification when malformed
        (400) or when a backend that signs its notifications did not sign this one (403)."""
        body = _text(notification.body)
        try:
            backend = self._backend_of(settings) or _guess(notification, body)
            if backend == PAYFIP:  # not signed: only names the idOp, `status` asks PayFiP
                return _payfip_idop(body, notification.query_string)
            if self._can_be_asked(backend) or backend in UNSIGNED:
                return _guessed_reference(backend, notification, body)
            payment = self._payment(self.config(settings))
        except ProviderError as error:  # our configuration: nothing to verify it with
            raise BadNotification(f"cannot verify this notification: {error}", 403) from None
        content = (
            body if notification.method.upper() == "POST" and body else notification.query_string
        )
        try:
            response = payment.response(content)
        except Exception as error:  # eopayment's backends raise anything on foreign content
            raise BadNotification(f"unreadable {backend} notification: {error!r}") from None
        if not response.signed:
            raise BadNotification(f"{backend} notification not signed or tampered with", 403)
        reference = response.order_id or response.transaction_id
        if not reference:
            raise BadNotification(f"{backend} notification names no payment")
        self._remember(backend, str(reference), response)
        return str(reference)

    # Configuration ------------------------------------------------------------------------

    def config(
        self,
        settings: Mapping[str, Any],
        *,
        notify_url: str | None = None,
        return_url: str | None = None,
    ) -> EopaymentConfig:
        """The structure's settings over the defaults. The defaults' options, service URL and
        e-mail apply only when the structure names no backend or the same one."""
        backend = self._backend_of(settings)
        if not backend:
            raise ProviderError(
                'eopayment: no backend configured (the structure\'s "backend" or '
                "RIBAMBELLE_EOPAYMENT_BACKEND)"
            )
        same = backend == self.defaults.get("backend") or not settings.get("backend")
        layers = [self.defaults, settings] if same else [settings]
        options: dict[str, Any] = {}
        service_url = email = None
        for layer in layers:
            layer_options = layer.get("options") or {}
            if not isinstance(layer_options, Mapping):
                raise ProviderError('eopayment: "options" must be a mapping')
            options.update(layer_options)
            service_url = layer.get("service_url") or service_url
            email = layer.get("email") or email
        options["automatic_return_url"] = (
            notify_url or options.get("automatic_return_url") or NO_RETURN_URL
        )
        options["normal_return_url"] = (
            return_url or options.get("normal_return_url") or NO_RETURN_URL
        )
        return EopaymentConfig(backend, options, service_url, email)

    def _backend_of(self, settings: Mapping[str, Any]) -> str | None:
        backend = settings.get("backend") or self.defaults.get("backend")
        return str(backend) if backend else None

    def _payment(self, config: EopaymentConfig) -> eopayment.Payment:
        try:
            payment = eopayment.Payment(config.backend, config.options)
        except ImportError:
            raise ProviderError(f"eopayment has no backend {config.backend!r}") from None
        if config.backend == PAYFIP:
            payment.backend.payfip = PayFiPAt(service_url=config.service_url)
        return payment

    @staticmethod
    def _can_be_asked(backend: str) -> bool:
        try:
            return hasattr(eopayment.get_backend(backend), "payment_status")
        except ImportError:
            raise ProviderError(f"eopayment has no backend {backend!r}") from None

    # Threads and timeouts --------------------------------------------------------------------

    async def _call(self, backend: str, what: str, blocking: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(self._executor, blocking), self.timeout
            )
        except ProviderError:
            raise
        except TimeoutError:
            raise ProviderError(f"{backend} {what}: no answer within {self.timeout:g} s") from None
        except PayFiPError as error:
            raise ProviderError(
                f"{backend} {what}: PayFiP error {error.code}: {error.message}"
            ) from error
        except Exception as error:  # eopayment raises anything: ValueError, requests', zeep's…
            raise ProviderError(f"{backend} {what} failed: {error!r}") from error

    # Verified notifications of backends that cannot be asked ---------------------------------

    def _remember(self, backend: str, reference: str, response: PaymentResponse) -> None:
        self._notified[(backend, reference)] = (time.monotonic(), response)
        self._notified.move_to_end((backend, reference))
        while len(self._notified) > NOTIFIED_MAX:
            self._notified.popitem(last=False)

    def _recall(self, backend: str, reference: str) -> PaymentResponse | None:
        at, response = self._notified.get((backend, reference), (0.0, None))
        if response is None or time.monotonic() - at > NOTIFIED_TTL:
            return None
        return response


def _to_status(backend: str, response: PaymentResponse) -> ProviderStatus:
    state = RESULTS.get(response.result)
    if state is None:
        raise ProviderError(
            f"{backend} answered {eopayment.STATUS_NAME.get(response.result, response.result)}: "
            f"{response.bank_status}"
        )
    bank_data = response.bank_data or {}
    amount = _amount_cents(bank_data)
    details: dict[str, Any] = {
        "backend": backend,
        "result": eopayment.STATUS_NAME.get(response.result, str(response.result)),
        "bank_status": str(response.bank_status or ""),
    }
    if response.transaction_id:
        details["transaction_id"] = str(response.transaction_id)
    if response.test:
        details["test"] = True
    details["bank_data"] = _small(bank_data)
    return ProviderStatus(
        state,
        amount_cents=amount,
        currency="EUR" if amount is not None else None,  # we open EUR payments only
        details=details,
    )


def _first(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def _amount_cents(bank_data: Mapping[str, Any]) -> int | None:
    for key in AMOUNT_KEYS:
        value = _first(bank_data.get(key))
        if value is not None and str(value).strip().isdigit():
            return int(str(value).strip())
    return None


def _small(bank_data: Mapping[str, Any]) -> dict[str, str]:
    """The bank's data as short strings for the staff, without signatures or sealed blobs."""
    small: dict[str, str] = {}
    for key, value in list(bank_data.items())[:40]:
        if any(secret in str(key).lower() for secret in SECRET_KEYS):
            continue
        value = _first(value)
        if value is not None:
            small[str(key)] = str(value)[:120]
    return small


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadNotification("notification body is not UTF-8") from None


def _payfip_idop(body: str, query: str) -> str:
    for content in (body, query):
        fields = parse_qs(content)
        values = fields.get("idOp") or fields.get("idop")
        if values:
            if not IDOP_RE.match(values[0]):
                raise BadNotification("PayFiP notification with a malformed idOp")
            return values[0]
    raise BadNotification("PayFiP notification without idOp")


def _guess(notification: Notification, body: str) -> str:
    try:
        backend, _ = eopayment.Payment.guess(
            method=notification.method, query_string=notification.query_string, body=body
        )
    except Exception:  # guess re-raises whatever a backend's own guess raised
        raise BadNotification("notification of no known eopayment backend") from None
    return backend


def _guessed_reference(backend: str, notification: Notification, body: str) -> str:
    guess = getattr(eopayment.get_backend(backend), "guess", None)
    reference = None
    if guess is not None:
        try:
            reference = guess(
                method=notification.method,
                query_string=notification.query_string,
                body=body,
                headers=notification.headers,
            )
        except Exception:  # a backend's guess may fail on foreign content
            reference = None
    if not reference:
        raise BadNotification(f"{backend} notification names no payment")
    return str(reference)
