from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from eth_utils import is_checksum_address, to_checksum_address

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def normalize_wallet_address(value: str) -> str:
    """Return the EIP-55 checksummed form of an EVM address, or raise ValidationError.

    All-lower or all-upper input carries no checksum and is accepted; mixed case must
    match its checksum, which catches most typos before BUX is minted to a wrong
    address.
    """
    value = value.strip()
    if not _HEX_ADDRESS.match(value):
        raise ValidationError(
            "Enter a valid wallet address: 0x followed by 40 hexadecimal characters.",
            code="invalid_wallet_address",
        )
    digits = value[2:]
    mixed_case = digits not in (digits.lower(), digits.upper())
    if mixed_case and not is_checksum_address(value):
        raise ValidationError(
            "This address's mix of capital letters does not match its checksum "
            "(EIP-55), so it probably has a typo. Check it, or paste it in lower "
            "case.",
            code="bad_wallet_checksum",
        )
    return to_checksum_address(value.lower())
