from django import forms

from .models import User


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
