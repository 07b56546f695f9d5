"""Shared by the reliability tests: JSON-RPC calls, refusal checks and record counts.

Imported by plain name: pytest puts this folder (it has no ``__init__.py``) on ``sys.path``.
"""

import json
from typing import NamedTuple

from odoo.tools import config

from odoo.addons.finnsys_billing_portal.tests.portal_common import BillingPortalCommon

# The records a payment route may create: none of them may appear when it refuses.
WATCHED_MODELS = (
    "payment.transaction",
    "account.payment",
    "finnsys.surcharge.consent",
    "finnsys.login.code",
)
# Exceptions of a JSON-RPC error that are refusals with a message for the user; any other
# (TypeError, KeyError...) is a server error, whatever the status.
USER_ERROR_PREFIXES = ("odoo.exceptions.", "werkzeug.exceptions.", "odoo.http.", "http.4")
# Exceptions of a JSON-RPC error that mean "not yours" (NotFound also sets code 404).
NOT_FOUND_NAMES = {
    "werkzeug.exceptions.NotFound",
    "werkzeug.exceptions.Forbidden",
    "odoo.exceptions.AccessError",
    "odoo.exceptions.MissingError",
}
FINNSYS_MODULES = ("odoo.addons.finnsys_billing.", "odoo.addons.finnsys_billing_portal.")


class Route(NamedTuple):
    rule: str
    routing: dict


def finnsys_rules(env):
    """The routes whose endpoint the FinnSys addons define or override (an override anywhere
    in the controller's class hierarchy counts), as ``ir.http.routing_map()`` builds them."""
    IrHttp = env["ir.http"]
    modules = sorted(env.registry._init_modules | set(config["server_wide_modules"]))
    routes = []
    for url, endpoint in IrHttp._generate_routing_rules(modules, IrHttp._get_converters()):
        method = endpoint.func
        owners = [
            cls.__module__ for cls in type(method.__self__).mro() if method.__name__ in cls.__dict__
        ]
        if any(owner.startswith(FINNSYS_MODULES) for owner in owners):
            routes.append(Route(url, endpoint.routing))
    return sorted(routes, key=lambda route: route.rule)


def jsonrpc_error(response):
    """The ``error`` member of a JSON-RPC reply, or None (not JSON, or a result)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def assert_client_error_or_friendly_rpc_error(case, response, context=""):
    """The request was refused as bad input: HTTP 4xx, or a JSON-RPC error with a message.

    The portal's JSON routes moved from HTTP-200 JSON-RPC errors to real 4xx statuses; the
    200 + JSON-RPC error branch below is kept for the routes that still answer so, and is the
    one place to drop to require a 4xx everywhere. A 5xx, a server error (TypeError...), a
    traceback or a result is a failure.
    """
    if 400 <= response.status_code < 500:
        return
    case.assertEqual(response.status_code, 200, f"{context}: {response.text[:300]}")
    error = jsonrpc_error(response)
    case.assertTrue(error, f"{context}: the request was accepted: {response.text[:300]}")
    data = error.get("data") or {}
    case.assertTrue(
        str(data.get("name")).startswith(USER_ERROR_PREFIXES),
        f"{context}: a server error, not a refusal: {data.get('name')}: {data.get('message')}",
    )
    message = data.get("message") or ""
    case.assertTrue(message.strip(), f"{context}: error without a message: {error}")
    case.assertNotIn("Traceback", message, f"{context}: a traceback is no message")


def assert_not_found_or_forbidden(case, response, context=""):
    """Someone else's record: 403/404 (HTTP status or JSON-RPC error), nothing else."""
    if response.status_code in (403, 404):
        return
    error = jsonrpc_error(response)
    case.assertTrue(
        error, f"{context}: HTTP {response.status_code} instead of 403/404: {response.text[:300]}"
    )
    name = (error.get("data") or {}).get("name")
    case.assertTrue(
        error.get("code") == 404 or name in NOT_FOUND_NAMES,
        f"{context}: refused, but not as 403/404: {error}",
    )


class ReliabilityPortalCase(BillingPortalCommon):
    """Portal customers A (``pp_user``) and B (``other_user``), with JSON-RPC and count helpers."""

    watched_models = WATCHED_MODELS

    def _jsonrpc(self, url, params):
        return self.url_open(
            url,
            data=json.dumps({"jsonrpc": "2.0", "method": "call", "id": 1, "params": params}),
            headers={"Content-Type": "application/json"},
            allow_redirects=False,
        )
