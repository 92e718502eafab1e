from __future__ import annotations

from django import forms

from .reasons import MAX_FAILURE_REASON


class MarkFailedForm(forms.Form):
    reason = forms.CharField(
        max_length=MAX_FAILURE_REASON,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why this reward will not be minted; kept on the reward.",
    )


class RecordMintForm(forms.Form):
    tx_hash = forms.RegexField(
        label="Transaction hash",
        regex=r"^0x[0-9a-fA-F]{64}$",
        error_messages={
            "invalid": "Enter the 0x-prefixed, 64-hex-digit transaction hash."
        },
        widget=forms.TextInput(attrs={"size": 70, "spellcheck": "false"}),
        help_text="The minter's record of this reward's mint.",
    )
