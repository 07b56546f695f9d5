"""Read replicas: read-only requests on the standby, and each session reads its own writes.

Odoo serves a route declared ``readonly`` from a read replica when ``db_replica_host`` is
set. A replica replays the primary's WAL a little later, so a customer who has just paid
could open the next page and see the invoice still open. FinnSys remembers, in the session,
the transaction id of the session's last write (``pg_current_xact_id_if_assigned()``, read
before the commit, no extra round trip when nothing was written) and serves that session's
read-only requests from the primary until the replica's snapshot shows that transaction as
finished (``pg_visible_in_snapshot``). Then the mark is dropped and the session reads from the
replica again. Without a replica configured none of this runs.
"""

import logging

import psycopg2

from odoo import models
from odoo.http import request
from odoo.tools import config

_logger = logging.getLogger(__name__)

LAST_WRITE_KEY = "finnsys_last_write_xid"


def served_from_replica(controller, rule, args):
    """``readonly`` of a route that only reads: served from a replica when one is configured.

    A callable, because Odoo refuses ``readonly=True`` on an override of a read/write route
    (``/my``, ``/my/invoices``); read-your-writes is added to every read-only route by
    :meth:`IrHttp._generate_routing_rules`.
    """
    return True


def replica_configured():
    return bool(config["db_replica_host"] or config["db_replica_port"])


def _own_writes_visible(readonly):
    """Wrap a route's ``readonly`` so that a session with a write the replica has not
    replayed yet is served from the primary."""

    def readonly_unless_own_write_pending(controller, rule, args):
        wanted = readonly(controller, rule, args) if callable(readonly) else readonly
        if not wanted or not replica_configured():
            return wanted
        return request.env["ir.http"]._finnsys_replica_has_session_writes()

    return readonly_unless_own_write_pending


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    @classmethod
    def _finnsys_replica_has_session_writes(cls):
        """Whether this session's last write is visible on the cursor of the request (the
        replica's, when Odoo could open one); drops the session's mark once it is."""
        xid = request.session.get(LAST_WRITE_KEY)
        cr = request.env.cr
        if not xid or not cr.readonly:
            return True
        try:
            cr.execute("SELECT pg_visible_in_snapshot(%s::xid8, pg_current_snapshot())", [xid])
            visible = cr.fetchone()[0]
        except psycopg2.Error:
            _logger.warning("cannot compare the replica with this session's last write")
            return False
        if visible:
            request.session.pop(LAST_WRITE_KEY, None)
        return visible

    @classmethod
    def _post_dispatch(cls, response):
        """Remember the transaction of a request that wrote, before Odoo saves the session."""
        cr = request.env.cr if request.db and request.env is not None else None
        if cr is not None and not cr.readonly and replica_configured():
            cr.execute("SELECT pg_current_xact_id_if_assigned()::text")
            xid = cr.fetchone()[0]
            if xid:
                request.session[LAST_WRITE_KEY] = xid
        return super()._post_dispatch(response)

    def _generate_routing_rules(self, modules, converters):
        for url, endpoint in super()._generate_routing_rules(modules, converters):
            readonly = endpoint.routing.get("readonly")
            if readonly:
                endpoint.routing = dict(endpoint.routing, readonly=_own_writes_visible(readonly))
            yield url, endpoint
