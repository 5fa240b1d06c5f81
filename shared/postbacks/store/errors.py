"""Store errors, whatever the backend.

StoreError            the store cannot be reached or used
└── StoreQueryError   ClickHouse refused one statement (bad SQL, bad parameter)
"""


class StoreError(Exception):
    pass


class StoreQueryError(StoreError):
    pass
