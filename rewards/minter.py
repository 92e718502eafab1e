"""The BUX minter service client: `POST /mint`, Bearer secret, Idempotency-Key; and
`GET /balance/:address`, a wallet's BUX on chain.

Every answer is sorted by what it proves (ORIGINAL-NOTES.md, "BUX minter service
API"): a receipt; a definite "not minted" (a refused connection, 401/403 for our
secret, a 400 validation refusal); or an unknown outcome (a 5xx, which the minter
also sends after a transaction it already sent, a proxy's 502/504, a timeout, a cut
answer), which only an idempotent minter lets us retry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from urllib.parse import quote

import httpx
from django.conf import settings

from blockster.tls import client_ssl_context

logger = logging.getLogger(__name__)


# The minter's 400 answers about the wallet: the reader can fix these in Settings.
WALLET_REFUSALS = ("walletAddress is required", "Invalid wallet address format")
# Bounds the minter's own words kept from an error answer; its body is never kept.
MAX_MESSAGE = 200


class MintError(Exception):
    """The minter definitely did not mint: safe to try again later."""

    def __init__(self, detail: str, *, status: int | None = None):
        super().__init__(detail)
        self.detail = detail
        self.status = status


class MintRefused(MintError):
    """The minter refused the request as invalid (400): it minted nothing, and the
    same request would be refused again."""

    def __init__(self, message: str):
        super().__init__(f"minter refused the mint (400): {message}", status=400)
        self.message = message

    @property
    def reader_can_fix(self) -> bool:
        return self.message.startswith(WALLET_REFUSALS)


class MintOutcomeUnknown(Exception):
    """The request may have reached the minter, and no answer proves what happened:
    BUX may or may not have been minted."""

    def __init__(self, detail: str, *, status: int | None = None):
        super().__init__(detail)
        self.detail = detail
        self.status = status


class BalanceUnavailable(Exception):
    """The minter gave no balance we can show: unreachable, too slow, refused, or an
    answer that is not a balance. A read: asking again later is always safe."""

    def __init__(self, detail: str, *, status: int | None = None):
        super().__init__(detail)
        self.detail = detail
        self.status = status


@dataclass(frozen=True)
class MintReceipt:
    transaction_hash: str


@dataclass(frozen=True)
class WalletBalance:
    address: str
    bux: Decimal


class MinterClient:
    def __init__(
        self,
        *,
        base_url: str,
        secret: str,
        connect_timeout: float,
        read_timeout: float,
        balance_timeout: float,
        transport: httpx.BaseTransport | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        # A page waits for the balance: its whole request is bounded, much tighter
        # than a mint, which waits for the chain's receipt.
        self._balance_timeout = httpx.Timeout(balance_timeout)
        self._http = httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            transport=transport,
            verify=client_ssl_context(),
        )

    def __repr__(self) -> str:
        return f"<MinterClient {self.base_url}>"

    @classmethod
    def from_settings(cls) -> MinterClient:
        return _client_for(
            settings.BUX_MINTER_URL,
            settings.BUX_MINTER_SECRET,
            settings.BUX_MINTER_CONNECT_TIMEOUT,
            settings.BUX_MINTER_READ_TIMEOUT,
            settings.BUX_MINTER_BALANCE_TIMEOUT,
        )

    def mint(
        self,
        *,
        wallet_address: str,
        amount: Decimal,
        user_id: int,
        post_id: int,
        idempotency_key: str,
    ) -> MintReceipt:
        payload = {
            "walletAddress": wallet_address,
            # The service expects a JSON number; rewards are whole BUX.
            "amount": int(amount) if amount == amount.to_integral() else float(amount),
            "userId": user_id,
            "postId": post_id,
        }
        headers = {
            "Authorization": f"Bearer {self._secret}",
            "Idempotency-Key": idempotency_key,
        }
        try:
            response = self._http.post(
                f"{self.base_url}/mint", json=payload, headers=headers
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # No connection, so nothing was sent.
            raise MintError(f"minter unreachable ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            # Sent, or partly sent, and no complete answer: the mint may have happened.
            raise MintOutcomeUnknown(
                f"no answer from the minter ({type(exc).__name__})"
            ) from None
        return _receipt(response)

    def balance(self, wallet_address: str) -> WalletBalance:
        """The wallet's BUX as the minter reads them on chain."""
        try:
            response = self._http.get(
                f"{self.base_url}/balance/{quote(wallet_address, safe='')}",
                headers={"Authorization": f"Bearer {self._secret}"},
                timeout=self._balance_timeout,
            )
        except httpx.HTTPError as exc:
            raise BalanceUnavailable(
                f"no balance from the minter ({type(exc).__name__})"
            ) from None
        return _wallet_balance(response, wallet_address)


def _receipt(response: httpx.Response) -> MintReceipt:
    try:
        body = response.json()
    except ValueError:
        body = None
    status = response.status_code
    if status == 400:
        raise MintRefused(_message(body))
    if status in (401, 403):
        raise MintError(
            f"minter refused our credentials ({status}): {_message(body)}; "
            "check BUX_MINTER_SECRET",
            status=status,
        )
    if status != 200:
        raise MintOutcomeUnknown(
            f"minter answered {status}: {_message(body)}", status=status
        )
    if not isinstance(body, dict) or body.get("success") is not True:
        raise MintOutcomeUnknown("minter answered 200 without success")
    tx_hash = body.get("transactionHash")
    if not isinstance(tx_hash, str) or not tx_hash.startswith("0x"):
        raise MintOutcomeUnknown("minter answered 200 without a transaction hash")
    return MintReceipt(tx_hash)


def _wallet_balance(response: httpx.Response, address: str) -> WalletBalance:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200:
        raise BalanceUnavailable(
            f"minter answered {response.status_code}: {_message(body)}",
            status=response.status_code,
        )
    # `balance` is ethers' formatEther of `balanceWei`: exact, in BUX.
    text = body.get("balance") if isinstance(body, dict) else None
    try:
        bux = Decimal(text) if isinstance(text, str) else None
    except ArithmeticError:
        bux = None
    if bux is None or not bux.is_finite() or bux < 0:
        raise BalanceUnavailable("minter answered 200 without a balance")
    return WalletBalance(address=address, bux=bux)


def _message(body: object) -> str:
    """The minter's `error` (and `details`) from a JSON error answer, bounded; any
    other body (a proxy's HTML page) is not kept."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return "no error message"
    message = body["error"]
    if isinstance(body.get("details"), str):
        message = f"{message} ({body['details']})"
    return message[:MAX_MESSAGE]


@cache
def _client_for(
    base_url: str, secret: str, connect: float, read: float, balance: float
) -> MinterClient:
    return MinterClient(
        base_url=base_url,
        secret=secret,
        connect_timeout=connect,
        read_timeout=read,
        balance_timeout=balance,
    )
