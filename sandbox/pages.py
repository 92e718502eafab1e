"""The sandbox's HTML: the consent page, the error page and the index page.

Small string templates; every value is escaped with `html.escape`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape

from sandbox.config import SCOPE_WORDS
from sandbox.state import Account

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;background:#f5f8fa;
color:#0f1419;margin:0;padding:2rem 1rem}
main{max-width:34rem;margin:0 auto;background:#fff;border-radius:16px;padding:2rem;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.4rem;margin:.2rem 0 1rem}
.badge{display:inline-block;font-size:.75rem;background:#fde68a;color:#713f12;
border-radius:999px;padding:.1rem .6rem}
ul.scopes{padding-left:1.2rem;line-height:1.5}
fieldset{border:1px solid #cfd9de;border-radius:12px;padding:.5rem 1rem;margin:1rem 0}
label.account{display:flex;gap:.7rem;align-items:flex-start;padding:.5rem 0;
cursor:pointer}
label.account small{color:#536471;display:block}
.actions{display:flex;gap:.8rem;margin-top:1.2rem}
button{font:inherit;font-weight:600;border-radius:999px;padding:.6rem 1.4rem;
cursor:pointer;border:1px solid #0f1419}
button.primary{background:#0f1419;color:#fff}
button.secondary{background:#fff;color:#0f1419}
.error{color:#b91c1c}
table{border-collapse:collapse;width:100%;font-size:.9rem}
td,th{text-align:left;padding:.3rem .4rem;border-bottom:1px solid #eff3f4}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def consent_page(
    *, app_name: str, scopes: Iterable[str], accounts: Sequence[Account],
    params: Mapping[str, str], preselected: str,
) -> str:  # fmt: skip
    """`preselected`: the key of the account checked at first (the first account
    when there is none by that key)."""
    hidden = "".join(
        f"<input type='hidden' name='{escape(k)}' value='{escape(v)}'>"
        for k, v in params.items()
    )
    scope_items = "".join(
        f"<li>{escape(SCOPE_WORDS[s])} <small>({escape(s)})</small></li>"
        for s in scopes
    )
    keys = [account.key for account in accounts]
    checked = preselected if preselected in keys else keys[0] if keys else ""
    choices = "".join(
        _account_choice(account, checked=account.key == checked) for account in accounts
    )
    body = (
        "<span class='badge'>X sandbox</span>"
        f"<h1>{escape(app_name)} wants to access your X account</h1>"
        f"<p>{escape(app_name)} will be able to:</p>"
        f"<ul class='scopes'>{scope_items}</ul>"
        "<form method='post' action='/i/oauth2/authorize'>"
        f"{hidden}<fieldset><legend>Sign in as</legend>{choices}</fieldset>"
        "<div class='actions'>"
        "<button class='primary' name='decision' value='authorize'>Authorize app"
        "</button>"
        "<button class='secondary' name='decision' value='cancel'>Cancel</button>"
        "</div></form>"
    )
    return _page(f"Authorize {app_name}", body)


def _account_choice(account: Account, *, checked: bool) -> str:
    m = account.public_metrics()
    return (
        "<label class='account'>"
        f"<input type='radio' name='account' value='{escape(account.key)}'"
        f"{' checked' if checked else ''}>"
        f"<span><strong>{escape(account.name)}</strong> @{escape(account.username)}"
        f"<small>{m['followers_count']:,} followers · {m['following_count']:,} "
        f"following · {m['tweet_count']:,} posts · joined "
        f"{escape(account.created_at[:10])}</small></span></label>"
    )


def error_page(message: str) -> str:
    body = (
        "<span class='badge'>X sandbox</span><h1>Something went wrong</h1>"
        "<p>You weren't able to give access to the App. Go back and try logging in "
        "again.</p>"
        f"<p class='error'>{escape(message)}</p>"
    )
    return _page("X sandbox: error", body)


def index_page(accounts: Iterable[Account], base_url: str) -> str:
    rows = "".join(
        f"<tr><td>{escape(a.key)}</td><td>@{escape(a.username)}</td>"
        f"<td>{escape(a.id)}</td><td>{a.followers_count:,}</td>"
        f"<td>{a.tweet_count:,}</td></tr>"
        for a in accounts
    )
    body = (
        "<span class='badge'>X sandbox</span><h1>Emulated X and BUX minter</h1>"
        "<p>OAuth: <code>/i/oauth2/authorize</code>, <code>/2/oauth2/token</code>. "
        "API v2 under <code>/2/</code>. Minter under <code>/minter/</code>. "
        f"State: <a href='{escape(base_url)}/_control/state'>/_control/state</a>. "
        "See docs/sandbox.md.</p>"
        "<table><tr><th>key</th><th>username</th><th>id</th><th>followers</th>"
        f"<th>posts</th></tr>{rows}</table>"
    )
    return _page("X sandbox", body)


def avatar_svg(account: Account) -> str:
    initials = "".join(part[0] for part in account.name.split()[:2]).upper()
    hue = int(account.id[-3:]) % 360
    return (
        "<svg xmlns='http://www.w3.org/2000/svg' width='96' height='96' "
        "viewBox='0 0 96 96'>"
        f"<circle cx='48' cy='48' r='48' fill='hsl({hue},55%,45%)'/>"
        "<text x='48' y='58' font-family='sans-serif' font-size='34' fill='#fff' "
        f"text-anchor='middle'>{escape(initials)}</text></svg>"
    )
