"""The BUX minter service: mint to a wallet, read a balance.

Errors and statuses are the real service's (ORIGINAL-NOTES.md). Unlike the real one it
honours `Idempotency-Key` by default: a key that already minted gets the first answer
again and nothing more is minted. A call that minted nothing (a validation error, an
injected fault before the mint) does not claim its key, so the retry mints. With
`minter_ignores_idempotency_key` (`run_sandbox --minter-ignores-idempotency-key`, or the
control API's config) it behaves as the real service: every accepted call mints. The
key is still recorded with each mint, so tests can tell which reward a mint was for.
"""

from __future__ import annotations

import hmac
import re
import secrets
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.responses import JSONResponse, Response

from sandbox.core import Ctx, RouteSpec
from sandbox.state import Mint

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
WEI = Decimal(10) ** 18


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _auth_error(ctx: Ctx) -> JSONResponse | None:
    scheme, _, secret = ctx.request.headers.get("authorization", "").partition(" ")
    if scheme != "Bearer" or not secret:
        return _error(401, "Missing or invalid authorization header")
    if not hmac.compare_digest(secret, ctx.sandbox.config.minter_secret):
        return _error(403, "Invalid API secret")
    return None


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount <= 0:
        return None
    return amount


def format_ether(wei: int) -> str:
    """ethers' formatEther: at least one decimal, no trailing zeros beyond it."""
    whole, fraction = divmod(wei, 10**18)
    digits = f"{fraction:018d}".rstrip("0") or "0"
    return f"{whole}.{digits}"


async def mint(ctx: Ctx) -> Response:
    error = _auth_error(ctx)
    if error is not None:
        return error
    key = ctx.request.headers.get("idempotency-key")
    honours_key = not ctx.runtime.minter_ignores_idempotency_key
    if honours_key and key and key in ctx.state.idempotency:
        first = ctx.state.idempotency[key]
        return JSONResponse(
            first["body"],
            status_code=first["status"],
            headers={"idempotent-replayed": "true"},
        )
    body = await ctx.json()
    if not isinstance(body, dict):
        return _error(400, "Invalid JSON body")
    if not body.get("walletAddress"):
        return _error(400, "walletAddress is required")
    amount = _amount(body.get("amount"))
    if amount is None:
        return _error(400, "amount must be a positive number")
    address = str(body["walletAddress"])
    if not ADDRESS.match(address):
        return _error(400, "Invalid wallet address format")
    answer = _record_mint(ctx, address, amount, body, key)
    if honours_key and key:
        ctx.state.idempotency[key] = {"status": 200, "body": answer}
    return JSONResponse(answer)


def _record_mint(
    ctx: Ctx, address: str, amount: Decimal, body: dict[str, Any], key: str | None
) -> dict[str, Any]:
    state = ctx.state
    state.block_number += 1 + secrets.randbelow(3)
    balance = int(state.balances.get(address.lower(), "0")) + int(amount * WEI)
    state.balances[address.lower()] = str(balance)
    record = Mint(
        transaction_hash="0x" + secrets.token_hex(32),
        block_number=state.block_number,
        wallet_address=address,
        amount=str(amount),
        user_id=body.get("userId"),
        post_id=body.get("postId"),
        idempotency_key=key,
        at=ctx.now(),
    )
    state.mints.append(record)
    return {
        "success": True,
        "transactionHash": record.transaction_hash,
        "blockNumber": record.block_number,
        "walletAddress": address,
        "amountMinted": _number(amount),
        "newBalance": format_ether(balance),
        "userId": record.user_id,
        "postId": record.post_id,
    }


def _number(amount: Decimal) -> int | float:
    return int(amount) if amount == amount.to_integral_value() else float(amount)


async def balance(ctx: Ctx) -> Response:
    error = _auth_error(ctx)
    if error is not None:
        return error
    address = ctx.param("address")
    if not ADDRESS.match(address):
        return _error(400, "Invalid wallet address format")
    wei = int(ctx.state.balances.get(address.lower(), "0"))
    return JSONResponse(
        {"address": address, "balance": format_ether(wei), "balanceWei": str(wei)}
    )


ROUTES = [
    RouteSpec("POST", "/minter/mint", mint, "minter"),
    RouteSpec("GET", "/minter/balance/:address", balance, "minter"),
]
