"""Connecting X accounts: OAuth state (`oauth`), the connect flow and the account
lock (`connect`), stored tokens and their refresh (`tokens`), finding and ending a
connection (`connections`).

Services sit below `social.score` and `social.tasks` and import neither: the first
score after a connect is queued by the OAuth callback view.
"""

from .connect import (
    XAccountLocked,
    XAccountTaken,
    XConnectFailed,
    complete_x_connection,
    upsert_x_connection,
)
from .connections import (
    XReconnectRequired,
    disconnect_x_account,
    get_x_connection_for_user,
    require_reconnect,
)
from .oauth import (
    code_challenge_for,
    consume_oauth_state,
    create_oauth_state,
    get_code_verifier,
    is_bound_to_session,
    new_session_secret,
    purge_oauth_states,
    safe_redirect_path,
)
from .tokens import get_access_token, maybe_refresh_token, rotate_connection_tokens

__all__ = [
    "XAccountLocked",
    "XAccountTaken",
    "XConnectFailed",
    "XReconnectRequired",
    "code_challenge_for",
    "complete_x_connection",
    "consume_oauth_state",
    "create_oauth_state",
    "disconnect_x_account",
    "get_access_token",
    "get_code_verifier",
    "get_x_connection_for_user",
    "is_bound_to_session",
    "maybe_refresh_token",
    "new_session_secret",
    "purge_oauth_states",
    "require_reconnect",
    "rotate_connection_tokens",
    "safe_redirect_path",
    "upsert_x_connection",
]
