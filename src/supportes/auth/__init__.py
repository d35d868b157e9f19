"""Authentication and authorization (design section 8); no HTTP framework in here.

- :mod:`~supportes.auth.principal`: roles, :class:`Principal`, :class:`AuthenticationError`.
- :mod:`~supportes.auth.policy`: the role table and every who-may-do-what decision.
- :mod:`~supportes.auth.oidc`: OIDC access tokens (JWT against a JWKS).
- :mod:`~supportes.auth.api_tokens`: API tokens in ``auth.api_tokens``.
- :mod:`~supportes.auth.authenticator`: ``Authorization`` header -> principal.
"""

from supportes.auth.api_tokens import (
    IssuedToken,
    TokenInfo,
    create_token,
    list_tokens,
    revoke_token,
    verify_token,
)
from supportes.auth.authenticator import Authenticator, bearer_token, oidc_configured
from supportes.auth.oidc import OidcVerifier, principal_from_claims
from supportes.auth.policy import (
    ROLE_TABLE,
    Action,
    Attested,
    Forbidden,
    Grant,
    Scope,
    actor_of,
    allows,
    allows_command,
    case_visible,
    case_writable,
    may_set_issued_at,
    read_scope,
    require,
    require_command,
    require_intake,
    require_own_customer,
    role_table_markdown,
)
from supportes.auth.principal import (
    AuthenticationError,
    AuthenticationUnavailableError,
    Principal,
    Reason,
    Role,
)

__all__ = [
    "ROLE_TABLE",
    "Action",
    "Attested",
    "AuthenticationError",
    "AuthenticationUnavailableError",
    "Authenticator",
    "Forbidden",
    "Grant",
    "IssuedToken",
    "OidcVerifier",
    "Principal",
    "Reason",
    "Role",
    "Scope",
    "TokenInfo",
    "actor_of",
    "allows",
    "allows_command",
    "bearer_token",
    "case_visible",
    "case_writable",
    "create_token",
    "list_tokens",
    "may_set_issued_at",
    "oidc_configured",
    "principal_from_claims",
    "read_scope",
    "require",
    "require_command",
    "require_intake",
    "require_own_customer",
    "revoke_token",
    "role_table_markdown",
    "verify_token",
]
