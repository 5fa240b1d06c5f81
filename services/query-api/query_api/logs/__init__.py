"""Reading the attempt log: filters, pages, counts, exports and the log routes."""
