"""The X API v2 client (`XApiClient`), the errors it raises and the shapes it returns.

`client`: the calls and their retry loop; `errors`: one typed error per failure;
`parsing`: X's answers as dataclasses; `rate_limits`: X's rate-limit windows in Redis.
"""

from .client import XApiClient
from .errors import (
    XApiError,
    XBadRequest,
    XCreditsDepleted,
    XForbidden,
    XNotFound,
    XOAuthError,
    XRateLimited,
    XResponseError,
    XTransportError,
    XUnauthorized,
    XUnavailable,
)
from .parsing import (
    PublicMetrics,
    ScoreData,
    ShareResult,
    TokenSet,
    XTweet,
    XTweetCard,
    XUser,
    parse_time,
    parse_token_set,
)

__all__ = [
    "PublicMetrics",
    "ScoreData",
    "ShareResult",
    "TokenSet",
    "XApiClient",
    "XApiError",
    "XBadRequest",
    "XCreditsDepleted",
    "XForbidden",
    "XNotFound",
    "XOAuthError",
    "XRateLimited",
    "XResponseError",
    "XTransportError",
    "XUnauthorized",
    "XUnavailable",
    "XTweet",
    "XTweetCard",
    "XUser",
    "parse_time",
    "parse_token_set",
]
