"""The DuckDB warehouse: how it is opened and who may write when (connection.py), what sql/warehouse/ declares
(tables.py), the SQL models and the order they run in (models.py, transform.py), the table contracts
(contracts.py), the stock ledger (ledger.py), the channels registry (channels.py), and what an operator reads
(status.py)."""
