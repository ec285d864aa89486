"""A local stand-in for PayFiP's SOAP web service `PaiementSecuriseService`, on aiohttp.

It answers what eopayment's bundled WSDL describes (document/literal, the request and response
fields unqualified, faults as JAX-WS sends them) for the two operations Ribambelle uses:

- `creerPaiementSecurise`: remembers the payment and returns a new `idOp`;
- `recupererDetailPaiementSecurise`: the payment's details (`resultrans` P, R or A, with the
  transaction's date and time in Paris), or the `FonctionnelleErreur` fault P5 (result not
  known yet) while the payer has not finished, P1 for an unknown idOp.

Tests drive it with `set_result`, `forget`, `fail_next` (technical faults), `slow` and `hang`
(answers late, for timeouts), `notify` (PayFiP's call to `urlnotif`) and read `calls`.

    async with PayFiPStandIn() as payfip:
        settings = {"backend": "payfip_ws", "options": {...}, "service_url": payfip.service_url}
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

PARIS = ZoneInfo("Europe/Paris")
PATH = "/tpa/services/securite"
NS = (
    "http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/"
    "contrat_paiement_securise/PaiementSecuriseService"
)
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
FAULT_PREFIX = "fr.gouv.finances.cp.tpa.webservice.exceptions."
CREATE = "creerPaiementSecurise"
DETAIL = "recupererDetailPaiementSecurise"
#: Field order of RecupererDetailPaiementSecuriseResponse in the XSD.
DETAIL_FIELDS = (
    "dattrans",
    "exer",
    "heurtrans",
    "idOp",
    "mel",
    "montant",
    "numauto",
    "numcli",
    "objet",
    "refdet",
    "resultrans",
    "saisie",
)
CREATE_FIELDS = (
    "exer",
    "mel",
    "montant",
    "numcli",
    "objet",
    "refdet",
    "saisie",
    "urlnotif",
    "urlredirect",
)
ERRORS = {
    "P1": "IdOp incorrect.",
    "P5": "Résultat de la transaction non connu.",
}


@dataclass
class Operation:
    """One payment opened at the stand-in (one idOp)."""

    idop: str
    fields: dict[str, str]  # what creerPaiementSecurise received: numcli, montant, refdet…
    result: str | None = None  # resultrans: P paid, R refused, A abandoned; None not known yet
    at: datetime | None = None  # the transaction's time reported (dattrans, heurtrans)
    numauto: str = ""

    def __getattr__(self, name: str) -> str:
        try:
            return self.__dict__["fields"][name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class Call:
    operation: str
    fields: dict[str, str]
    at: float = field(default_factory=time.monotonic)


class PayFiPStandIn:
    """PayFiP's SOAP service on 127.0.0.1, on a free port."""

    def __init__(self, *, transaction_age: timedelta = timedelta(minutes=10)) -> None:
        # eopayment reads A as "still waiting" for 2 minutes after the transaction's time
        # (the real wall clock): by default the stand-in reports transactions 10 minutes old.
        self.transaction_age = transaction_age
        self.operations: dict[str, Operation] = {}
        self.calls: list[Call] = []
        self.delay = 0.0
        self._failures = 0
        self._numauto = itertools.count(100001)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> str:
        """Listen; returns the service URL (what `service_url` takes)."""
        app = web.Application()
        app.router.add_post(PATH, self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.service_url

    async def close(self) -> None:
        self._closing.set()  # hanging answers give up now
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> PayFiPStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def service_url(self) -> str:
        return self.url + PATH

    # -- test controls -----------------------------------------------------------------------

    def set_result(self, idop: str, result: str | None, *, at: datetime | None = None) -> None:
        """The payer's outcome: "P", "R", "A", or None (P5, not known yet); `at` the
        transaction's time (default: `transaction_age` ago)."""
        operation = self.operations[idop]
        operation.result = result
        operation.at = at or datetime.now(PARIS) - self.transaction_age
        operation.numauto = str(next(self._numauto)) if result == "P" else ""

    def forget(self, idop: str) -> None:
        """PayFiP's nightly clean-up: the idOp becomes unknown (P1)."""
        self.operations.pop(idop, None)

    def fail_next(self, n: int = 1) -> None:
        """The next `n` calls answer a technical fault (TechIndisponibiliteErreur)."""
        self._failures += n

    def slow(self, seconds: float) -> None:
        """Every answer comes `seconds` late (0: on time again)."""
        self.delay = seconds

    def hang(self) -> None:
        """Answers come after a minute (or when the stand-in closes): a provider gone silent."""
        self.delay = 60.0

    def call_count(self, operation: str | None = None) -> int:
        return sum(1 for call in self.calls if operation in (None, call.operation))

    @property
    def last(self) -> Operation:
        return list(self.operations.values())[-1]

    async def notify(self, idop: str) -> int:
        """PayFiP's notification: POST `idOp=…` to the payment's `urlnotif`; the HTTP status."""
        async with aiohttp.ClientSession() as client:
            async with client.post(
                self.operations[idop].urlnotif,
                data={"idOp": idop},
                timeout=aiohttp.ClientTimeout(total=10),
            ) as response:
                return response.status

    # -- SOAP ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            operation, fields = _parse(await request.read())
        except (ET.ParseError, ValueError) as error:
            return _fault("Client", f"malformed request: {error}", status=500)
        self.calls.append(Call(operation, fields))
        if self.delay:
            try:
                await asyncio.wait_for(self._closing.wait(), self.delay)
            except TimeoutError:
                pass
        if self._failures:
            self._failures -= 1
            return _functional_fault("TechIndisponibiliteErreur", "T1", "Service indisponible.")
        if operation == CREATE:
            return self._create(fields)
        if operation == DETAIL:
            return self._detail(fields.get("idOp", ""))
        return _fault("Client", f"unknown operation {operation}", status=500)

    def _create(self, fields: dict[str, str]) -> web.Response:
        idop = str(uuid.uuid4())
        self.operations[idop] = Operation(idop, {k: fields.get(k, "") for k in CREATE_FIELDS})
        return _envelope(
            f"<ns2:{CREATE}Response xmlns:ns2='{NS}'><return>"
            f"<idOp>{idop}</idOp></return></ns2:{CREATE}Response>"
        )

    def _detail(self, idop: str) -> web.Response:
        operation = self.operations.get(idop)
        if operation is None:
            return _functional_fault("FonctionnelleErreur", "P1", ERRORS["P1"])
        if operation.result is None:
            return _functional_fault("FonctionnelleErreur", "P5", ERRORS["P5"])
        at = (operation.at or datetime.now(PARIS)).astimezone(PARIS)
        values = {
            **operation.fields,
            "dattrans": at.strftime("%d%m%Y"),
            "heurtrans": at.strftime("%H%M"),
            "idOp": idop,
            "numauto": operation.numauto,
            "resultrans": operation.result,
        }
        body = "".join(
            f"<{name}>{escape(values[name])}</{name}>" for name in DETAIL_FIELDS if values[name]
        )
        return _envelope(
            f"<ns2:{DETAIL}Response xmlns:ns2='{NS}'><return>{body}</return></ns2:{DETAIL}Response>"
        )


def _parse(payload: bytes) -> tuple[str, dict[str, str]]:
    """The operation and the fields of its `arg0`, namespaces dropped."""
    root = ET.fromstring(payload)
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None or len(body) == 0:
        raise ValueError("no SOAP body")
    call = body[0]
    if not call.tag.startswith(f"{{{NS}}}"):
        raise ValueError(f"unexpected element {call.tag}")
    fields: dict[str, str] = {}
    for arg in call:
        for child in arg:
            fields[child.tag.rpartition("}")[2]] = child.text or ""
    return call.tag.rpartition("}")[2], fields


def _envelope(body: str, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        content_type="text/xml",
        charset="utf-8",
        text=f"<?xml version='1.0' encoding='UTF-8'?><S:Envelope xmlns:S='{SOAP_ENV}'>"
        f"<S:Body>{body}</S:Body></S:Envelope>",
    )


def _fault(code: str, message: str, *, detail: str = "", status: int = 500) -> web.Response:
    return _envelope(
        f"<S:Fault><faultcode>S:{code}</faultcode><faultstring>{escape(message)}</faultstring>"
        f"{detail}</S:Fault>",
        status=status,
    )


def _functional_fault(kind: str, code: str, label: str) -> web.Response:
    return _fault(
        "Server",
        FAULT_PREFIX + kind,
        detail=f"<detail><ns2:{kind} xmlns:ns2='{NS}'><code>{code}</code>"
        f"<descriptif>{escape(label)}</descriptif><libelle>{escape(label)}</libelle>"
        f"<severite>2</severite></ns2:{kind}></detail>",
    )
