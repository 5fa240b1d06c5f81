"""The log-writer: batches attempt records from Kafka into ClickHouse."""
