"""The ClickHouse store: one interface, two backends running the same SQL text.

- `EmbeddedStore` (chdb_backend): chDB, the ClickHouse engine in-process, data in a directory.
- `ServerStore` (server_backend): a ClickHouse server through clickhouse-connect.
"""

from postbacks.store.errors import StoreError, StoreQueryError
from postbacks.store.protocol import Params, Row, Store

__all__ = ["Params", "Row", "Store", "StoreError", "StoreQueryError"]
