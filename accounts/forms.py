from django import forms

from .models import User
from .validators import normalize_wallet_address


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["display_name", "wallet_address"]
        labels = {"wallet_address": "Wallet address"}
        widgets = {
            "wallet_address": forms.TextInput(
                attrs={
                    "placeholder": "0x…",
                    "autocomplete": "off",
                    "spellcheck": "false",
                    "class": "mono",
                }
            )
        }

    def clean_wallet_address(self) -> str:
        value = self.cleaned_data["wallet_address"].strip()
        return normalize_wallet_address(value) if value else ""
