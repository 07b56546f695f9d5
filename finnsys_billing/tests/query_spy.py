from contextlib import contextmanager
from unittest.mock import patch

from odoo.sql_db import Cursor
from odoo.tools import SQL


@contextmanager
def recorded_queries():
    """The SQL text of every query run in the block, by any cursor of this process (the
    requests of an HttpCase too), as a list filled while the block runs."""
    queries = []
    execute = Cursor.execute

    def spy(cursor, query, params=None, log_exceptions=True):
        queries.append(query.code if isinstance(query, SQL) else query)
        return execute(cursor, query, params, log_exceptions)

    with patch.object(Cursor, "execute", spy):
        yield queries
