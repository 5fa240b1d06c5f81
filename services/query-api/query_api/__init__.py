"""The query-api: filtered reads of the attempt log, postback configurations, the pages."""
